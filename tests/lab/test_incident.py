"""A deploy during an incident: with app1 powered off, a threshold change deployed to the
observability server alone goes through, the server keeps app1's (and every other host's)
targets as they were, and the health gate names app1's failure as there before."""

from __future__ import annotations

import pytest
from conftest import LAB_INVENTORY, TEST_DATA, deploy, prometheus_query, server_get
from waiting import wait_until

from obslab import machines
from obsstack.health import run_health
from obsstack.pipeline import deploy_pipeline

pytestmark = pytest.mark.lab

VICTIM = "app1"
THRESHOLD = 4  # filesystem_free_critical_percent, the default being 5


def targets() -> set[tuple[str, str]]:
    answer = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    return {(t["labels"]["job"], t["labels"]["instance"]) for t in answer}


def almost_full_rule() -> str:
    groups = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    (rule,) = [
        r for g in groups for r in g["rules"] if r.get("name") == "NodeFilesystemAlmostFull"
    ]
    return rule["query"]


@pytest.fixture
def victim_powered_off(deployed):
    machines.power_off(VICTIM, progress=lambda _: None)
    try:
        yield
    finally:
        machines.power_on(VICTIM, progress=lambda _: None)
        restored = deploy()
        assert restored.ok, restored.log[-3000:]
        wait_until(
            lambda: run_health(LAB_INVENTORY, write_metrics=False).ok,
            timeout=90,
            what="health to pass with app1 back",
        )


def test_a_threshold_change_reaches_the_server_while_a_host_is_down(victim_powered_off):
    # The alert for the dead host is firing before the deploy starts: it is the incident.
    wait_until(
        lambda: prometheus_query(f'ALERTS{{alertname="InstanceDown",instance="{VICTIM}",'
                                 'alertstate="firing"}'),
        timeout=90,
        what=f"InstanceDown for {VICTIM} to fire",
    )
    before = targets()
    assert ("node", VICTIM) in before
    rules = {**TEST_DATA["alert_rules"], "filesystem_free_critical_percent": THRESHOLD}
    progress: list[str] = []

    outcome = deploy_pipeline(
        LAB_INVENTORY,
        limit="obs",
        data={**TEST_DATA, "alert_rules": rules},
        echo=False,
        progress=progress.append,
    )

    assert outcome.ok, outcome.failures
    assert outcome.rolled_back == {}
    assert outcome.deploy.hosts == {"obs"}, "only the server was deployed"
    assert f"< {THRESHOLD}" in almost_full_rule()
    assert targets() == before, "the server keeps every host's targets as they were"
    preexisting = "\n".join(outcome.preexisting)
    assert f"node/{VICTIM} down" in preexisting
    assert f"InstanceDown ({VICTIM})" in preexisting
    assert any(f"pre-existing, not caused by this deploy: health obs targets: target node/{VICTIM}"
               in line for line in progress), progress
