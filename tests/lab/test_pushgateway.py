"""The Pushgateway, an agent added through its catalog entry alone, on a real host.

app1 lists it (an inventory of the lab with that one line more); a batch job on app1
pushes to it, and Prometheus shows the push under the job that made it. Deployed again,
nothing changes; rolled back to the release before it, it goes, and comes back with the
next deploy; back on the lab's own inventory (app1 detects no agent), it is removed.
"""

from __future__ import annotations

import pytest
from conftest import (
    DEPLOYED,
    OBS_NAME,
    REPO,
    TEST_DATA,
    address,
    assert_unchanged,
    deploy,
    on_host,
    server_get,
    tcp_connects,
)
from conftest import prometheus_query as query
from waiting import wait_until

from obsstack.catalog.agents import PUSHGATEWAY
from obsstack.checks import PASS
from obsstack.deploy import ROLLBACK, run_deploy
from obsstack.health import run_health

pytestmark = pytest.mark.lab

PORT = 9091
# The lab's inventory, with app1 listing the agent.
INVENTORY = f"""\
import runpy as _runpy

_lab = _runpy.run_path({str(REPO / "inventories" / "lab.py")!r})
observability = _lab["observability"]
monitored = [
    (name, {{**data, "agents": ["pushgateway"]}} if name == "app1" else data)
    for name, data in _lab["monitored"]
]
lab = _lab["lab"]
"""
PUSH = (
    "printf 'backup_last_success_timestamp_seconds 1700000000\\n'"
    f" | curl -sf --data-binary @- http://{{address}}:{PORT}/metrics/job/nightly_backup"
)


@pytest.fixture(scope="module")
def gateway_inventory(deployed, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pushgateway") / "lab_with_pushgateway.py"
    path.write_text(INVENTORY)
    result = run_deploy(str(path), data=TEST_DATA, echo=False)
    assert result.ok, result.log[-3000:]
    yield str(path)
    restored = deploy()
    assert restored.ok, restored.log[-3000:]


def test_it_runs_where_listed_and_only_the_scrapers_reach_it(gateway_inventory, hosts):
    app1 = hosts["app1"]
    assert app1.service(PUSHGATEWAY.unit.name).is_running
    unit = app1.file(f"/etc/systemd/system/{PUSHGATEWAY.unit.name}").content_string
    assert "ProtectSystem=strict" in unit and "User=pushgateway" in unit
    assert not hosts["web1"].file(f"/etc/systemd/system/{PUSHGATEWAY.unit.name}").exists
    assert tcp_connects(OBS_NAME, address("app1"), PORT)
    assert not tcp_connects("outsider", address("app1"), PORT)
    assert tcp_connects("outsider", address("app1"), 22), "control: outsider reaches app1"


def test_a_push_reaches_prometheus_under_the_job_that_made_it(gateway_inventory):
    pushed = on_host("app1", PUSH.format(address=address("app1")))
    assert pushed.returncode == 0, pushed.stderr
    [series] = wait_until(
        lambda: query('backup_last_success_timestamp_seconds{job="nightly_backup"}'),
        timeout=60,
        what="the pushed series in Prometheus",
    )
    assert series["metric"]["gateway"] == "app1"
    assert series["metric"]["role"] == "monitored"
    assert float(series["value"][1]) == 1700000000
    [up] = query('up{job="pushgateway"}')
    assert up["metric"]["instance"] == "app1" and up["value"][1] == "1"
    assert "pushgateway" in rule_groups()


def test_health_checks_it_and_a_second_deploy_changes_nothing(gateway_inventory):
    report = run_health(gateway_inventory, hosts=["app1"], write_metrics=False)
    checks = {result.check: result for result in report.results if result.host == "app1"}
    for check in ("unit:pushgateway.service", "ready:pushgateway"):
        assert checks[check].status == PASS, checks[check]
    assert_unchanged(run_deploy(gateway_inventory, data=TEST_DATA, echo=False), DEPLOYED)


def test_a_rollback_to_the_release_before_it_removes_it(gateway_inventory, hosts):
    rolled = run_deploy(
        gateway_inventory,
        ROLLBACK,
        limit="app1",
        data={"rollback_to": "previous"},
        echo=False,
    )
    assert rolled.ok, rolled.log[-3000:]
    app1 = hosts["app1"]
    assert not app1.file(f"/etc/systemd/system/{PUSHGATEWAY.unit.name}").exists
    assert not tcp_connects(OBS_NAME, address("app1"), PORT)
    assert app1.service("node_exporter.service").is_running, "control: the rest stays"

    again = run_deploy(gateway_inventory, data=TEST_DATA, echo=False)
    assert again.ok, again.log[-3000:]
    assert app1.service(PUSHGATEWAY.unit.name).is_running
    # Its home stayed: what was pushed before is served again.
    metrics = on_host(OBS_NAME, f"curl -sf http://{address('app1')}:{PORT}/metrics")
    assert 'backup_last_success_timestamp_seconds{instance="",job="nightly_backup"}' in (
        metrics.stdout
    ), metrics.stdout[-2000:]


def test_taken_off_the_list_it_is_removed(gateway_inventory, hosts):
    result = deploy()
    assert result.ok, result.log[-3000:]
    app1 = hosts["app1"]
    assert not app1.file(f"/etc/systemd/system/{PUSHGATEWAY.unit.name}").exists
    assert not app1.file("/opt/pushgateway").exists
    assert not app1.file("/usr/local/bin/pushgateway").exists
    assert not tcp_connects(OBS_NAME, address("app1"), PORT)
    assert tcp_connects(OBS_NAME, address("app1"), 9100), "control: obs reaches app1"
    wait_until(
        lambda: "pushgateway" not in job_names(), timeout=30, what="Prometheus to drop the job"
    )
    assert "node" in job_names(), "control: the other targets stay"
    assert "pushgateway" not in rule_groups()
    assert "node" in rule_groups(), "control: the baseline rules stay"


def rule_groups() -> set[str]:
    groups = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    return {group["name"] for group in groups}


def job_names() -> set[str]:
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    return {target["labels"]["job"] for target in targets}
