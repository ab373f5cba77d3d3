"""A deploy killed halfway is finished by the next one; a rebooted host needs no deploy."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import (
    ALERTMANAGER_0_25,
    LAB_INVENTORY,
    TEST_DATA,
    assert_unchanged,
    deploy,
    on_host,
)
from waiting import wait_until

from obslab import machines
from obslab.services import MIRROR_DIR, mirror_releases
from obsstack.agents import with_detected_agents
from obsstack.deploy import REPO_ROOT, pyinfra_argv
from obsstack.health import run_health
from obsstack.history import list_releases

pytestmark = pytest.mark.lab

# Prometheus is installed after node_exporter on the server: killed here, the run leaves
# node_exporter switched to the other version and Prometheus not. (pyinfra names the step
# after every host's operation at that place, in no fixed order.)
STARTING = "--> Starting operation: "
MARKER = "Install prometheus "


def healthy() -> bool:
    return run_health(LAB_INVENTORY, write_metrics=False).ok


def active_version(hosts, component: str) -> str:
    """The version the /usr/local/bin link points at on obs."""
    target = hosts["obs"].file(f"/usr/local/bin/{component}").linked_to
    return target.split("/")[3]


def test_killed_deploy_is_finished_by_the_next_run(deployed, hosts):
    older = mirror_releases(MIRROR_DIR, newest=False)
    newer = mirror_releases(MIRROR_DIR, newest=True)
    current = next(r for r in list_releases(LAB_INVENTORY)["obs"] if r.current)
    # With detection's answer, as `invoke deploy` passes it to pyinfra.
    data = with_detected_agents(
        LAB_INVENTORY, {**TEST_DATA, **ALERTMANAGER_0_25, "releases": older}
    )
    argv = pyinfra_argv(LAB_INVENTORY, data=data)
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    seen = False
    for line in process.stderr:
        if line.startswith(STARTING) and MARKER in line:
            seen = True
            break
    os.killpg(process.pid, signal.SIGKILL)  # pyinfra and its ssh sessions, mid-operation
    assert seen, f"the deploy ended without reaching {MARKER!r}: nothing was killed"
    assert process.wait() == -signal.SIGKILL

    # Half done: node_exporter runs the other version, Prometheus does not, and no release
    # records either state.
    assert active_version(hosts, "node_exporter") == older["node_exporter"]["version"]
    assert active_version(hosts, "prometheus") == newer["prometheus"]["version"]
    assert next(r for r in list_releases(LAB_INVENTORY)["obs"] if r.current) == current

    finished = deploy(releases=older, **ALERTMANAGER_0_25)
    assert finished.ok, finished.log[-3000:]
    assert active_version(hosts, "prometheus") == older["prometheus"]["version"]
    recorded = next(r for r in list_releases(LAB_INVENTORY)["obs"] if r.current)
    assert recorded.versions["prometheus"] == older["prometheus"]["version"]

    back = deploy()
    assert back.ok, back.log[-3000:]
    wait_until(healthy, timeout=90, what="health to pass after the converging deploy")
    assert_unchanged(deploy())


BACKUP_TIMERS = ("obs-backup.timer", "obs-backup-check.timer", "obs-backup-drill.timer")


def test_rebooted_host_comes_back_without_a_deploy(deployed):
    machines.restart("obs", progress=lambda _: None)
    machines.restart("web1", progress=lambda _: None)
    wait_until(healthy, timeout=90, what="every service back after the reboots")
    # The backups' timers are scheduled again: each has its next run.
    for timer in BACKUP_TIMERS:
        shown = on_host("obs", f"systemctl show -p ActiveState,NextElapseUSecRealtime {timer}")
        state = dict(line.split("=", 1) for line in shown.stdout.splitlines())
        assert state["ActiveState"] == "active", (timer, state)
        assert state["NextElapseUSecRealtime"], (timer, state)
