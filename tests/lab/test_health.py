"""``run_health`` on the real lab: a healthy stack passes, a stopped exporter is named, and the
results reach Prometheus through node_exporter's textfile collector."""

from __future__ import annotations

import pytest
from conftest import LAB_INVENTORY, OBS_NAME, server_get
from waiting import wait_until

from obsstack.catalog import running
from obsstack.checks import FAIL, Report, format_report
from obsstack.health import METRICS_FILE, run_health
from obsstack.session import describe_inventory

pytestmark = pytest.mark.lab

VICTIM = "web1"
VICTIM_UNIT = "node_exporter.service"
METRIC_NAMES = (
    "obs_health_check_success",
    "obs_health_checks_failed",
    "obs_health_last_run_timestamp_seconds",
)


def passing_report(write_metrics: bool = True) -> Report:
    """A health report that passes; otherwise raises with the report (wait_until shows it)."""
    report = run_health(LAB_INVENTORY, write_metrics=write_metrics)
    assert report.ok, format_report(report)
    return report


def expected_service_checks() -> set[tuple[str, str]]:
    return {
        (host.name, name)
        for host in describe_inventory(LAB_INVENTORY)
        for component in running(host.groups, host.data, agents=[])
        if component.health
        for name in (f"unit:{component.unit.name}", f"ready:{component.name}")
    }


def test_healthy_lab_passes_every_check(deployed):
    report = wait_until(passing_report, timeout=60, what="a passing health report")
    passed = {(result.host, result.check) for result in report.results}
    assert expected_service_checks() <= passed
    assert {(OBS_NAME, "targets"), (OBS_NAME, "alerts"), (OBS_NAME, "stale")} <= passed
    assert {(host, "disk:/") for host, _ in expected_service_checks()} <= passed


def report_naming_down_target(instance: str) -> Report | None:
    """A report whose targets check fails on the down node target of ``instance``."""
    report = run_health(LAB_INVENTORY, write_metrics=False)
    for result in report.failing():
        if result.check == "targets" and f"node/{instance} down" in result.detail:
            return report
    return None


def test_stopped_exporter_is_named_then_health_recovers(deployed, hosts):
    wait_until(lambda: passing_report(write_metrics=False), timeout=60, what="a healthy lab")
    hosts[VICTIM].check_output(f"systemctl stop {VICTIM_UNIT}")
    try:
        # The unit fails at once; Prometheus notices at its next scrape of the target.
        report = wait_until(
            lambda: report_naming_down_target(VICTIM),
            timeout=60,
            what=f"health to name the down target node/{VICTIM}",
        )
    finally:
        hosts[VICTIM].check_output(f"systemctl start {VICTIM_UNIT}")
    assert not report.ok
    failing = {(result.host, result.check): result for result in report.failing()}
    assert failing[(VICTIM, f"unit:{VICTIM_UNIT}")].detail == "inactive"
    assert (VICTIM, "ready:node_exporter") in failing
    text = format_report(report)
    assert f"{VICTIM} unit:{VICTIM_UNIT}: inactive" in text
    assert f"node/{VICTIM} down" in text

    wait_until(lambda: passing_report(write_metrics=False), timeout=90, what="health to pass again")


def exposed_results() -> dict[tuple[str, str], float]:
    """(instance, check) -> value of obs_health_check_success as Prometheus has it now."""
    answer = server_get(
        "/prometheus/api/v1/query", params={"query": "obs_health_check_success"}
    ).json()
    return {
        (series["metric"]["instance"], series["metric"]["check"]): float(series["value"][1])
        for series in answer["data"]["result"]
    }


def test_results_reach_prometheus(deployed, hosts):
    report = run_health(LAB_INVENTORY)
    for name in {result.host for result in report.results}:
        textfile = hosts[name].file(METRICS_FILE)
        assert textfile.is_file
        assert textfile.mode == 0o644
        # Names and outcomes only: no details (a target's lastError, say) in the file.
        for line in textfile.content_string.splitlines():
            assert line.startswith(("# HELP ", "# TYPE ", *METRIC_NAMES)), line
    expected = {(r.host, r.check): float(r.status != FAIL) for r in report.results}
    wait_until(
        lambda: exposed_results() == expected,
        timeout=60,
        what="Prometheus to expose obs_health_check_success for every host's checks",
    )
