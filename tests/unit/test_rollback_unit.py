"""A rollback plans the target release's daemons, and removes those only the current runs."""

from __future__ import annotations

import json

from planned_operations import planned_operations

from operations.converge import DesiredState
from operations.history import CURRENT, RELEASES_DIR

# Only their names and units: what converging them plans is not what these tests are about.
NODE = DesiredState(name="node_exporter", unit="node_exporter.service")
GATEWAY = DesiredState(name="pushgateway", unit="pushgateway.service")
BEFORE = "20261201T010000Z-aaaaaaaaaaaa"
NOW = "20261202T010000Z-bbbbbbbbbbbb"


def release(release_id: str, *daemons: DesiredState) -> str:
    return json.dumps(
        {"id": release_id, "fingerprint": release_id[-12:], "components": [
            daemon.to_record() for daemon in daemons
        ]}
    )


def rollback(tmp_path, now: tuple[DesiredState, ...]) -> list[str]:
    responses = {
        # Release(previous), CurrentRelease, then Release(the current id): in this order,
        # since the first matcher that a command contains answers it.
        "awk -v c=": release(BEFORE, NODE),
        f"test -f {CURRENT}": NOW,
        f"{RELEASES_DIR}/{NOW}*.json": release(NOW, *now),
    }
    return planned_operations(
        tmp_path, "deploys/rollback.py", {"web1": "monitored"}, responses={"web1": responses}
    )["web1"]


def test_a_daemon_the_target_release_lacks_is_removed(tmp_path):
    names = rollback(tmp_path, (NODE, GATEWAY))
    assert "Stop and disable pushgateway.service" in names
    assert "Remove /opt/pushgateway" in names
    assert "Stop and disable node_exporter.service" not in names
    assert "Make release " + BEFORE + " current" in names


def test_a_daemon_in_both_releases_stays(tmp_path):
    names = rollback(tmp_path, (NODE,))
    assert not any("pushgateway" in name for name in names), names
    assert "Make release " + BEFORE + " current" in names
