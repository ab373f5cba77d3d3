"""The user's own scrape jobs and remote-write endpoints in prometheus.yml: the config passes
the real promtool (Debian 13's, the lab's version) with its secret files in place, the
targets files pass the deploy's file_sd check, and no password or token is ever inline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys import prometheus, prometheus_user
from deploys.prometheus import FILE_SD_CHECK
from obsstack.catalog.scraping import TargetsFileError, user_target_groups
from obsstack.serialize import MANAGED, yaml_file

JOBS = [
    {
        "job": "app",
        "static_targets": ["10.0.0.5:8080", "app2.lan:8080"],
        "labels": {"team": "web"},
        "scheme": "https",
        "metrics_path": "/internal/metrics",
        "scrape_interval": "1m",
        "auth": {"type": "basic", "username": "prom"},
        "tls": {"ca_file": "ca.pem", "server_name": "app.lan", "insecure_skip_verify": False},
        "relabel_configs": [
            {"source_labels": ["__address__"], "regex": "([^:]+):.*", "target_label": "host"}
        ],
        "metric_relabel_configs": [
            {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}
        ],
    },
    {"job": "queue", "file_sd": "targets.yml", "auth": {"type": "bearer"}},
]
ENDPOINTS = [
    {
        "name": "vm",
        "url": "https://vm.lan:8427/api/v1/write",
        "auth": {"type": "basic", "username": "prometheus"},
        "queue": {"max_shards": 10, "min_backoff": "100ms", "max_backoff": "10s"},
        "remote_timeout": "30s",
        "write_relabel_configs": [
            {"source_labels": ["job"], "regex": "blackbox", "action": "drop"}
        ],
    },
    {"name": "mimir", "url": "https://mimir.lan/api/v1/push", "auth": {"type": "bearer"}},
]


@pytest.fixture(scope="module")
def promtool() -> Path:
    from obslab.debian import extract_binaries

    return extract_binaries("trixie") / "promtool"


@pytest.fixture
def targets_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "targets.yml"
    path.write_text(
        "- targets: ['q1.lan:9419', 'q2.lan:9419']\n  labels: {queue: main}\n"
        "- targets: ['[2001:db8::7]:9419']\n"
    )
    monkeypatch.setattr(prometheus_user, "repo_path", lambda value: tmp_path / value)
    return path


def config(**changes: Any) -> dict:
    values = {
        "scrape_interval": "15s",
        "evaluation_interval": "15s",
        "environment": "prod",
        "alertmanager_address": "127.0.0.1:9093",
        "jobs": ["node"],
        "blackbox_address": None,
        "user_jobs": JOBS,
        "remote_write": ENDPOINTS,
        "external_labels": {"cluster": "eu-1"},
    }
    return prometheus.config(**{**values, **changes})


def test_config_with_the_users_jobs_and_endpoints_passes_promtool(tmp_path, promtool):
    """Laid out as on the server (prometheus.yml beside file_sd/, secrets/, ca/)."""
    text = yaml_file(config(), MANAGED)
    root = tmp_path / "etc"
    for path in (
        *_paths(text, "password_file"),
        *_paths(text, "credentials_file"),
        *_paths(text, "ca_file"),
    ):
        local = root / Path(path).relative_to("/etc/prometheus")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("secret\n")
    (root / "prometheus.yml").write_text(text.replace("/etc/prometheus/", f"{root}/"))
    result = subprocess.run(
        [str(promtool), "check", "config", str(root / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _paths(text: str, key: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in text.splitlines() if line.strip().startswith(key)]


def test_credentials_are_files_never_values():
    parsed = config()
    app, queue = (job for job in parsed["scrape_configs"] if job["job_name"] in ("app", "queue"))
    assert app["basic_auth"] == {
        "username": "prom",
        "password_file": "/etc/prometheus/secrets/scrape_app",
    }
    assert app["tls_config"] == {
        "ca_file": "/etc/prometheus/ca/scrape_app.pem",
        "server_name": "app.lan",
        "insecure_skip_verify": False,
    }
    assert queue["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/prometheus/secrets/scrape_queue",
    }
    vm, mimir = parsed["remote_write"]
    assert vm["basic_auth"]["password_file"] == "/etc/prometheus/secrets/remote_write_vm"
    assert vm["queue_config"] == {"max_shards": 10, "min_backoff": "100ms", "max_backoff": "10s"}
    assert mimir["authorization"]["credentials_file"] == (
        "/etc/prometheus/secrets/remote_write_mimir"
    )
    assert parsed["global"]["external_labels"] == {"cluster": "eu-1", "env": "prod"}
    inline = {"password", "credentials", "bearer_token"}
    for client in (app, queue, vm, mimir):
        for section in ("basic_auth", "authorization"):
            assert not inline & set(client.get(section, {}))


def test_no_endpoint_no_remote_write_section():
    assert "remote_write" not in config(remote_write=[])


def test_targets_are_one_per_group_with_the_jobs_labels(tmp_path, targets_file):
    groups = prometheus_user.target_groups({**JOBS[1], "labels": {"team": "ops"}})
    assert groups == [
        {"targets": ["q1.lan:9419"], "labels": {"team": "ops", "queue": "main"}},
        {"targets": ["q2.lan:9419"], "labels": {"team": "ops", "queue": "main"}},
        {"targets": ["[2001:db8::7]:9419"], "labels": {"team": "ops"}},
    ]
    static = prometheus_user.target_groups(JOBS[0])
    assert [g["targets"] for g in static] == [["10.0.0.5:8080"], ["app2.lan:8080"]]
    assert all(g["labels"] == {"team": "web"} for g in static)


def test_the_targets_pass_the_deploys_file_sd_check(tmp_path, targets_file, promtool):
    written = tmp_path / "queue.yml"
    written.write_text(yaml_file(prometheus_user.target_groups(JOBS[1]), MANAGED))
    check = FILE_SD_CHECK.replace("/usr/local/bin/promtool", str(promtool))
    result = subprocess.run(
        ["sh", "-c", check.replace("{path}", str(written))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: [a:1]", "not a list of target groups"),
        ("- targets: ['q1.lan']", "'q1.lan' is not host:port"),
        ("- targets: ['q1.lan:1']\n  labels: {__name__: x}", "'__name__' is reserved"),
        ("- targets: ['q1.lan:1']\n  extra: 1", "is not a group of targets and labels"),
        ("- targets: [", "not YAML"),
    ],
)
def test_a_bad_targets_file_is_refused_naming_the_problem(text, expected):
    with pytest.raises(TargetsFileError, match=expected.replace("[", r"\[")):
        user_target_groups(text)


def test_values_stay_in_their_place_in_the_file():
    hostile = 'x"\nremote_write: [{url: "http://evil"}]\ny: "'
    parsed = yaml.safe_load(
        yaml_file(config(external_labels={"cluster": hostile}, remote_write=[]), MANAGED)
    )
    assert parsed["global"]["external_labels"]["cluster"] == hostile
    assert "remote_write" not in parsed
