"""Bad input stops a deploy before any connection: each case names its key and what is
expected, and a TCP listener standing in for the host sees no connection at all."""

from __future__ import annotations

import socket
import threading

import pytest

from obsstack import secrets
from obsstack.deploy import run_deploy
from obsstack.settings import SettingsError

EMAIL = {
    "smarthost": "smtp.mail.lan:587",
    "sender": "alerts@ops.lan",
    "recipients": ["team@ops.lan"],
    "auth_username": None,
    "require_tls": True,
    "ca_file": None,
}
PIN = {"version": "2.53.3", "sha256": "a" * 64}

CASES = [
    (
        {"prometheus_port": 99999},
        "--data: prometheus_port = 99999: out of range; expected a TCP port",
    ),
    ({"node_exporter_port": "9100"}, "node_exporter_port = '9100': wrong type"),
    ({"prometheus_retention_time": "thirty days"}, "expected a Prometheus duration"),
    ({"prometheus_retention_size": "10 gigs"}, "expected 0 (no limit) or a size"),
    ({"prometheus_scrape_interval": "15"}, "prometheus_scrape_interval = '15'"),
    ({"alertmanager_group_wait": "soon"}, "alertmanager_group_wait = 'soon'"),
    ({"health_gate_timeout": "-5s"}, "health_gate_timeout = '-5s'"),
    ({"environment": "Production!"}, "expected a lowercase name"),
    ({"enviroment": "prod"}, "unknown key 'enviroment' (did you mean 'environment'?)"),
    (
        {"releases": {"prometheus": {**PIN, "version": "latest"}}},
        "releases.prometheus.version = 'latest'",
    ),
    (
        {"releases": {"prometheus": {**PIN, "sha256": "XYZ"}}},
        "releases.prometheus.sha256 = 'XYZ': bad format",
    ),
    ({"releases": {"prometheus": {"version": "2.53.3"}}}, "releases.prometheus is missing sha256"),
    (
        {"releases": {"promethus": PIN}},
        "unknown key 'releases.promethus' (did you mean 'prometheus'?)",
    ),
    (
        {"alertmanager_email": {**EMAIL, "sender": "alerts"}},
        "alertmanager_email.sender = 'alerts': bad format",
    ),
    ({"alertmanager_email": {**EMAIL, "recipients": "team@ops.lan"}}, "a non-empty list of e-mail"),
    (
        {"alertmanager_email": {**EMAIL, "smarthost": "CHANGE_ME:25"}},
        "placeholder 'CHANGE_ME' left in",
    ),
    (
        {"alertmanager_email": {**EMAIL, "recipients": ["ops@example.com"]}},
        "placeholder 'example.com'",
    ),
    ({"alertmanager_email": {**EMAIL, "smarthost": "smtp.lan:0"}}, "port out of range"),
    ({"alert_rules": {"instance_down_for": "2m"}}, "alert_rules is missing"),
    ({"config_backups_kept": 0}, "config_backups_kept = 0: out of range"),
    ({"releases_kept": 1}, "releases_kept = 1: out of range; expected how many releases"),
    (
        {"ssh_hostname": "10.0.0.256"},
        "ssh_hostname = '10.0.0.256': bad format; expected an IP address",
    ),
    ({"ssh_port": 70000}, "ssh_port = 70000: out of range"),
    ({"prometheus_extra_rule_files": "rules.yml"}, "a list of controller paths"),
    ({"domain": "monitoring.example.com"}, "domain = 'monitoring.example.com': placeholder"),
    ({"domain": "monitoring"}, "domain = 'monitoring': bad format; expected the server's public"),
    ({"acme_email": "ops"}, "acme_email = 'ops': bad format"),
    (
        {"acme_directory_url": "http://acme.lan/directory"},
        "acme_directory_url = 'http://acme.lan/directory': bad format; expected an https://",
    ),
    ({"proxy_users": {"admin": ["prometheus", "kibana"]}}, "unknown location 'kibana'"),
    ({"proxy_users": {"Admin User": ["prometheus"]}}, "bad user name 'Admin User'"),
    ({"proxy_users": {"admin": []}}, "user 'admin' needs a non-empty list of locations"),
    ({"proxy_users": {"bob": ["loki"]}}, "proxy_users.bob is set, but secret 'proxy_password_bob'"),
    ({"firewall_extra_rules": [{"port": 0}]}, "{'port': 0}: port must be 1-65535"),
    (
        {"firewall_extra_rules": [{"port": 25, "source": "10.0.0.300"}]},
        "source must be an address or network",
    ),
    ({"firewall_extra_rules": [{"port": 25, "prot": "udp"}]}, "has unknown key 'prot'"),
    ({"firewall_extra_rules": {"port": 25}}, "firewall_extra_rules = {'port': 25}: wrong type"),
    ({"scrape_address": "obs.internal"}, "scrape_address = 'obs.internal': bad format"),
    ({"agents": ["fail2bna"]}, "unknown agent 'fail2bna' (did you mean 'fail2ban'?)"),
    ({"agents": "yes"}, "agents = 'yes': wrong type; expected 'auto' (detect installed"),
    (
        {"agents": ["php_fpm", "fail2ban"]},
        "agents = ['php_fpm', 'fail2ban']: 'php_fpm' needs 'nginx' in the list too",
    ),
    ({"php_fpm_status_port": "9253"}, "php_fpm_status_port = '9253': wrong type"),
    (
        {"prometheus_scrape_jobs": [{"job": "app", "static_targets": ["a.lan:1"]}] * 2},
        "prometheus_scrape_jobs = [{'job': 'app', 'static_targets': ['a.lan:1']}, {'job': "
        "'app', 'static_targets': ['a.lan:1']}]: job 'app' is defined twice",
    ),
    (
        {"prometheus_scrape_jobs": [{"job": "node", "static_targets": ["a.lan:9100"]}]},
        "prometheus_scrape_jobs: job 'node' is one of the stack's own jobs",
    ),
    (
        {"prometheus_scrape_jobs": [{"job": "app", "file_sd": "no/such/targets.yml"}]},
        "prometheus_scrape_jobs: job 'app': file_sd ",
    ),
    (
        {
            "prometheus_scrape_jobs": [
                {
                    "job": "app",
                    "static_targets": ["a.lan:1"],
                    "relabel_configs": [{"action": "rename"}],
                }
            ]
        },
        "job 'app': relabel_configs 1: action must be one of replace, keep, drop",
    ),
    (
        {
            "prometheus_scrape_jobs": [
                {
                    "job": "app",
                    "static_targets": ["a.lan:1"],
                    "auth": {"type": "basic", "username": "u", "password": "hunter2"},
                }
            ]
        },
        "job 'app': basic auth needs exactly a username (the password is a secret)",
    ),
    (
        {
            "prometheus_scrape_jobs": [
                {"job": "app", "static_targets": ["a.lan:1"], "auth": {"type": "bearer"}}
            ]
        },
        "prometheus_scrape_jobs.app is set, but secret 'prometheus_scrape_app'",
    ),
    (
        {"prometheus_remote_write": [{"name": "vm", "url": "vm.lan:8428/api/v1/write"}]},
        "endpoint 'vm': url 'vm.lan:8428/api/v1/write' is not an http(s) URL",
    ),
    (
        {
            "prometheus_remote_write": [
                {
                    "name": "vm",
                    "url": "https://vm.lan/api/v1/write",
                    "auth": {"type": "basic", "username": "prom"},
                }
            ]
        },
        "prometheus_remote_write.vm is set, but secret 'prometheus_remote_write_vm'",
    ),
    (
        {"prometheus_external_labels": {"env": "prod"}},
        "'env' is the environment setting's",
    ),
    (
        {"alertmanager_receivers": {"chat": {"type": "sms"}}},
        "alertmanager_receivers = {'chat': {'type': 'sms'}}: receiver 'chat': unknown type "
        "'sms' (one of email, webhook, slack, pagerduty, teams, telegram, discord)",
    ),
    (
        {"alertmanager_receivers": {"chat": {"type": "slack", "url": "https://hooks.x/T"}}},
        "receiver 'chat': unknown key 'url' for type slack (allowed: type, channel, send_resolved)",
    ),
    (
        {"alertmanager_routes": [{"receiver": "pager", "matchers": ['severity="critical"']}]},
        "alertmanager_routes: receiver = 'pager': no such receiver; expected one of "
        "alertmanager_receivers (email)",
    ),
    (
        {"alertmanager_default_receiver": "team"},
        "alertmanager_default_receiver = 'team': no such receiver",
    ),
    (
        {"alertmanager_email": None},
        "alertmanager_default_receiver = 'email': the receiver 'email' needs alertmanager_email",
    ),
    (
        {"alertmanager_routes": [{"receiver": "email", "matchers": ["severity=critical"]}]},
        "alertmanager_routes = [{'receiver': 'email', 'matchers': ['severity=critical']}]: "
        "route 1: bad matcher 'severity=critical' (expected label=\"value\"",
    ),
    (
        {"alertmanager_routes": [{"receiver": "email", "matchers": ['instance=~"web(1"']}]},
        "bad regular expression in matcher 'instance=~\"web(1\"'",
    ),
    (
        {"alertmanager_routes": [{"receiver": "email", "mute_time_intervals": ["nights"]}]},
        "mute_time_intervals names 'nights', which is not in alertmanager_time_intervals",
    ),
    (
        {"alertmanager_time_intervals": {"nights": [{"weekdays": ["friday:monday"]}]}},
        "time interval 'nights': weekdays range 'friday:monday' ends before it starts",
    ),
    (
        {"alertmanager_time_intervals": {"work": [{"location": "Mars/Olympus"}]}},
        "time interval 'work': bad location 'Mars/Olympus' (a time zone",
    ),
    (
        {"alertmanager_heartbeat": {"receiver": "email", "interval": "1m"}},
        "alertmanager_heartbeat.receiver = 'email': expected the name of a webhook receiver",
    ),
    (
        {"alertmanager_receivers": {"pager": {"type": "pagerduty"}}},
        "alertmanager_receivers.pager is set, but secret 'alertmanager_receiver_pager' "
        "(credential of Alertmanager receiver 'pager' (its URL, routing key or bot token)) "
        "is missing",
    ),
    # Values that pass a loose check and then break out of the file they are written into.
    (
        {"alertmanager_email": {**EMAIL, "auth_username": 'a"\nsmtp_smarthost: evil:25\nb: "'}},
        "'alertmanager_email' holds a control character",
    ),
    (
        {"alertmanager_email": {**EMAIL, "recipients": ["ops@corp.tld\\x2cspy\\x40evil.tld"]}},
        "alertmanager_email.recipients = ['ops@corp.tld\\\\x2cspy\\\\x40evil.tld']: bad format",
    ),
    (
        {"blackbox_targets": ['https://a.corp.tld/", "https://b.corp.tld/']},
        "blackbox_targets = ['https://a.corp.tld/\", \"https://b.corp.tld/']: bad format",
    ),
    ({"domain": "mon.corp.tld\n"}, "'domain' holds a control character"),
    ({"proxy_users": {"admin\n": ["prometheus"]}}, "'proxy_users' holds a control character"),
    ({"node_exporter_extra_flags": ["--x\n"]}, "'node_exporter_extra_flags' holds a control"),
    (
        {"firewall_extra_rules": [{"port": 25, "comment": "mail; rm -rf /"}]},
        "comment must be at most 100 letters",
    ),
    ({"scrape_address": "0.0.0.0/0"}, "scrape_address = '0.0.0.0/0': 0.0.0.0/0 is a network of"),
    ({"scrape_address": "::/0"}, "scrape_address = '::/0': ::/0 is a network of"),
    ({"scrape_address": "10.0.0.0/24"}, "10.0.0.0/24 is a network of 256 addresses, not one host"),
    ({"listen_address": "0.0.0.0"}, "0.0.0.0 is not the address"),  # noqa: S104 (refused)
    ({"rollback_to": "../../../../tmp/x"}, "rollback_to = '../../../../tmp/x': bad format"),
    ({"rollback_to": {"obs": "x/../y"}}, "rollback_to = {'obs': 'x/../y'}: bad format"),
    ({"_sudo_password": "hunter2"}, "_sudo_password = 'hunter2': not supported"),
    ({"_sudo_user": "bob"}, "_sudo_user = 'bob': not supported"),
    ({"_su_user": "root"}, "_su_user = 'root': not supported"),
    ({"_sudo": "yes"}, "_sudo = 'yes': wrong type"),
    (
        {"proxy_users": {"ops": ["alertmanager_write"]}},
        "user 'ops': 'alertmanager_write' needs 'alertmanager' in the list too",
    ),
    (
        {"backup_repository": "ftp://backup.ops.lan/obs"},
        "backup_repository = 'ftp://backup.ops.lan/obs': bad format; expected None (no "
        "backups), a local path",
    ),
    ({"backup_repository": "/srv/backup; rm -rf /"}, "backup_repository = '/srv/backup; rm"),
    (
        {"backup_repository": "sftp:obs@vault.ops.lan:/srv/restic"},
        "backup_sftp_known_hosts: an sftp: repository needs it; expected a controller path",
    ),
    (
        {"backup_repository": "/srv/backup", "backup_s3_access_key_id": "AKIA123"},
        "backup_s3_access_key_id: set, but backup_repository is no s3: repository",
    ),
    ({"backup_schedule": "daily\nExecStart=/bin/sh"}, "'backup_schedule' holds a control"),
    ({"backup_schedule": "daily; reboot"}, "expected a systemd OnCalendar value"),
    ({"backup_keep": {"daily": 0, "weekly": 0, "monthly": 0}}, "backup_keep = {'daily': 0"),
    ({"backup_check_read_subset": "150%"}, "expected a percentage such as 5%"),
    (
        {"grafana_roles": {"viewer": "Admin"}},
        "grafana_roles.viewer: 'viewer' is no user of proxy_users with 'grafana' in its list",
    ),
]


