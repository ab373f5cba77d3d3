"""The rendered Prometheus and Alertmanager configs pass the programs' own validators.

Uses promtool and amtool from Debian 12's packages (obsstack.debian); the lab tests run the
same validation on the hosts with the deployed versions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from obsstack.render import render_template

EMAIL = {
    "smarthost": "smtp.mail.lan:587",
    "sender": "alerts@ops.lan",
    "recipients": ["team@ops.lan", "oncall@ops.lan"],
    "auth_username": "alerts",
    "require_tls": True,
    "ca_file": "ignored-by-template",
}
ALERTMANAGER_CONTEXT = {
    "email": EMAIL,
    "password_file": "/etc/alertmanager/smtp_password",
    "ca_file": "/etc/alertmanager/smtp_ca.pem",
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}


@pytest.fixture(scope="module")
def debian_bin() -> Path:
    from obsstack.debian import extract_binaries

    return extract_binaries("bookworm")


def validate(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_with_inventory_targets_passes_promtool(tmp_path, debian_bin):
    (tmp_path / "rules").mkdir()
    (tmp_path / "file_sd").mkdir()
    targets = [
        {
            "address": "10.0.0.5:9100",
            "labels": {"instance": "web1", "role": "monitored", "env": "prod"},
        }
    ]
    node = render_template("prometheus/file_sd.yml.j2", {"targets": targets})
    assert yaml.safe_load(node) == [{"targets": ["10.0.0.5:9100"], "labels": targets[0]["labels"]}]
    assert yaml.safe_load(render_template("prometheus/file_sd.yml.j2", {"targets": []})) == []
    (tmp_path / "file_sd" / "node.yml").write_text(node)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_template(
            "prometheus/prometheus.yml.j2",
            {
                "scrape_interval": "15s",
                "evaluation_interval": "15s",
                "environment": "prod",
                "alertmanager_address": "127.0.0.1:9093",
                "alertmanager_path_prefix": "/alertmanager",
                "jobs": [
                    {"name": "node", "metrics_path": "/metrics"},
                    {"name": "prometheus", "metrics_path": "/prometheus/metrics"},
                ],
                "blackbox_address": "127.0.0.1:9115",
            },
        )
    )
    validate([str(debian_bin / "promtool"), "check", "config", str(config)])
    parsed = yaml.safe_load(config.read_text())
    assert parsed["alerting"]["alertmanagers"][0]["path_prefix"] == "/alertmanager"
    jobs = {job["job_name"]: job for job in parsed["scrape_configs"]}
    assert "metrics_path" not in jobs["node"]
    assert jobs["prometheus"]["metrics_path"] == "/prometheus/metrics"
    # Probes: the target URL becomes the probe's parameter and instance, blackbox the address.
    relabel = jobs["blackbox"]["relabel_configs"]
    assert jobs["blackbox"]["metrics_path"] == "/probe"
    assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
    assert relabel[2] == {"target_label": "__address__", "replacement": "127.0.0.1:9115"}


def test_alertmanager_config_passes_amtool(tmp_path, debian_bin):
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_template("alertmanager/alertmanager.yml.j2", ALERTMANAGER_CONTEXT))
    validate([str(debian_bin / "amtool"), "check-config", str(config)])
    parsed = yaml.safe_load(config.read_text())
    assert parsed["global"]["smtp_auth_password_file"] == "/etc/alertmanager/smtp_password"
    assert [c["to"] for c in parsed["receivers"][1]["email_configs"]] == EMAIL["recipients"]
    assert parsed["route"]["routes"][0]["receiver"] == "blackhole"


def test_relay_without_login_has_no_password_file(tmp_path, debian_bin):
    context = {**ALERTMANAGER_CONTEXT, "email": {**EMAIL, "auth_username": None}, "ca_file": None}
    text = render_template("alertmanager/alertmanager.yml.j2", context)
    assert "smtp_auth" not in text and "tls_config" not in text
    config = tmp_path / "alertmanager.yml"
    config.write_text(text)
    validate([str(debian_bin / "amtool"), "check-config", str(config)])


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
    config.write_text(render_template("blackbox/blackbox.yml.j2", {"ca_file": None}))
    validate([str(debian_bin / "blackbox_exporter"), "--config.check", f"--config.file={config}"])
    http = yaml.safe_load(config.read_text())["modules"]["http_2xx"]["http"]
    assert "tls_config" not in http


def test_blackbox_probes_trust_the_given_ca_file():
    text = render_template("blackbox/blackbox.yml.j2", {"ca_file": "/etc/blackbox_exporter/ca.pem"})
    http = yaml.safe_load(text)["modules"]["http_2xx"]["http"]
    assert http["tls_config"] == {"ca_file": "/etc/blackbox_exporter/ca.pem"}
