"""Agents on monitored hosts, on real services: detected when installed, their metrics in
Prometheus with plausible values, removed with the host's data.

The fixture installs nginx, MariaDB and fail2ban on web1 with apt, as a user's web server
has them;
the product never installs the services it monitors. app1 has none: detection must leave it
bare.
"""

from __future__ import annotations

import pytest
from argv_sampler import ArgvSampler
from conftest import OBS_NAME, address, deploy, on_host, server_get, tcp_connects
from conftest import prometheus_query as query
from waiting import wait_until

from obsstack import labdata, secrets
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
        f"{APT} install -y nginx mariadb-server fail2ban"
        " && systemctl is-active nginx mariadb fail2ban",
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    result = deploy()
    assert result.ok, result.log[-3000:]
    return result


def test_installed_services_are_detected_per_host(web1_services):
    detected = with_detected_agents(LAB_INVENTORY, {})["detected_agents"]
    assert detected == {"web1": ["nginx", "mysql", "fail2ban"], "app1": []}


def mysql_accounts(hosts) -> str:
    """How many accounts named like the monitoring account web1's server has."""
    query_text = "SELECT COUNT(*) FROM mysql.user WHERE User='obs_exporter'"
    return hosts["web1"].check_output(f'mysql -NBe "{query_text}"')


def test_mysql_metrics_reach_prometheus_through_a_read_only_account(web1_services, hosts):
    wait_until(
        lambda: query('mysql_up{instance="web1",job="mysql"} == 1'), timeout=60, what="mysql_up"
    )
    [limit] = query('mysql_global_variables_max_connections{instance="web1"}')
    assert float(limit["value"][1]) > 0
    [connected] = query('mysql_global_status_threads_connected{instance="web1"}')
    assert float(connected["value"][1]) >= 1  # the exporter's own connection
    web1 = hosts["web1"]
    grants = web1.check_output("mysql -NBe \"SHOW GRANTS FOR 'obs_exporter'@'localhost'\"")
    assert "PROCESS" in grants and "SELECT" in grants
    for write in ("ALL PRIVILEGES", "INSERT", "UPDATE", "DELETE", "DROP", "SUPER"):
        assert write not in grants, grants
    credentials = web1.file("/etc/mysqld_exporter/.my.cnf")
    assert (credentials.user, credentials.group, credentials.mode) == ("root", "mysqld-exp", 0o640)
    assert not web1.file("/root/.observability-stack-mysql-user.sql").exists
    assert tcp_connects(OBS_NAME, address("web1"), 9104)
    assert not tcp_connects("outsider", address("web1"), 9104)


def client_file(password: str) -> str:
    return f"[client]\nuser=obs_exporter\npassword={password}\n"


def test_rotated_mysql_password_reaches_the_server_without_showing(web1_services, hosts):
    name = "mysql_exporter_password"
    old = secrets.read(name, labdata.SECRETS_DIR)
    with ArgvSampler([old]) as sampler:
        secrets.rotate(name, labdata.SECRETS_DIR)
        new = secrets.read(name, labdata.SECRETS_DIR)
        sampler.needles.append(new.encode())
        result = deploy(verbosity=2, diff=True)
    assert result.ok, result.log[-3000:]
    assert sampler.rate >= 20 and sampler.hits == []
    assert old not in result.log and new not in result.log
    # A login with each password, the password in a 0600 file fed through stdin.
    login = (
        "umask 077; f=$(mktemp); cat > $f; mysql --defaults-extra-file=$f -NBe 'SELECT 1';"
        " s=$?; rm -f $f; exit $s"
    )
    assert on_host("web1", login, stdin=client_file(new)).stdout.strip() == "1"
    assert on_host("web1", login, stdin=client_file(old)).returncode != 0
    wait_until(
        lambda: query('mysql_up{instance="web1"} == 1'), timeout=60, what="mysql_up after rotation"
    )


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
    assert not web1.file("/etc/mysqld_exporter").exists
    assert mysql_accounts(hosts) == "0", "the monitoring account is dropped"
    assert web1.service("nginx.service").is_running, "the user's nginx keeps running"
    wait_until(
        lambda: not query('fail2ban_up{instance="web1"}'), timeout=60, what="the series to go"
    )
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    assert "nginx" not in {target["labels"]["job"] for target in targets}
    rules = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert {"fail2ban", "nginx", "mysql"}.isdisjoint(group["name"] for group in rules)

    restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert web1.service(TIMER).is_enabled
