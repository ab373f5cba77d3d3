"""UFW on the monitored hosts: scrapes from the observability server only, SSH for all,
the user's extra rules, and nothing else — checked from ``outsider`` and from ``obs``."""

from __future__ import annotations

import pytest
from conftest import OBS_NAME, address, deploy, on_host, tcp_connects

pytestmark = pytest.mark.lab

MONITORED = ("web1", "app1")
OUTSIDER = "outsider"
TEST_PORT = 8089


@pytest.mark.parametrize("name", MONITORED)
def test_exporter_port_answers_the_observability_server_only(deployed, name):
    target = address(name)
    assert tcp_connects(OBS_NAME, target, 9100)
    assert not tcp_connects(OUTSIDER, target, 9100)
    assert tcp_connects(name, target, 9100), "control: node_exporter listens on every address"


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

    rules = [
        {"port": 80, "comment": "web server: http"},
        {"port": 443, "comment": "web server: https"},
        {"port": TEST_PORT, "source": address(OUTSIDER), "comment": "test: outsider only"},
    ]
    result = deploy(firewall_extra_rules=rules)
    assert result.ok, result.log[-3000:]
    assert tcp_connects(OUTSIDER, web1, TEST_PORT)
    assert not tcp_connects(OBS_NAME, web1, TEST_PORT), "the rule names outsider only"

    result = deploy()
    assert result.ok, result.log[-3000:]
    assert not tcp_connects(OUTSIDER, web1, TEST_PORT), "a removed rule must be deleted"
