"""The Prometheus and blackbox configs pass the programs' own validators, and a
value never breaks out of its place in a file.

Uses promtool from Debian 12's packages (obslab.debian); the lab tests run the
same validation on the hosts with the deployed versions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from deploys import blackbox_exporter, prometheus
from deploys.prometheus import FILE_SD_CHECK
from obsstack.render import render_template
from obsstack.serialize import MANAGED, systemd_word, yaml_file
from obsstack.targets import target_group


@pytest.fixture(scope="module")
def debian_bin() -> Path:
    from obslab.debian import extract_binaries

    return extract_binaries("bookworm")


def validate(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def prometheus_config(**changes) -> dict:
    values = {
        "scrape_interval": "15s",
        "evaluation_interval": "15s",
        "environment": "prod",
        "alertmanager_address": "127.0.0.1:9093",
        "jobs": ["node", "prometheus", "pushgateway"],
        "blackbox_address": "127.0.0.1:9115",
    }
    return prometheus.config(**{**values, **changes})


def test_prometheus_config_with_inventory_targets_passes_promtool(tmp_path, debian_bin):
    (tmp_path / "rules").mkdir()
    (tmp_path / "file_sd").mkdir()
    labels = {"instance": "web1", "role": "monitored", "env": "prod"}
    node = yaml_file([target_group("10.0.0.5:9100", labels)], MANAGED)
    assert yaml.safe_load(node) == [{"targets": ["10.0.0.5:9100"], "labels": labels}]
    assert yaml.safe_load(yaml_file([], MANAGED)) == []
    (tmp_path / "file_sd" / "node.yml").write_text(node)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml_file(prometheus_config(), MANAGED))
    validate([str(debian_bin / "promtool"), "check", "config", str(config)])
    parsed = yaml.safe_load(config.read_text())
    assert parsed["alerting"]["alertmanagers"][0]["path_prefix"] == "/alertmanager"
    jobs = {job["job_name"]: job for job in parsed["scrape_configs"]}
    assert "metrics_path" not in jobs["node"]
    assert jobs["prometheus"]["metrics_path"] == "/prometheus/metrics"
    # A Pushgateway's series keep the job that pushed them; `gateway` names its host.
    assert "honor_labels" not in jobs["node"]
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["relabel_configs"] == [
        {"source_labels": ["instance"], "target_label": "gateway"}
    ]
    # Probes: the target URL becomes the probe's parameter and instance, blackbox the address.
    relabel = jobs["blackbox"]["relabel_configs"]
    assert jobs["blackbox"]["metrics_path"] == "/probe"
    assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
    assert relabel[2] == {"target_label": "__address__", "replacement": "127.0.0.1:9115"}


def test_file_sd_check_rejects_what_prometheus_would_not_read(tmp_path, debian_bin):
    """The validator the deploy runs on the host, with the real promtool."""
    check = FILE_SD_CHECK.replace("/usr/local/bin/promtool", str(debian_bin / "promtool"))

    def checked(name: str, text: str) -> subprocess.CompletedProcess:
        path = tmp_path / f"{name}.yml.obs-new"
        path.write_text(text)
        return subprocess.run(
            ["bash", "-c", check.format(path=path)], capture_output=True, text=True, check=False
        )

    group = target_group("10.0.0.5:9100", {"instance": "web1"})
    good = checked("good", yaml_file([group], MANAGED))
    assert good.returncode == 0, good.stderr
    bad = checked("bad", '- targets: ["10.0.0.5:9100"]\n  labels:\n    "bad-label": x\n')
    assert bad.returncode == 1
    assert "is not a valid label name" in bad.stderr
    # Read without an error, but not what we wrote: a group with no target.
    short = checked("short", "- targets: []\n  labels:\n    instance: web1\n")
    assert short.returncode == 1
    assert "promtool discovered 0 of 1 targets" in short.stderr


def test_unit_template_is_hardened_and_lists_each_flag():
    unit = render_template(
        "systemd/daemon.service.j2",
        {
            "description": "d",
            "documentation": "https://x",
            "user": "prometheus",
            "exec_start": ["/usr/local/bin/prometheus", "--a=1", "--b=2"],
            "reload_signal": "HUP",
            "read_write_paths": ["/var/lib/prometheus"],
            "address_families": ["AF_INET", "AF_UNIX"],
        },
    )
    assert "ExecStart=/usr/local/bin/prometheus \\\n    --a=1 \\\n    --b=2\n" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "ReadWritePaths=/var/lib/prometheus" in unit
    for setting in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
    ):
        assert setting in unit


def test_blackbox_config_passes_its_own_check(tmp_path, debian_bin):
    config = tmp_path / "blackbox.yml"
    config.write_text(yaml_file(blackbox_exporter.config(None), MANAGED))
    validate([str(debian_bin / "blackbox_exporter"), "--config.check", f"--config.file={config}"])
    http = yaml.safe_load(config.read_text())["modules"]["http_2xx"]["http"]
    assert "tls_config" not in http


def test_blackbox_probes_trust_the_given_ca_file():
    text = yaml_file(blackbox_exporter.config("/etc/blackbox_exporter/ca.pem"), MANAGED)
    http = yaml.safe_load(text)["modules"]["http_2xx"]["http"]
    assert http["tls_config"] == {"ca_file": "/etc/blackbox_exporter/ca.pem"}


@pytest.mark.parametrize(
    ("argument", "word"),
    [
        ("--web.listen-address=10.0.0.5:9100", "--web.listen-address=10.0.0.5:9100"),
        ("--x=a b", '"--x=a b"'),
        ("--y=100%", '"--y=100%%"'),
        ("--z=^/(dev|proc)($|/)", '"--z=^/(dev|proc)($$|/)"'),
        ('--q="x" \\', '"--q=\\"x\\" \\\\"'),
    ],
)
def test_unit_arguments_are_quoted_the_way_systemd_reads_them(argument, word):
    assert systemd_word(argument) == word


def test_a_line_break_never_reaches_a_unit():
    with pytest.raises(ValueError, match="control characters"):
        systemd_word("--x=1\nExecStartPre=/bin/sh")
