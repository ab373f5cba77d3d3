"""Release records, their history listing, deploy log metrics and drift plans (no hosts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fakehost import run_operation
from pyinfra.api.exceptions import PyinfraError

from obsstack.deploylog import DeployRecord, metrics_text, parse_metrics
from obsstack.drift import plan_changes
from obsstack.history import MARK, parse_history
from obsstack.pipeline import canary_waves
from obsstack.session import HostInfo
from obsstack.settings import SettingsError, parse_duration
from operations.converge import ConfigFile, DesiredState, ManagedDirectory
from operations.history import Release, fingerprint, record_release

COMPONENT = DesiredState(
    name="alertmanager",
    version="0.28.1",
    sha256="a" * 64,
    user="alertmanager",
    home="/var/lib/alertmanager",
    unit="alertmanager.service",
    unit_text="[Unit]\n",
    config_dirs=(ManagedDirectory("/etc/alertmanager"),),
    files=(
        ConfigFile("/etc/alertmanager/smtp_password", "hunter2", secret=True),
        ConfigFile("/etc/alertmanager/alertmanager.yml", "route: {}\n", validate="amtool {path}"),
    ),
)
STARTED = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


def test_a_record_keeps_no_secret_but_remembers_the_file():
    record = COMPONENT.to_record()
    assert "hunter2" not in json.dumps(record)
    assert record["files"][0] == {**record["files"][0], "content": None, "secret": True}
    assert DesiredState.from_record(json.loads(json.dumps(record))).files[1] == COMPONENT.files[1]


def test_fingerprint_follows_content_not_order_of_keys():
    record = COMPONENT.to_record()
    assert fingerprint([record]) == fingerprint([json.loads(json.dumps(record))])
    changed = {**record, "version": "0.25.0"}
    assert fingerprint([changed]) != fingerprint([record])


def record(responses: dict):
    return run_operation(
        record_release,
        responses,
        name="record",
        components=[COMPONENT.to_record()],
        run_started=STARTED,
        commit="abc",
        deployer="alice",
        keep=3,
    )


def test_same_state_records_nothing():
    # The fact answers with the current release's id, which ends with its fingerprint.
    current = f"20261126T000000Z-{fingerprint([COMPONENT.to_record()])}"
    run = record({"observability-stack/current": current})
    assert run.succeeded
    assert len(run.commands) == 1  # only the fact lookup


def test_new_state_is_written_then_made_current_and_old_ones_pruned():
    run = record({})
    release_id = f"20261127T010203Z-{fingerprint([COMPONENT.to_record()])}"
    switch = run.commands[-1]
    assert f"echo {release_id} > /var/lib/observability-stack/current.new" in switch
    assert "head -n -2" in switch  # keep=3: the current one plus the two newest others
    assert any("install -m 0600 /dev/null" in c and release_id in c for c in run.commands)


def test_history_parsing_marks_the_current_release():
    documents = [
        {"id": i, "time": "t", "commit": "c", "deployer": "d", "versions": {"prometheus": v}}
        for i, v in (("2", "2.53.3"), ("1", "2.42.0"))
    ]
    output = "1\n" + "".join(f"{MARK}\n{json.dumps(d)}\n" for d in documents)
    history = parse_history(output)
    assert [(r.id, r.current) for r in history] == [("2", False), ("1", True)]
    assert parse_history("\n") == []


def test_deploy_metrics_keep_the_other_outcomes_time():
    failure = DeployRecord(2000.0, "alice", "abc", False, 12.5, "r1", {"prometheus": "2.53.3"})
    text = metrics_text(failure, {"obs_deploy_last_success_timestamp_seconds": 1000.0})
    values = parse_metrics(text)
    assert values["obs_deploy_last_success_timestamp_seconds"] == 1000.0
    assert values["obs_deploy_last_failure_timestamp_seconds"] == 2000.0
    assert values["obs_deploy_last_success"] == 0
    assert values["obs_deploy_last_rollback_timestamp_seconds"] == 0
    assert 'obs_deploy_info{prometheus_version="2.53.3",release="r1"} 1' in text


def test_deploy_times_keep_their_seconds():
    """Six significant digits (Python's ``g``) would round a Unix time to 10,000 seconds."""
    record = DeployRecord(1795743574.5, "alice", "abc", True, 12.5, "r1", {})
    values = parse_metrics(metrics_text(record, {}))
    assert values["obs_deploy_last_success_timestamp_seconds"] == 1795743574.5


def test_a_rolled_back_deploy_records_its_rollback_and_later_deploys_keep_it():
    failure = DeployRecord(
        2000.0, "alice", "abc", False, 12.5, "r1", {"prometheus": "2.53.3"}, rolled_back_to="r1"
    )
    values = parse_metrics(metrics_text(failure, {}))
    assert values["obs_deploy_last_rollback_timestamp_seconds"] == 2000.0
    assert values["obs_deploy_last_failure_timestamp_seconds"] == 2000.0
    success = DeployRecord(3000.0, "alice", "abd", True, 10.0, "r2", {"prometheus": "2.53.3"})
    later = parse_metrics(metrics_text(success, values))
    assert later["obs_deploy_last_rollback_timestamp_seconds"] == 2000.0
    assert later["obs_deploy_last_success_timestamp_seconds"] == 3000.0


def test_drift_ignores_conditional_operations():
    plan = [
        {
            "name": "Install unit",
            "hosts_with_change": ["web1"],
            "hosts_with_conditional_change": [],
        },
        {"name": "Restart", "hosts_with_change": [], "hosts_with_conditional_change": ["web1"]},
    ]
    assert plan_changes(plan) == {"web1": ["Install unit"]}


def test_durations():
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    with pytest.raises(SettingsError, match="not a Prometheus duration"):
        parse_duration("5 minutes")


def test_canary_is_the_canary_group_else_the_first_monitored_host():
    hosts = [
        HostInfo("obs", ["observability"]),
        HostInfo("web1", ["monitored"]),
        HostInfo("web2", ["monitored"]),
    ]
    assert canary_waves(hosts) == ["web1", "obs,web2"]
    hosts.append(HostInfo("web3", ["monitored", "canary"]))
    assert canary_waves(hosts) == ["web3", "obs,web1,web2"]
    with pytest.raises(SettingsError, match="--canary needs"):
        canary_waves([HostInfo("obs", ["observability"])])


@pytest.mark.parametrize("release_id", ["../../../../tmp/x", "20261127T010203Z/../x", "*", ""])
def test_a_release_id_that_is_not_one_is_never_read(release_id):
    """The fact reads a file as root: a path in the id would read any JSON file."""
    with pytest.raises(PyinfraError, match="is not a release id"):
        Release().command(release_id)


@pytest.mark.parametrize(
    "release_id", ["previous", "20261127T010203Z", "20261127T010203Z-1a2b3c4d5e6f"]
)
def test_release_ids_and_run_prefixes_are_read(release_id):
    assert "/var/lib/observability-stack" in Release().command(release_id)
