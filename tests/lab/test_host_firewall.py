"""UFW and listen addresses on the monitored hosts: scrapes from the observability server
only, SSH for all (on whatever port sshd really uses), the user's extra rules, nothing else,
over IPv4 and IPv6 — checked from ``outsider`` and from ``obs``, every "closed" next to an
"open" from the same host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import LAB_INVENTORY, OBS_NAME, TEST_DATA, address, deploy, on_host, tcp_connects

from obslab import machines
from obsstack.pipeline import deploy_pipeline

pytestmark = pytest.mark.lab

MONITORED = ("web1", "app1")
OUTSIDER = "outsider"
TEST_PORT = 8089


@pytest.mark.parametrize("name", MONITORED)
def test_exporter_port_answers_the_observability_server_only(deployed, hosts, name):
    target = address(name)
    assert tcp_connects(OBS_NAME, target, 9100)
    assert not tcp_connects(OUTSIDER, target, 9100)
    assert tcp_connects(OUTSIDER, target, 22), "control: outsider reaches the host"
    # Bound to the address it is scraped at, not to every address of the host.
    assert hosts[name].socket(f"tcp://{target}:9100").is_listening
    assert not hosts[name].socket("tcp://0.0.0.0:9100").is_listening
    assert not hosts[name].socket("tcp://:::9100").is_listening


def link_local(name: str) -> str:
    """The IPv6 address of a lab host's interface (the lab has link-local IPv6 only)."""
    shown = on_host(name, "ip -6 -o address show dev host0 scope link").stdout.split()
    return shown[shown.index("inet6") + 1].split("/")[0]


def tcp6_connects(source: str, target: str, port: int) -> bool:
    """Whether ``source`` opens a TCP connection to ``target`` over IPv6 within 3 s."""
    result = on_host(
        source,
        "python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])),"
        f" timeout=3)' {target}%host0 {port}",
    )
    if "Traceback" not in result.stderr and result.returncode != 0:
        raise AssertionError(f"cannot run the check on {source}: {result.stderr}")
    return result.returncode == 0


@pytest.mark.parametrize("name", MONITORED)
def test_over_ipv6_only_ssh_is_open(deployed, name):
    target = link_local(name)
    assert tcp6_connects(OUTSIDER, target, 22), "control: IPv6 reaches the host"
    assert not tcp6_connects(OUTSIDER, target, 9100)
    assert not tcp6_connects(OBS_NAME, target, 9100), "exporters do not listen on IPv6"


@pytest.mark.parametrize("name", MONITORED)
def test_ssh_stays_open_to_everyone(deployed, name):
    banner = on_host(
        OUTSIDER, f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address(name)}/22; head -c 8 <&3'"
    )
    assert banner.stdout.startswith("SSH-2.0")


@pytest.mark.parametrize("name", MONITORED)
def test_firewall_is_on_and_denies_by_default(deployed, hosts, name):
    status = hosts[name].check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing)" in status


@pytest.fixture
def listener_on_web1(deployed):
    """Something listening on web1's test port, so only the firewall decides."""
    on_host("web1", f"systemd-run --unit obs-test-listener python3 -m http.server {TEST_PORT}")
    yield
    on_host("web1", "systemctl stop obs-test-listener")


def test_extra_rules_open_exactly_what_they_name_and_go_when_removed(listener_on_web1):
    web1 = address("web1")
    assert tcp_connects("web1", web1, TEST_PORT), "control: the listener runs"
    assert not tcp_connects(OUTSIDER, web1, TEST_PORT)
    assert tcp_connects(OUTSIDER, web1, 22), "control: outsider reaches web1"

    rules = [
        {"port": 80, "comment": "web server: http"},
        {"port": 443, "comment": "web server: https"},
        {"port": TEST_PORT, "source": address(OUTSIDER), "comment": "test: outsider only"},
    ]
    result = deploy(firewall_extra_rules=rules)
    assert result.ok, result.log[-3000:]
    assert tcp_connects(OUTSIDER, web1, TEST_PORT)
    assert not tcp_connects(OBS_NAME, web1, TEST_PORT), "the rule names outsider only"
    assert tcp_connects(OBS_NAME, web1, 9100), "control: obs reaches web1"

    result = deploy()
    assert result.ok, result.log[-3000:]
    assert not tcp_connects(OUTSIDER, web1, TEST_PORT), "a removed rule must be deleted"
    assert tcp_connects(OUTSIDER, web1, 22), "control: outsider reaches web1"


