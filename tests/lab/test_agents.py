"""Agents on monitored hosts, on real services: detected when installed, their metrics in
Prometheus with plausible values, removed with the host's data.

The fixture installs nginx, MariaDB, PHP-FPM and fail2ban on web1 with apt, as a user's
web server has them, and adds a second PHP-FPM pool on TCP with a status page of its own;
the product never installs the services it monitors. app1 has none: detection must leave it
bare.
"""

from __future__ import annotations

import pytest
from conftest import (
    OBS_NAME,
    TEST_DATA,
    address,
    assert_unchanged,
    deploy,
    on_host,
    server_get,
    tcp_connects,
    watching_argv,
)
from conftest import prometheus_query as query
from waiting import wait_until
from web_services import DB_PASSWORD, SHOP_POOL

from obslab import services
from obslab.services import LAB_INVENTORY
from obsstack import secrets
from obsstack.agents import detection_summary, with_detected_agents
from obsstack.history import list_releases
from obsstack.pipeline import deploy_pipeline

pytestmark = pytest.mark.lab

TIMER = "obs-fail2ban-metrics.timer"
TEST_BAN = "203.0.113.9"  # TEST-NET-3: never a real client
PHP_FPM_STATUS_PORT = 9253
PHP_FPM_UP = 'phpfpm_up{instance="web1",job="php_fpm"} == 1'


def test_installed_services_are_detected_per_host(web1_services):
    detected = with_detected_agents(LAB_INVENTORY, {})
    assert detected["detected_agents"] == {
        "web1": ["nginx", "mysql", "php_fpm", "fail2ban"],
        "app1": [],
    }
    version = web1_services.version
    assert detected["php_fpm_pools"] == {
        "web1": [{"php": version, "pool": "shop"}, {"php": version, "pool": "www"}]
    }
    assert detection_summary(detected) == [
        f"web1: nginx, mysql, php_fpm (pools {version}/shop, {version}/www), fail2ban",
        "app1: no agent found",
    ]


def test_a_second_deploy_with_every_agent_changes_nothing_and_keeps_pool_secrets(
    web1_services,
):
    """php-fpm -tt prints every pool's env[...] and php_admin_value[...]: at -vvv pyinfra
    would print that fact whole, and detection reads it too. Only what the agent needs
    comes back."""
    with watching_argv([DB_PASSWORD]):
        result = deploy(verbosity=3)
    assert_unchanged(result)
    assert "PhpFpmPools" in result.log, "the pool fact ran and -vvv printed it"
    assert DB_PASSWORD not in result.log
    detected = with_detected_agents(LAB_INVENTORY, {})
    assert DB_PASSWORD not in repr(detected)


def test_our_status_page_is_not_reachable_through_the_users_site(web1_services):
    """The user's front controller passes any URI to FPM; FPM answers its status path on
    every socket of the pool, so the path must be one no URI can become."""
    web1 = address("web1")
    home = on_host("outsider", f"curl -s http://{web1}/anything")
    assert home.stdout == "the application answers /anything\n", "control: the site works"
    for path in (
        "/observability-stack/./status",
        "/observability-stack/%2e/status",
        "/observability-stack/status",
        "/observability-stack-status",
    ):
        page = on_host("outsider", f"curl -s --path-as-is 'http://{web1}{path}?openmetrics'")
        assert "phpfpm_up" not in page.stdout, path
        assert page.stdout.startswith("the application answers"), (path, page.stdout)
    # Our status server still gets it, from the pool's own status socket.
    status = on_host(
        OBS_NAME, f"curl -s http://{web1}:{PHP_FPM_STATUS_PORT}/php{web1_services.version}/www"
    )
    assert "phpfpm_up 1" in status.stdout
    sockets = on_host("web1", "ls /run/php/").stdout
    assert f"observability-stack-php{web1_services.version}-www.sock" in sockets


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
    assert tcp_connects("outsider", address("web1"), 22), "control: outsider reaches web1"


def client_file(password: str) -> str:
    return f"[client]\nuser=obs_exporter\npassword={password}\n"


def test_rotated_mysql_password_reaches_the_server_without_showing(web1_services, hosts):
    name = "mysql_exporter_password"
    old = secrets.read(name, services.SECRETS_DIR)
    with watching_argv([old]) as sampler:
        secrets.rotate(name, services.SECRETS_DIR)
        new = secrets.read(name, services.SECRETS_DIR)
        sampler.needles.append(new.encode())
        result = deploy(verbosity=3, diff=True)
    assert result.ok, result.log[-3000:]
    assert old not in result.log and new not in result.log
    backups = hosts["web1"].run("ls -A /var/backups/observability-stack/etc/mysqld_exporter")
    assert backups.stdout.strip() == "", "no copy of the old credentials is kept"
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