class Listener:
    """A TCP port standing in for the host's SSH server; counts connection attempts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            connection, _ = self.server.accept()
            self.connections += 1
            connection.close()


@pytest.fixture(scope="module")
def listener() -> Listener:
    return Listener()


@pytest.fixture
def inventory(tmp_path, listener) -> str:
    store = tmp_path / "secrets"
    for name in (
        "proxy_password_admin",
        "grafana_admin_password",
        "backup_password",
        "backup_s3_secret_access_key",
    ):
        secrets.write(name, secrets.generate(), store)
    path = tmp_path / "target_site.py"
    host = {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": listener.port,
        "alertmanager_email": EMAIL,
        "domain": "monitoring.ops.lan",
        "acme_email": "ops@ops.lan",
        "secrets_dir": str(store),
    }
    path.write_text(f"observability = [('target', {host!r})]\n")
    return str(path)


@pytest.mark.parametrize(
    ("data", "expected"), CASES, ids=[f"{next(iter(d))}-{i}" for i, (d, _) in enumerate(CASES)]
)
def test_bad_input_is_named_and_no_host_is_contacted(inventory, listener, data, expected):
    before = listener.connections
    with pytest.raises(SettingsError) as error:
        run_deploy(inventory, data=data, echo=False)
    assert expected in str(error.value)
    assert listener.connections == before, "a host was contacted despite bad input"


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_secret_in_the_environment_stops_the_deploy(
    inventory, listener, monkeypatch, value
):
    """What an unset GitHub secret gives: the deploy must not write a passwordless login."""
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", value)
    before = listener.connections
    with pytest.raises(SettingsError) as error:
        run_deploy(inventory, echo=False)
    assert "proxy_users.admin is set, but secret 'proxy_password_admin'" in str(error.value)
    assert "$OBS_SECRET_PROXY_PASSWORD_ADMIN is empty" in str(error.value)
    assert listener.connections == before


def test_a_bad_host_name_is_refused(tmp_path, listener):
    inventory = tmp_path / "site.py"
    host = {"ssh_hostname": "127.0.0.1", "ssh_port": listener.port}
    inventory.write_text(f"monitored = [('web 1', {host!r})]\n")
    before = listener.connections
    with pytest.raises(SettingsError, match="host 'web 1': a host's name is its metrics'"):
        run_deploy(str(inventory), echo=False)
    assert listener.connections == before


def test_missing_secret_is_named_without_a_value(inventory, listener, tmp_path):
    email = {**EMAIL, "auth_username": "alerts"}
    with pytest.raises(SettingsError) as error:
        run_deploy(
            inventory, data={"alertmanager_email": email, "secrets_dir": str(tmp_path)}, echo=False
        )
    assert "alertmanager_email.auth_username is set, but secret 'smtp_password'" in str(error.value)
    assert str(tmp_path / "smtp_password") in str(error.value)
    assert listener.connections == 0


def test_the_listener_does_see_a_deploy_with_good_input(inventory, listener):
    """Control: with valid input the deploy does try the host, so the listener can tell."""
    before = listener.connections
    result = run_deploy(inventory, echo=False)
    assert not result.ok  # the listener is no SSH server
    assert listener.connections > before
