"""A deploy killed halfway is finished by the next one; a rebooted host needs no deploy."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import LAB_INVENTORY, TEST_DATA, deploy
from waiting import wait_until

from obsstack import lab
from obsstack.deploy import REPO_ROOT, pyinfra_argv
from obsstack.health import run_health
from obsstack.labdata import MIRROR_DIR, mirror_releases

pytestmark = pytest.mark.lab


def healthy() -> bool:
    return run_health(LAB_INVENTORY, write_metrics=False).ok


def test_killed_deploy_converges_on_the_next_run(deployed):
    older = mirror_releases(MIRROR_DIR, newest=False)
    argv = pyinfra_argv(LAB_INVENTORY, data={**TEST_DATA, "releases": older})
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "Starting operation: Install prometheus" in line:
            break
    os.killpg(process.pid, signal.SIGKILL)  # pyinfra and its ssh sessions, mid-operation
    process.wait()

    result = deploy()
    assert result.ok, result.log[-3000:]
    wait_until(healthy, timeout=90, what="health to pass after the converging deploy")
    assert deploy().total_changed == 0


def test_rebooted_host_comes_back_without_a_deploy(deployed):
    lab.restart("obs", progress=lambda _: None)
    lab.restart("web1", progress=lambda _: None)
    wait_until(healthy, timeout=90, what="every service back after the reboots")
