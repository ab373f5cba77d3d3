"""Release history, manual rollback, and the deploy pipeline's automatic rollback."""

from __future__ import annotations

import json

import pytest
from conftest import (
    ALERTMANAGER_0_25,
    LAB_INVENTORY,
    OBS_NAME,
    TEST_DATA,
    assert_unchanged,
    deploy,
    host_state,
    running_versions,
    server_get,
)
from waiting import wait_until

from obslab import services
from obslab.services import MIRROR_DIR, mirror_releases
from obsstack import secrets
from obsstack.catalog.server import GRAFANA_ADMIN_PASSWORD
from obsstack.deploy import ROLLBACK, run_deploy
from obsstack.deploylog import LOG_FILE, METRICS_FILE, parse_metrics
from obsstack.history import list_releases
from obsstack.pipeline import deploy_pipeline

pytestmark = pytest.mark.lab


def current_release(host: str) -> str:
    return next(r.id for r in list_releases(LAB_INVENTORY)[host] if r.current)


def prometheus_version() -> str:
    answer = server_get("/prometheus/api/v1/status/buildinfo").json()
    return answer["data"]["version"].split("+")[0]


def test_every_changing_deploy_records_a_release_and_a_no_op_does_not(deployed):
    before = list_releases(LAB_INVENTORY)
    assert all(any(r.current for r in history) for history in before.values())
    assert_unchanged(deploy())
    assert list_releases(LAB_INVENTORY) == before

    changed = deploy(prometheus_retention_time="8d")
    assert changed.ok and changed.changed[OBS_NAME] > 0, changed.log[-3000:]
    after = list_releases(LAB_INVENTORY)
    try:
        newest = after[OBS_NAME][0]
        assert newest.current and newest.id not in {r.id for r in before[OBS_NAME]}
        # The newest releases_kept (10) are kept: the new one in, the oldest out past that.
        assert len(after[OBS_NAME]) == min(len(before[OBS_NAME]) + 1, 10)
        assert after["web1"] == before["web1"], "a host that did not change records nothing"
    finally:
        assert deploy().ok


def test_manual_rollback_restores_configs_and_binary_version(deployed, hosts):
    obs = hosts[OBS_NAME]
    original = current_release(OBS_NAME)
    state_before = host_state(OBS_NAME)
    running_before = running_versions(OBS_NAME)
    newer = mirror_releases(MIRROR_DIR, newest=True)
    older = mirror_releases(MIRROR_DIR, newest=False)

    # On the server alone: the rollback below is to it alone too. Grafana is taken off:
    # the rollback must bring back its program, dashboards, config and secret files.
    changed = run_deploy(
        LAB_INVENTORY,
        limit=OBS_NAME,
        data={
            **TEST_DATA,
            **ALERTMANAGER_0_25,
            "releases": older,
            "prometheus_retention_time": "7d",
            "grafana_enabled": False,
        },
        echo=False,
    )
    assert changed.ok and changed.hosts == {OBS_NAME}, changed.log[-3000:]
    second = current_release(OBS_NAME)
    assert second != original
    wait_until(lambda: prometheus_version() == older["prometheus"]["version"], 60, "old Prometheus")
    assert (
        "--storage.tsdb.retention.time=7d"
        in obs.file("/etc/systemd/system/prometheus.service").content_string
    )
    # A component that does not run gets no location and no password file.
    assert server_get("/").status_code == 404
    for gone in ("/etc/grafana", "/opt/grafana", "/etc/nginx/htpasswd/grafana"):
        assert not obs.file(gone).exists, gone

    rolled = run_deploy(
        LAB_INVENTORY, ROLLBACK, limit=OBS_NAME, data={"rollback_to": original}, echo=False
    )
    assert rolled.ok, rolled.log[-3000:]
    assert current_release(OBS_NAME) == original
    unit = obs.file("/etc/systemd/system/prometheus.service").content_string
    assert "--storage.tsdb.retention.time=7d" not in unit
    wait_until(
        lambda: prometheus_version() == newer["prometheus"]["version"], 60, "restored Prometheus"
    )
    assert {r.id for r in list_releases(LAB_INVENTORY)[OBS_NAME]} >= {original, second}
    # On the host itself, not in the tool's records: every config, unit and link as before,
    # and every daemon running the binary it ran before.
    assert host_state(OBS_NAME) == state_before
    wait_until(
        lambda: running_versions(OBS_NAME) == running_before, 60, "the earlier binaries running"
    )
    # A release keeps no secret: the rollback put today's back where they had gone.
    assert obs.file(GRAFANA_ADMIN_PASSWORD.kept_in).content_string.strip() == secrets.read(
        GRAFANA_ADMIN_PASSWORD.name, services.SECRETS_DIR
    )
    wait_until(lambda: server_get("/api/health").status_code == 200, 60, "Grafana behind /")

    # The host now matches the repository again (with the test settings): nothing to do.
    assert_unchanged(deploy())