SSH_PORT = 2222
USER_SSH_CONFIG = Path.home() / ".ssh" / "config"


def ssh_on(port: int, name: str, command: str) -> subprocess.CompletedProcess:
    """``command`` on a lab host over SSH on ``port`` (the lab's helpers use 22)."""
    argv = machines.ssh_argv(name, command)
    argv[1:1] = ["-p", str(port)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def sshd_moved_on_web1(deployed):
    """sshd on 2222 only (a rule of the user's lets it in), and ~/.ssh/config telling
    pyinfra so, as a user's laptop would; the inventory has no ssh_port."""
    moved = on_host(
        "web1",
        f"ufw allow {SSH_PORT}/tcp && echo 'Port {SSH_PORT}' > /etc/ssh/sshd_config.d/port.conf"
        " && systemctl restart ssh",
    )
    assert moved.returncode == 0, moved.stderr
    saved = USER_SSH_CONFIG.read_text() if USER_SSH_CONFIG.exists() else None
    USER_SSH_CONFIG.parent.mkdir(mode=0o700, exist_ok=True)
    USER_SSH_CONFIG.write_text(
        (saved or "") + f"\nHost {address('web1')}\n  Port {SSH_PORT}\n"
    )
    os.chmod(USER_SSH_CONFIG, 0o600)
    # SSH knows a host's key by name and port: web1's keys, for its new port.
    known = machines.KNOWN_HOSTS.read_text()
    machines.KNOWN_HOSTS.write_text(
        known
        + "".join(
            f"[{address('web1')}]:{SSH_PORT} {line.split(' ', 1)[1]}\n"
            for line in known.splitlines()
            if line.startswith("web1,")
        )
    )
    try:
        yield
    finally:
        back = ssh_on(
            SSH_PORT,
            "web1",
            "ufw allow 22/tcp && rm -f /etc/ssh/sshd_config.d/port.conf && systemctl restart ssh",
        )
        if saved is None:
            USER_SSH_CONFIG.unlink()
        else:
            USER_SSH_CONFIG.write_text(saved)
        machines.KNOWN_HOSTS.write_text(known)
        assert back.returncode == 0, back.stderr
        restored = deploy()
        assert restored.ok, restored.log[-3000:]


def test_a_deploy_keeps_the_port_sshd_really_listens_on(sshd_moved_on_web1):
    assert ssh_on(SSH_PORT, "web1", "true").returncode == 0, "control: sshd moved"
    assert not tcp_connects(OUTSIDER, address("web1"), 22)
    assert tcp_connects(OUTSIDER, address("web1"), SSH_PORT), "control: the moved port is open"

    outcome = deploy_pipeline(
        LAB_INVENTORY, limit="web1", data=TEST_DATA, echo=False, progress=lambda _: None
    )

    assert outcome.ok, outcome.failures
    assert outcome.deploy.hosts == {"web1"}
    # New connections on 2222 still get in: the health gate did, and so does this.
    assert ssh_on(SSH_PORT, "web1", "true").returncode == 0
    rules = ssh_on(SSH_PORT, "web1", "ufw show added").stdout
    assert f"ufw allow {SSH_PORT}/tcp comment 'observability-stack: ssh'" in rules
    assert "ufw allow 22/tcp" not in rules, "nothing listens on 22 any more"
