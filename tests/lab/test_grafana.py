"""Grafana on the lab's observability server, through the deploy users run.

Grafana cannot be obtained on these machines, so the process on port 3000 is the lab's
stand-in (obslab/grafana_standin.py, packed by the lab's mirror as Grafana's release
archive): it does what our deploy relies on (--version, reading grafana.ini, creating its
database with the admin password at the first start, the CLI's reset-admin-password from
stdin, /api/health, /metrics, /api/user with basic auth or the auth proxy's headers) and
nothing else. Everything around it here is real: the release install, the account and
hardened unit, the files, the proxy's one login through Debian's nginx with a certificate
from the lab's ACME CA, the password's rotation, health, the scrape and InstanceDown.

Never run here, because only Grafana can show them: Grafana reading our grafana.ini and
provisioning files, its auth proxy signing users up and syncing their roles, its CLI, and
the dashboards drawn (their queries are run against the lab's Prometheus and Loki in
test_dashboards.py).
"""

from __future__ import annotations

import pytest
from conftest import (
    LAB_INVENTORY,
    OBS_NAME,
    address,
    curl_from_outsider,
    deploy,
    on_host,
    prometheus_query,
    proxy_password,
    server_get,
    tcp_connects,
    watching_argv,
)
from waiting import wait_until

from obslab import services
from obslab.services import MIRROR_DIR, mirror_releases
from obsstack import secrets
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.catalog.server import GRAFANA_ADMIN_PASSWORD
from obsstack.health import run_health

pytestmark = pytest.mark.lab

UNIT = "grafana.service"
PORT = 3000
FORGED = {"X-WEBAUTH-USER": "admin", "X-WEBAUTH-ROLE": "Admin"}


