"""The lab itself: real Debian 13 hosts with systemd, SSH, their addresses and NAT to Debian.

The lifecycle tests (a killed lab, down then up) run last in this module and leave the lab up
for the deploy tests that follow (conftest runs this module first).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import require_lab
from waiting import wait_until

from obslab import machines

pytestmark = pytest.mark.lab

HOST_NAMES = [host.name for host in machines.HOSTS]


def ssh(host_name: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a shell command line on a lab host."""
    return subprocess.run(
        machines.ssh_argv(host_name, command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def up_collecting_progress() -> list[str]:
    lines: list[str] = []
    machines.up(progress=lines.append)
    return lines


def leaders() -> dict[str, int | None]:
    return {name: machines.leader_pid(name) for name in HOST_NAMES}


@pytest.fixture(scope="module")
def lab_up() -> list[str]:
    """The lab, up; the progress lines of bringing it up."""
    require_lab()
    return up_collecting_progress()


@pytest.mark.parametrize("name", HOST_NAMES)
def test_host_answers_ssh_as_root_with_its_name(lab_up, name):
    result = ssh(name, "id -un; hostname")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["root", name]


@pytest.mark.parametrize("name", HOST_NAMES)
def test_host_runs_systemd_as_pid_1_booted(lab_up, name):
    result = ssh(name, "cat /proc/1/comm; systemctl is-system-running")

    comm, state = result.stdout.split()
    assert comm == "systemd"
    assert state in ("running", "degraded"), ssh(name, "systemctl --failed").stdout
    leader = machines.leader_pid(name)
    assert leader is not None
    assert Path(f"/proc/{leader}/comm").read_text().strip() == "systemd"


def test_status_reports_every_host_up(lab_up):
    statuses = machines.status()

    assert [status.name for status in statuses] == HOST_NAMES
    for status in statuses:
        assert status.running, status
        assert status.ssh_ok, status
        assert status.systemd_state in ("running", "degraded"), status


@pytest.mark.parametrize("host", machines.HOSTS, ids=HOST_NAMES)
def test_host_has_its_address_and_reaches_the_others(lab_up, host):
    addresses = ssh(host.name, "ip -4 -o address show dev host0").stdout
    others = " ".join(other.name for other in machines.HOSTS if other != host)
    # sshd listens on every host: a TCP connect by name proves the name and the route.
    reach = ssh(
        host.name,
        f"for name in {others}; do timeout 5 bash -c \"</dev/tcp/$name/22\" || exit 1; done",
    )

    assert f"inet {host.address}/24" in addresses
    assert reach.returncode == 0, reach.stderr


@pytest.mark.parametrize("name", HOST_NAMES)
def test_host_resolves_and_reaches_debian_through_nat(lab_up, name):
    result = ssh(name, "apt-get update -q")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "deb.debian.org" in result.stdout
    assert "Err:" not in result.stdout


def test_iptables_works_inside_a_host(lab_up):
    """Hosts run a firewall later: netfilter must be usable from inside a host."""
    result = ssh("outsider", "apt-get update -q && apt-get install -y -q iptables && iptables -S")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-P INPUT ACCEPT" in result.stdout


def test_up_on_a_running_lab_is_a_no_op(lab_up):
    before = leaders()
    started = time.monotonic()

    lines = up_collecting_progress()

    assert lines == ["lab: already up"]
    assert leaders() == before  # no host was rebooted
    assert time.monotonic() - started < 30  # generous: it only checks, it never boots


def test_up_recovers_a_lab_whose_nspawns_were_killed(lab_up):
    """At the end of a session every process is killed; state, mounts and rules stay."""
    before = leaders()
    for host in machines.HOSTS:
        os.kill(machines.nspawn_pid(host.name), signal.SIGKILL)

    # SIGKILL is delivered asynchronously: wait until the nspawns are really gone.
    wait_until(
        lambda: not any(status.running for status in machines.status()), 10, "the nspawns to die"
    )
    lines = up_collecting_progress()

    assert any("half-dead" in line for line in lines), lines
    after = leaders()
    assert all(after.values())
    assert set(after.values()).isdisjoint(before.values())  # fresh hosts, not the orphans
    for name in HOST_NAMES:
        assert ssh(name, "true").returncode == 0


def lab_traces() -> list[str]:
    """What of the lab is left on the controller."""
    traces = []
    if machines.STATE_DIR.exists():
        traces.append(str(machines.STATE_DIR))
    if Path(f"/sys/class/net/{machines.BRIDGE}").exists():
        traces.append(machines.BRIDGE)
    mounts = Path("/proc/self/mountinfo").read_text()
    traces += [line for line in mounts.splitlines() if str(machines.STATE_DIR) in line]
    for table in ("nat", "filter"):
        rules = subprocess.run(
            ["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=True
        ).stdout
        traces += [rule for rule in rules.splitlines() if machines.RULE_COMMENT in rule]
    traces += [str(tree) for tree in machines.lab_cgroup_trees()]
    return traces


def test_down_removes_everything_and_up_again_uses_the_cached_base(lab_up):
    base_stamp = machines.BASE_INPUTS.stat()

    machines.down(progress=lambda _line: None)
    assert lab_traces() == []
    machines.down(progress=lambda _line: None)  # safe to run twice
    lines = up_collecting_progress()

    assert not any("debootstrap" in line for line in lines), lines
    after = machines.BASE_INPUTS.stat()
    assert (after.st_ino, after.st_mtime_ns) == (base_stamp.st_ino, base_stamp.st_mtime_ns)
    assert all(status.ssh_ok for status in machines.status())
