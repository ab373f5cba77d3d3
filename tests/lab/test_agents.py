"""Agents on monitored hosts, on real services: detected when installed, their metrics in
Prometheus with plausible values, removed with the host's data.

The fixture installs nginx and fail2ban on web1 with apt, as a user's web server has them;
the product never installs the services it monitors. app1 has none: detection must leave it
bare.
"""

from __future__ import annotations

import pytest
from conftest import OBS_NAME, address, deploy, on_host, server_get, tcp_connects
from conftest import prometheus_query as query
from waiting import wait_until

from obsstack.agents import with_detected_agents
from obsstack.labdata import LAB_INVENTORY

pytestmark = pytest.mark.lab

APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120"
TIMER = "obs-fail2ban-metrics.timer"
TEST_BAN = "203.0.113.9"  # TEST-NET-3: never a real client


@pytest.fixture(scope="module")
def web1_services(deployed):
    installed = on_host(
        "web1",
        f"{APT} install -y nginx fail2ban && systemctl is-active nginx fail2ban",
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    result = deploy()
    assert result.ok, result.log[-3000:]
    return result


def test_installed_services_are_detected_per_host(web1_services):
    detected = with_detected_agents(LAB_INVENTORY, {})["detected_agents"]
    assert detected == {"web1": ["nginx", "fail2ban"], "app1": []}


def test_nginx_metrics_reach_prometheus_and_the_site_still_serves(web1_services, hosts):
    up = wait_until(
        lambda: query('nginx_up{instance="web1",job="nginx",role="monitored"} == 1'),
        timeout=60,
        what="nginx_up from web1",
    )
    assert up[0]["metric"]["env"] == "lab"
    # The exporter's own request to stub_status is one of the active connections.
    active = query('nginx_connections_active{instance="web1"}')
    assert active and float(active[0]["value"][1]) >= 1
    assert float(query('nginx_http_requests_total{instance="web1"}')[0]["value"][1]) > 0
    web1 = address("web1")
    assert tcp_connects(OBS_NAME, web1, 9113)
    assert not tcp_connects("outsider", web1, 9113)
    assert not tcp_connects("outsider", web1, 8181), "stub_status is on loopback only"
    site = on_host("outsider", f"curl -s -o /dev/null -w '%{{http_code}}' http://{web1}/")
    assert site.stdout == "200", "the user's site must keep serving (port 80 is open)"
    assert hosts["web1"].run("nginx -t").rc == 0


def test_fail2ban_jails_reach_prometheus(web1_services, hosts):
    assert hosts["web1"].service(TIMER).is_enabled
    assert not hosts["app1"].file(f"/etc/systemd/system/{TIMER}").exists
    wait_until(
        lambda: query('fail2ban_up{instance="web1"} == 1'), timeout=60, what="fail2ban_up on web1"
    )
    on_host("web1", f"fail2ban-client set sshd banip {TEST_BAN}")
    try:
        banned = wait_until(
            lambda: query('fail2ban_jail_banned_current{instance="web1",jail="sshd"} >= 1'),
            timeout=90,
            what="the ban to show in Prometheus",
        )
        assert float(banned[0]["value"][1]) >= 1
    finally:
        on_host("web1", f"fail2ban-client set sshd unbanip {TEST_BAN}")
    rules = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert "fail2ban" in {group["name"] for group in rules}


def test_the_agent_runs_without_network_and_writes_only_its_metrics(web1_services, hosts):
    unit = hosts["web1"].file("/etc/systemd/system/obs-fail2ban-metrics.service").content_string
    assert "PrivateNetwork=yes" in unit and "ProtectSystem=strict" in unit
    metrics = hosts["web1"].file("/var/lib/node_exporter/fail2ban.prom")
    assert (metrics.user, metrics.mode) == ("root", 0o644)


def test_an_agent_taken_off_the_list_is_removed_with_its_series(web1_services, hosts):
    result = deploy(agents=[])
    assert result.ok, result.log[-3000:]
    web1 = hosts["web1"]
    assert not web1.file(f"/etc/systemd/system/{TIMER}").exists
    assert not web1.file("/var/lib/node_exporter/fail2ban.prom").exists
    assert not web1.file("/etc/systemd/system/nginx_exporter.service").exists
    assert not web1.file("/etc/nginx/conf.d/observability-stack-status.conf").exists
    assert web1.service("nginx.service").is_running, "the user's nginx keeps running"
    wait_until(
        lambda: not query('fail2ban_up{instance="web1"}'), timeout=60, what="the series to go"
    )
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    assert "nginx" not in {target["labels"]["job"] for target in targets}
    rules = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert {"fail2ban", "nginx"}.isdisjoint(group["name"] for group in rules)

    restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert web1.service(TIMER).is_enabled
