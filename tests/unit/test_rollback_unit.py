"""A rollback plans the target release's daemons, and removes those only the current runs."""

from __future__ import annotations

import json
from dataclasses import replace

from planned_operations import planned_operations

from deploys.component import with_current_secrets
from obsstack.catalog.schema import Hooks
from obsstack.catalog.server import GRAFANA, GRAFANA_ADMIN_PASSWORD
from operations.converge import ConfigFile, DesiredState
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


def current_grafana_files() -> tuple[ConfigFile, ...]:
    """What Grafana's files hook renders today (a stand-in for deploys.grafana's)."""
    return (
        ConfigFile(GRAFANA_ADMIN_PASSWORD.kept_in, "today's password", secret=True),
        ConfigFile("/etc/grafana/grafana.ini", "today's ini"),
    )


def refuse_to_render() -> tuple[ConfigFile, ...]:
    raise AssertionError("a release without secret files needs no rendering")


def test_a_rollback_puts_todays_secrets_in_the_files_a_release_kept_none_of():
    grafana = replace(GRAFANA, hooks=Hooks(files=f"{__name__}:current_grafana_files"))
    recorded = DesiredState(
        name="grafana",
        unit="grafana.service",
        files=(
            ConfigFile(GRAFANA_ADMIN_PASSWORD.kept_in, None, secret=True),
            ConfigFile("/etc/grafana/a_secret_no_longer_shipped", None, secret=True),
            ConfigFile("/etc/grafana/grafana.ini", "the release's ini"),
        ),
    )
    restored = {
        config.path: config.content for config in with_current_secrets(recorded, grafana).files
    }
    assert restored == {
        GRAFANA_ADMIN_PASSWORD.kept_in: "today's password",
        # Not rendered today: left as it is on the host.
        "/etc/grafana/a_secret_no_longer_shipped": None,
        # The release's own config, not today's.
        "/etc/grafana/grafana.ini": "the release's ini",
    }
    plain = replace(recorded, files=recorded.files[2:])
    refusing = replace(GRAFANA, hooks=Hooks(files=f"{__name__}:refuse_to_render"))
    assert with_current_secrets(plain, refusing) is plain
