"""The pipeline's choices that need no host: which hosts a limit names, how pyinfra is told,
and which health failures the gate counts against a deploy."""

from __future__ import annotations

import pytest

from obsstack.checks import FAIL, PASS, WARN, Report, Result
from obsstack.deploy import DeployResult, _count_results, pyinfra_argv
from obsstack.health import evaluate_alerts, evaluate_targets
from obsstack.pipeline import gate_failures, gate_timeout
from obsstack.session import HostInfo, LimitError, select_hosts

HOSTS = [
    HostInfo("obs", ["observability"]),
    HostInfo("web1", ["monitored"]),
    HostInfo("web2", ["monitored", "canary"]),
    HostInfo("app1", ["monitored"]),
]


@pytest.mark.parametrize(
    ("limit", "names"),
    [
        (None, ["obs", "web1", "web2", "app1"]),
        ("obs,web1", ["obs", "web1"]),
        ("web*", ["web1", "web2"]),
        ("canary", ["web2"]),
        ("app1, observability", ["obs", "app1"]),
    ],
)
def test_a_limit_picks_hosts_as_pyinfra_does(limit, names):
    assert [host.name for host in select_hosts(HOSTS, limit)] == names


def test_a_limit_that_names_nothing_is_an_error_not_an_empty_deploy():
    with pytest.raises(LimitError, match="--limit 'web9' matches no host"):
        select_hosts(HOSTS, "obs,web9")


def test_each_limit_pattern_reaches_pyinfra_on_its_own():
    """pyinfra reads "obs,web1" as one pattern, which names no host: nothing is deployed."""
    argv = pyinfra_argv("inventories/lab.py", limit="obs,web1")
    assert argv[argv.index("--limit") :][:4] == ["--limit", "obs", "--limit", "web1"]


def target(instance: str, health: str, job: str = "node") -> dict:
    return {
        "labels": {"job": job, "instance": instance},
        "health": health,
        "lastError": "connection refused" if health == "down" else "",
        "lastScrape": "2026-12-01T10:00:00Z",
    }


def report(*results: Result) -> Report:
    return Report(list(results))


def test_a_target_already_down_elsewhere_does_not_fail_a_deploy_to_the_server():
    before = report(evaluate_targets("obs", [target("obs", "up"), target("app1", "down")]))
    after = report(evaluate_targets("obs", [target("obs", "up"), target("app1", "down")]))
    caused, preexisting = gate_failures(after, before, deployed={"obs"})
    assert caused == []
    assert preexisting == ["health obs targets: target node/app1 down"]


def test_a_target_the_deploy_brought_down_fails_it_wherever_it_is():
    before = report(evaluate_targets("obs", [target("obs", "up"), target("app1", "up")]))
    after = report(evaluate_targets("obs", [target("obs", "up"), target("app1", "down")]))
    caused, _ = gate_failures(after, before, deployed={"obs"})
    assert caused == ["health obs targets: target node/app1 down"]


def test_a_deployed_host_must_end_healthy_even_if_it_was_not_before():
    unit = Result("web1", "unit:node_exporter.service", FAIL, "inactive")
    caused, preexisting = gate_failures(report(unit), report(unit), deployed={"web1"})
    assert caused == ["health web1 unit:node_exporter.service: inactive"]
    assert preexisting == []


def test_only_critical_alerts_are_failures_and_each_names_its_host():
    alerts = [
        {"labels": {"alertname": "InstanceDown", "instance": "app1", "severity": "critical"},
         "state": "firing"},
        {"labels": {"alertname": "NodeHighLoad", "instance": "obs", "severity": "warning"},
         "state": "firing"},
    ]
    check = evaluate_alerts("obs", alerts)
    assert check.status == FAIL
    assert check.failing_items == (("app1", "alert InstanceDown (app1)"),)
    assert evaluate_alerts("obs", alerts[1:]).status == WARN
    assert Result("obs", "tls", PASS, "ok").failing_items == ()


def test_unreadable_pyinfra_output_is_a_failed_deploy_never_zero_changes():
    result = DeployResult(0, "")
    _count_results(result, "Traceback (most recent call last): ...")
    assert not result.ok and result.unreadable
    assert result.changed == {} and result.hosts == set()


def test_every_host_pyinfra_reports_is_counted():
    result = DeployResult(0, "")
    stdout = (
        '{"results": {"operations": [{"success": ["obs"], "no_change": ["web1"], "error": []}],'
        ' "failed_hosts": ["app1"]}}'
    )
    _count_results(result, stdout)
    assert result.changed == {"obs": 1, "web1": 0}
    assert result.failed == {"app1": 1}
    assert result.hosts == {"obs", "web1", "app1"} and not result.ok


def test_the_gate_waits_the_deploys_own_timeout_when_its_data_sets_one():
    hosts = [
        HostInfo("obs", ["observability"], {"health_gate_timeout": "90s"}),
        HostInfo("web1", ["monitored"], {"health_gate_timeout": "2m"}),
    ]
    assert gate_timeout(hosts, None) == 120
    assert gate_timeout(hosts, {"prometheus_port": 9095}) == 120
    assert gate_timeout(hosts, {"health_gate_timeout": "30s"}) == 30