def api_user(user: str, **kwargs: object) -> dict:
    """/api/user through the proxy as proxy user ``user``: who Grafana was told it is."""
    answer = server_get("/api/user", auth=(user, proxy_password(user)), **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def admin_api_status(password: str) -> str:
    """What Grafana's API on loopback answers the admin with ``password`` (curl reads the
    login from stdin, never from its command line)."""
    result = on_host(
        OBS_NAME,
        f"curl -s -o /dev/null -w '%{{http_code}}' -K - http://127.0.0.1:{PORT}/api/user",
        stdin=f'user = "admin:{password}"\n',
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_process_is_the_labs_stand_in_and_says_so(deployed, hosts):
    obs = hosts[OBS_NAME]
    version = RELEASE_ARCHIVES["grafana"].pin.version
    assert mirror_releases(MIRROR_DIR)["grafana"]["version"] == version
    assert obs.file("/opt/grafana/current/NOTICE").content_string.startswith("NOT Grafana.")
    reported = obs.check_output("/usr/local/bin/grafana --version")
    assert reported.startswith(f"grafana version {version} (lab stand-in")
    assert server_get("/").text.count("stand-in for Grafana") >= 1


def test_it_runs_its_own_binary_as_its_own_user_on_loopback_only(deployed, hosts):
    obs = hosts[OBS_NAME]
    version = RELEASE_ARCHIVES["grafana"].pin.version
    account = obs.user("grafana")
    assert account.exists and account.shell == "/usr/sbin/nologin"
    data = obs.file("/var/lib/grafana")
    assert (data.user, data.mode) == ("grafana", 0o750)
    assert obs.file("/var/lib/grafana/grafana.db").user == "grafana"
    assert obs.file("/opt/grafana/current").linked_to == f"/opt/grafana/{version}"
    service = obs.service(UNIT)
    assert service.is_enabled and service.is_running
    pid = obs.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert obs.check_output(f"ps -o user= -p {pid}") == "grafana"
    # The port's holder is the installed binary itself (preflight tells ours by it).
    assert obs.check_output(f"readlink /proc/{pid}/exe") == f"/opt/grafana/{version}/bin/grafana"
    unit = obs.file(f"/etc/systemd/system/{UNIT}").content_string
    for line in ("ProtectSystem=strict", "ReadWritePaths=/var/lib/grafana", "NoNewPrivileges=yes",
                 "--homepath=/opt/grafana/current", "--config=/etc/grafana/grafana.ini"):
        assert line in unit
    assert obs.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not obs.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not tcp_connects("outsider", address(OBS_NAME), PORT)
    assert tcp_connects("outsider", address(OBS_NAME), 443), "control: outsider reaches obs"


def test_its_files_hold_the_dashboards_and_keep_the_password_private(deployed, hosts):
    from deploys.grafana import dashboard_files

    obs = hosts[OBS_NAME]
    password = secrets.read(GRAFANA_ADMIN_PASSWORD.name, services.SECRETS_DIR)
    secret_file = obs.file(GRAFANA_ADMIN_PASSWORD.kept_in)
    assert (secret_file.user, secret_file.group, secret_file.mode) == ("root", "grafana", 0o640)
    assert secret_file.content_string.strip() == password
    ini = obs.file("/etc/grafana/grafana.ini").content_string
    assert password not in ini
    assert f"admin_password = $__file{{{GRAFANA_ADMIN_PASSWORD.kept_in}}}" in ini
    assert "root_url = https://obs.lab.test/" in ini
    expected = dashboard_files()
    listed = obs.check_output("stat -c '%n %a %U:%G' /etc/grafana/dashboards/*/*.json")
    assert sorted(listed.splitlines()) == sorted(f"{path} 640 root:grafana" for path in expected)
    for path, text in expected.items():
        assert obs.file(path).content_string == text


def test_one_login_at_the_proxy_with_each_users_role(deployed):
    assert server_get("/", auth=None).status_code == 401
    assert server_get("/", auth=("viewer", "not-the-password")).status_code == 401
    admin = api_user("admin")
    assert (admin["login"], admin["orgRole"], admin["authenticatedBy"]) == (
        "admin", "Admin", "authproxy"
    )
    viewer = api_user("viewer")
    assert (viewer["login"], viewer["orgRole"]) == ("viewer", "Viewer")
    # The proxy's login stops at nginx: Grafana never gets the password.
    assert viewer["received"]["Authorization"] == 0


def test_headers_a_client_forges_never_reach_grafana(outsider_trusts_pebble):
    viewer = api_user("viewer", headers=FORGED)
    assert viewer["received"] == {
        "X-WEBAUTH-USER": ["viewer"], "X-WEBAUTH-ROLE": ["Viewer"], "Authorization": 0
    }
    assert server_get("/api/user", auth=None, headers=FORGED).status_code == 401
    # From outside, as a stranger would try it.
    assert curl_from_outsider("/api/user", None, FORGED) == 401
    # Grafana's metrics are for Prometheus on loopback, not for proxy users.
    assert server_get("/metrics").status_code == 403


def test_a_rotated_admin_password_is_applied_without_showing(deployed, hosts):
    """Grafana reads admin_password only when it creates its database: the deploy sets a
    new one through the CLI, from the file on stdin, never in a command line or output."""
    name = GRAFANA_ADMIN_PASSWORD.name
    old = secrets.read(name, services.SECRETS_DIR)
    assert admin_api_status(old) == "200"
    database = "/var/lib/grafana/grafana.db"
    inode = hosts[OBS_NAME].check_output(f"stat -c %i {database}")
    new = secrets.read(name, secrets.rotate(name, services.SECRETS_DIR).parent)
    with watching_argv([old, new], on=OBS_NAME):
        result = deploy(verbosity=3, diff=True)
    assert result.ok, result.log[-3000:]
    assert old not in result.log and new not in result.log
    assert "Grafana's admin password is the secret's" in result.log
    wait_until(lambda: admin_api_status(new) == "200", 30, "Grafana to accept the new password")
    assert admin_api_status(old) == "401"
    # The same database: the CLI changed the password, nothing was recreated.
    assert hosts[OBS_NAME].check_output(f"stat -c %i {database}") == inode


def health_failures() -> set[tuple[str, str]]:
    """(host, check) of every failing health check of the lab."""
    report = run_health(LAB_INVENTORY, write_metrics=False)
    return {(result.host, result.check) for result in report.failing()}


def test_health_and_an_alert_name_grafana_when_it_is_down(deployed, hosts):
    grafana_checks = {(OBS_NAME, f"unit:{UNIT}"), (OBS_NAME, "ready:grafana")}
    wait_until(lambda: not health_failures(), 60, "a healthy lab")
    hosts[OBS_NAME].check_output(f"systemctl stop {UNIT}")
    try:
        wait_until(lambda: grafana_checks <= health_failures(), 60, "health to name Grafana")
        wait_until(
            lambda: prometheus_query(
                'ALERTS{alertname="InstanceDown",job="grafana",alertstate="firing"}'
            ),
            90,
            "InstanceDown to fire for Grafana",
        )
    finally:
        hosts[OBS_NAME].check_output(f"systemctl start {UNIT}")
    wait_until(lambda: not health_failures(), 90, "health to pass again")
    [up] = prometheus_query('up{job="grafana"}')
    assert up["value"][1] == "1"
