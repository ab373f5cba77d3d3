"""blackbox_exporter on the observability server probing real endpoints: a probe over TLS
from the lab's ACME CA, a failing probe's alert, and no exporter without targets."""

from __future__ import annotations

import pytest
import requests
from conftest import (
    OBS_NAME,
    TEST_DATA,
    address,
    deploy,
    pebble_root_file,
    prometheus_query,
    server_get,
)
from waiting import wait_until

from obslab import machines

pytestmark = pytest.mark.lab

HEALTHZ = f"https://{machines.LAB_DOMAIN}/healthz"  # group_data/lab.py's probe
CLOSED = f"http://{address('app1')}:8099/"  # nothing listens there


def firing(alert: str, instance: str) -> list[dict]:
    alerts = server_get("/prometheus/api/v1/alerts").json()["data"]["alerts"]
    return [
        a
        for a in alerts
        if a["labels"]["alertname"] == alert
        and a["labels"].get("instance") == instance
        and a["state"] == "firing"
    ]


def test_healthz_answers_anyone_without_a_login(deployed):
    answer = requests.get(HEALTHZ, verify=pebble_root_file(), timeout=10)
    assert (answer.status_code, answer.text) == (200, "ok\n")


def test_probe_succeeds_and_reports_the_certificate_expiry(deployed):
    wait_until(
        lambda: prometheus_query(f'probe_success{{job="blackbox",instance="{HEALTHZ}"}} == 1'),
        timeout=60,
        what="a successful probe of /healthz",
    )
    [left] = prometheus_query(f'probe_ssl_earliest_cert_expiry{{instance="{HEALTHZ}"}} - time()')
    assert float(left["value"][1]) > 21 * 86400  # pebble's certificates last years


def test_a_failing_probe_fires_probe_failed_then_clears_when_removed(deployed):
    rules = {**TEST_DATA["alert_rules"], "probe_failed_for": "10s"}
    result = deploy(blackbox_targets=[HEALTHZ, CLOSED], alert_rules=rules)
    assert result.ok, result.log[-3000:]
    try:
        [alert] = wait_until(
            lambda: firing("ProbeFailed", CLOSED), timeout=90, what="ProbeFailed for the port"
        )
        assert alert["labels"]["severity"] == "critical"
        assert not firing("ProbeFailed", HEALTHZ)
    finally:
        restored = deploy()
    assert restored.ok, restored.log[-3000:]
    wait_until(lambda: not firing("ProbeFailed", CLOSED), timeout=90, what="ProbeFailed to clear")


def test_without_targets_there_is_no_exporter_and_no_probe_job(deployed, hosts):
    result = deploy(blackbox_targets=[])
    try:
        assert result.ok, result.log[-3000:]
        obs = hosts[OBS_NAME]
        assert not obs.file("/etc/systemd/system/blackbox_exporter.service").exists
        assert not obs.file("/etc/blackbox_exporter").exists
        targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
        assert "blackbox" not in {target["labels"]["job"] for target in targets}
    finally:
        restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert hosts[OBS_NAME].service("blackbox_exporter.service").is_running