def test_each_php_fpm_pool_reaches_prometheus_through_its_own_status_page(web1_services, hosts):
    pools = wait_until(
        lambda: (up := query(PHP_FPM_UP)) and len(up) == 2 and up,
        timeout=60,
        what="phpfpm_up for both pools of web1",
    )
    assert {pool["metric"]["pool"] for pool in pools} == {"www", "shop"}
    assert {pool["metric"]["php_version"] for pool in pools} == {web1_services.version}
    # shop runs pm = static with 2 children; www (dynamic) starts pm.start_servers = 2.
    [shop] = query('phpfpm_total_processes{instance="web1",pool="shop"}')
    assert float(shop["value"][1]) == 2
    [www] = query('phpfpm_total_processes{instance="web1",pool="www"}')
    assert float(www["value"][1]) >= 1
    # Each scrape is a request to the pool, so the pool's counter moves with the scrapes.
    [accepted] = query('phpfpm_accepted_connections{instance="web1",pool="www"}')
    assert float(accepted["value"][1]) >= 1
    for series in ("phpfpm_max_children_reached", "phpfpm_listen_queue", "phpfpm_idle_processes"):
        assert len(query(f'{series}{{instance="web1",job="php_fpm"}}')) == 2, series
    web1 = hosts["web1"]
    www_conf = web1.file(f"{web1_services.pool_dir}/www.conf").content_string
    assert www_conf.count("pm.status_path = /observability-stack/./status") == 1
    shop_conf = web1.file(f"{web1_services.pool_dir}/shop.conf").content_string
    assert shop_conf == SHOP_POOL, "a pool with its own status page is left as it is"
    assert web1.run(f"php-fpm{web1_services.version} -t").rc == 0
    assert tcp_connects(OBS_NAME, address("web1"), PHP_FPM_STATUS_PORT)
    assert not tcp_connects("outsider", address("web1"), PHP_FPM_STATUS_PORT)
    assert tcp_connects("outsider", address("web1"), 22), "control: outsider reaches web1"
    rules = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert "php_fpm" in {group["name"] for group in rules}


def test_the_php_fpm_status_server_answers_the_observability_server_only(web1_services):
    # UFW already keeps others away; nginx's own allow list holds even where it is off.
    web1 = address("web1")
    page = f"http://{web1}:{PHP_FPM_STATUS_PORT}/php{web1_services.version}/www"
    from_obs = on_host(OBS_NAME, f"curl -s {page}")
    assert "phpfpm_up 1" in from_obs.stdout
    assert from_obs.stdout.rstrip().endswith("# EOF"), "OpenMetrics, complete"
    on_host("web1", "ufw disable")
    try:
        from_outsider = on_host(
            "outsider", f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 {page}"
        )
    finally:
        assert on_host("web1", "ufw --force enable").returncode == 0
    assert from_outsider.stdout == "403"


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
    assert not web1.file("/etc/nginx/conf.d/observability-stack-php-fpm.conf").exists
    www_conf = web1.file(f"{web1_services.pool_dir}/www.conf")
    assert www_conf.md5sum == web1_services.www_md5, "Debian's www.conf as it shipped"
    assert web1.service(f"php{web1_services.version}-fpm.service").is_running
    assert not tcp_connects(OBS_NAME, address("web1"), PHP_FPM_STATUS_PORT)
    assert tcp_connects(OBS_NAME, address("web1"), 9100), "control: obs reaches web1"
    assert not web1.file("/etc/mysqld_exporter").exists
    assert mysql_accounts(hosts) == "0", "the monitoring account is dropped"
    assert web1.service("nginx.service").is_running, "the user's nginx keeps running"
    wait_until(
        lambda: not query('fail2ban_up{instance="web1"}'), timeout=60, what="the series to go"
    )
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    assert {"nginx", "php_fpm"}.isdisjoint(target["labels"]["job"] for target in targets)
    rules = server_get("/prometheus/api/v1/rules").json()["data"]["groups"]
    assert {"fail2ban", "nginx", "mysql", "php_fpm"}.isdisjoint(group["name"] for group in rules)

    restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert web1.service(TIMER).is_enabled


def test_detection_that_cannot_look_changes_nothing(web1_services, hosts):
    """systemctl failing on web1 for one run: nothing is removed from web1 or the server
    because detection could not see what web1 runs."""
    web1 = hosts["web1"]
    watched = (
        "/etc/systemd/system/nginx_exporter.service /etc/systemd/system/mysqld_exporter.service"
        f" /etc/systemd/system/{TIMER} /etc/nginx/conf.d/observability-stack-php-fpm.conf"
        f" {web1_services.pool_dir}/www.conf"
    )
    before = web1.check_output(f"md5sum {watched}")
    file_sd = hosts[OBS_NAME].check_output("cat /etc/prometheus/file_sd/*.yml | md5sum")
    releases = list_releases(LAB_INVENTORY)
    shim = "/usr/local/sbin/systemctl"
    on_host(
        "web1",
        f"cat > {shim} && chmod 0755 {shim}",
        stdin='#!/bin/sh\n[ "$1" = list-unit-files ] && exit 1\nexec /usr/bin/systemctl "$@"\n',
    )
    try:
        outcome = deploy_pipeline(
            LAB_INVENTORY, data=TEST_DATA, echo=False, progress=lambda _: None
        )
    finally:
        on_host("web1", f"rm -f {shim}")
    assert not outcome.ok
    assert outcome.deploy is None, "nothing may be deployed"
    (failure,) = outcome.failures
    assert "web1: the detection script failed: systemctl list-unit-files failed" in failure
    assert web1.check_output(f"md5sum {watched}") == before
    assert hosts[OBS_NAME].check_output("cat /etc/prometheus/file_sd/*.yml | md5sum") == file_sd
    assert mysql_accounts(hosts) == "1"
    assert list_releases(LAB_INVENTORY) == releases
    assert query('mysql_up{instance="web1"} == 1'), "the server still scrapes web1's agents"