def test_a_deploy_that_breaks_a_service_is_rolled_back_automatically(deployed, hosts):
    before = {host: current_release(host) for host in ("obs", "web1", "app1")}
    states = {host: host_state(host) for host in before}
    # Both daemons on one port: validation and preflight pass, but the second cannot bind.
    # It never will, so the gate need not wait its default 90s to know.
    outcome = deploy_pipeline(
        LAB_INVENTORY,
        data={
            **TEST_DATA,
            "prometheus_port": 9095,
            "alertmanager_port": 9095,
            "health_gate_timeout": "30s",
        },
        echo=False,
        progress=lambda _: None,
    )
    assert not outcome.ok
    assert any("alertmanager" in failure for failure in outcome.failures), outcome.failures
    assert outcome.rolled_back.get(OBS_NAME) == before[OBS_NAME]
    assert not [f for f in outcome.failures if f.startswith("after rollback")], outcome.failures
    assert {host: current_release(host) for host in before} == before
    assert {host: host_state(host) for host in before} == states

    # The proxy's site was rolled back with the daemons: it reaches them on their old ports.
    for daemon in ("prometheus", "alertmanager"):
        assert server_get(f"/{daemon}/-/ready").status_code == 200
    log_line = json.loads(hosts[OBS_NAME].check_output(f"tail -n 1 {LOG_FILE}"))
    assert log_line["success"] is False and log_line["rolled_back_to"] == before[OBS_NAME]
    assert log_line["release"] == before[OBS_NAME]
    metrics = hosts[OBS_NAME].file(METRICS_FILE).content_string
    assert "obs_deploy_last_success 0" in metrics
    assert f'release="{before[OBS_NAME]}"' in metrics
    # The Deploys dashboard's rollbacks: the time of this one, to the second.
    values = parse_metrics(metrics)
    assert values["obs_deploy_last_rollback_timestamp_seconds"] == round(log_line["time"], 3)
    assert values["obs_deploy_last_failure_timestamp_seconds"] == round(log_line["time"], 3)


def test_a_good_deploy_through_the_pipeline_passes_its_gate(deployed, hosts):
    outcome = deploy_pipeline(LAB_INVENTORY, data=TEST_DATA, echo=False, progress=lambda _: None)
    assert outcome.ok, outcome.failures
    assert outcome.rolled_back == {}
    log_line = json.loads(hosts["web1"].check_output(f"tail -n 1 {LOG_FILE}"))
    assert log_line["success"] is True
    assert "obs_deploy_last_success 1" in hosts["web1"].file(METRICS_FILE).content_string


def test_canary_stops_a_breaking_change_before_the_other_hosts(deployed, hosts):
    before = {host: current_release(host) for host in ("obs", "web1", "app1")}
    states = {host: host_state(host) for host in before}
    # node_exporter refuses an unknown flag: it passes validation and preflight, then dies.
    outcome = deploy_pipeline(
        LAB_INVENTORY,
        data={**TEST_DATA, "node_exporter_extra_flags": ["--no-such-flag"]},
        canary=True,
        echo=False,
        progress=lambda _: None,
    )
    assert not outcome.ok
    assert all(failure.startswith("canary") for failure in outcome.failures), outcome.failures
    assert set(outcome.deploy.changed) == {"web1"}, "only the canary was deployed"
    assert outcome.rolled_back == {"web1": before["web1"]}
    assert {host: current_release(host) for host in before} == before
    assert {host: host_state(host) for host in before} == states
    for name in ("web1", "app1", "obs"):
        unit = hosts[name].file("/etc/systemd/system/node_exporter.service").content_string
        assert "--no-such-flag" not in unit, name
        assert hosts[name].service("node_exporter.service").is_running, name


def test_a_good_canary_deploy_reaches_every_host(deployed, hosts):
    """The second wave names two hosts: each must be deployed (pyinfra takes one host or
    group per --limit; "obs,app1" once deployed to nobody)."""
    outcome = deploy_pipeline(
        LAB_INVENTORY,
        data={**TEST_DATA, "node_exporter_extra_flags": ["--collector.processes"]},
        canary=True,
        echo=False,
        progress=lambda _: None,
    )
    try:
        assert outcome.ok, outcome.failures
        assert outcome.deploy.hosts == {"obs", "web1", "app1"}
        for name in ("obs", "web1", "app1"):
            unit = hosts[name].file("/etc/systemd/system/node_exporter.service").content_string
            assert "--collector.processes" in unit, name
    finally:
        assert deploy().ok
