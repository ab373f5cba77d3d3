"""alertmanager.yml from settings, checked by Alertmanager's own amtool (Debian 13's 0.28.1,
the lab's version): every receiver type passes check-config, and the routing tree sends
each label set to the receivers the table below expects (``amtool config routes test``,
as promtool tests the rules). Our notification template renders with amtool's example
alerts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys import alertmanager
from obsstack.catalog import setting_defaults
from obsstack.catalog.alerting import RECEIVER_TYPES, alerting_problems
from obsstack.render import TEMPLATES_DIR
from obsstack.serialize import MANAGED, yaml_file

EMAIL = {
    "smarthost": "smtp.mail.lan:587",
    "sender": "alerts@ops.lan",
    "recipients": ["team@ops.lan", "oncall@ops.lan"],
    "auth_username": "alerts",
    "require_tls": True,
    "ca_file": "ca.pem",
}
# The README's example of a team's alerting: pages for production's critical alerts,
# chat for the rest in working hours, the database team's alerts to its list too, and
# the dead man's switch.
TEAM = {
    "alertmanager_receivers": {
        "pager": {"type": "pagerduty"},
        "chat": {"type": "slack", "channel": "#alerts"},
        "dba": {"type": "email", "to": ["dba@ops.lan"]},
        "heartbeat": {"type": "webhook"},
        "teams": {"type": "teams"},
        "telegram": {"type": "telegram", "chat_id": -1001234567890},
        "discord": {"type": "discord", "send_resolved": False},
    },
    "alertmanager_default_receiver": "email",
    "alertmanager_routes": [
        {"receiver": "dba", "matchers": ['alertname=~"Mysql.*"'], "continue": True},
        {
            "receiver": "pager",
            "matchers": ['severity="critical"', 'env="production"'],
            "continue": True,
        },
        {"receiver": "chat", "matchers": ['severity="critical"']},
        {
            "receiver": "chat",
            "matchers": ['severity="warning"'],
            "active_time_intervals": ["working-hours"],
            "group_by": ["alertname"],
            "repeat_interval": "12h",
        },
    ],
    "alertmanager_time_intervals": {
        "working-hours": [
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:00", "end_time": "17:00"}],
                "location": "Europe/Berlin",
            }
        ]
    },
    "alertmanager_heartbeat": {"receiver": "heartbeat", "interval": "1m"},
}
ROUTES = [
    # (settings, labels, receivers)
    ({}, {"alertname": "Watchdog", "severity": "none"}, ["blackhole"]),
    ({}, {"alertname": "InstanceDown", "severity": "critical"}, ["email"]),
    ({}, {"alertname": "NodeMemoryLow", "severity": "warning"}, ["email"]),
    (TEAM, {"alertname": "Watchdog", "severity": "none"}, ["heartbeat"]),
    (
        TEAM,
        {"alertname": "InstanceDown", "severity": "critical", "env": "production"},
        ["pager", "chat"],
    ),
    (TEAM, {"alertname": "InstanceDown", "severity": "critical", "env": "staging"}, ["chat"]),
    (TEAM, {"alertname": "NodeMemoryLow", "severity": "warning", "env": "production"}, ["chat"]),
    (TEAM, {"alertname": "BackupTooOld", "severity": "info"}, ["email"]),
    (
        TEAM,
        {"alertname": "MysqlDown", "severity": "critical", "env": "production"},
        ["dba", "pager", "chat"],
    ),
    (TEAM, {"alertname": "MysqlSlowQueries", "severity": "warning"}, ["dba", "chat"]),
]


@pytest.fixture(scope="module")
def amtool() -> Path:
    from obslab.debian import extract_binaries

    return extract_binaries("trixie") / "amtool"


def settings(**changes: Any) -> dict[str, Any]:
    return {**setting_defaults(), "alertmanager_email": EMAIL, **changes}


def write_config(directory: Path, values: dict[str, Any]) -> Path:
    """alertmanager.yml for ``values``, reading our template from the repository."""
    assert alerting_problems(values) == []
    config = alertmanager.config(values)
    config["templates"] = [str(TEMPLATES_DIR / "alertmanager" / "*.tmpl")]
    path = directory / "alertmanager.yml"
    path.write_text(yaml_file(config, MANAGED))
    return path


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def routes_test(
    amtool: Path, config: Path, receivers: list[str], labels: dict[str, str]
) -> subprocess.CompletedProcess:
    """``amtool config routes test``: exit 0 when ``labels`` go to exactly ``receivers``."""
    return run(
        [
            str(amtool),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={','.join(receivers)}",
            *(f"{key}={value}" for key, value in labels.items()),
        ]
    )


@pytest.mark.parametrize("team", [False, True], ids=["defaults", "team"])
def test_config_passes_amtool_check_config(tmp_path, amtool, team):
    path = write_config(tmp_path, settings(**(TEAM if team else {})))
    result = run([str(amtool), "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 1 templates" in result.stdout


@pytest.mark.parametrize(("changes", "labels", "receivers"), ROUTES)
def test_routes_send_each_alert_to_the_expected_receivers(
    tmp_path, amtool, changes, labels, receivers
):
    path = write_config(tmp_path, settings(**changes))
    result = routes_test(amtool, path, receivers, labels)
    assert result.returncode == 0, f"{labels} went to {result.stdout.strip()}, not {receivers}"


def test_a_wrong_expectation_fails_the_routes_test(tmp_path, amtool):
    """Control: amtool's check can fail, so the table above proves something."""
    path = write_config(tmp_path, settings(**TEAM))
    labels = {"alertname": "InstanceDown", "severity": "critical", "env": "production"}
    result = routes_test(amtool, path, ["email"], labels)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "pager,chat", result.stdout


def test_every_credential_is_read_from_a_file_never_inline():
    config = alertmanager.config(settings(**TEAM))
    notifiers = {
        name: receiver[key][0]
        for receiver in config["receivers"]
        for key in receiver
        if key != "name"
        for name in [receiver["name"]]
    }
    files = {
        "pager": "routing_key_file",
        "chat": "api_url_file",
        "heartbeat": "url_file",
        "teams": "webhook_url_file",
        "telegram": "bot_token_file",
        "discord": "webhook_url_file",
    }
    for name, field in files.items():
        assert notifiers[name][field] == f"/etc/alertmanager/receivers/{name}"
        inline = {"url", "api_url", "routing_key", "service_key", "webhook_url", "bot_token"}
        assert not inline & set(notifiers[name]), notifiers[name]
    assert config["global"]["smtp_auth_password_file"] == "/etc/alertmanager/smtp_password"
    assert notifiers["discord"]["send_resolved"] is False
    assert notifiers["chat"]["channel"] == "#alerts"


def test_watchdog_goes_first_to_the_heartbeat_on_every_group_interval():
    route = alertmanager.config(settings(**TEAM))["route"]
    watchdog = route["routes"][0]
    assert watchdog == {
        "receiver": "heartbeat",
        "matchers": ['alertname="Watchdog"'],
        "group_wait": "0s",
        "group_interval": "60s",
        "repeat_interval": "54s",
    }
    assert "continue" not in watchdog  # nothing else gets it
    quiet = alertmanager.config(settings())["route"]["routes"]
    assert quiet == [{"receiver": "blackhole", "matchers": ['alertname="Watchdog"']}]


def test_without_email_there_is_no_relay_and_no_email_receiver(tmp_path, amtool):
    values = settings(
        alertmanager_email=None,
        alertmanager_receivers={"chat": {"type": "slack"}},
        alertmanager_default_receiver="chat",
    )
    path = write_config(tmp_path, values)
    parsed = yaml.safe_load(path.read_text())
    assert "global" not in parsed
    assert [r["name"] for r in parsed["receivers"]] == ["blackhole", "chat"]
    assert run([str(amtool), "check-config", str(path)]).returncode == 0


@pytest.mark.parametrize(
    "username",
    ['alerts"\nsmtp_smarthost: evil.lan:25\nx: "', "alerts\\x2cspy", "a: b", "'; #"],
)
def test_a_value_never_escapes_its_place_in_the_file(username):
    """Whatever a value holds, the file read back gives exactly that value in its key."""
    values = settings(alertmanager_email={**EMAIL, "auth_username": username})
    parsed = yaml.safe_load(yaml_file(alertmanager.config(values), MANAGED))
    assert parsed["global"]["smtp_auth_username"] == username
    assert parsed["global"]["smtp_smarthost"] == EMAIL["smarthost"]


def test_relay_without_login_has_no_password_file(tmp_path, amtool):
    values = settings(alertmanager_email={**EMAIL, "auth_username": None, "ca_file": None})
    path = write_config(tmp_path, values)
    assert "smtp_auth" not in path.read_text() and "tls_config" not in path.read_text()
    assert run([str(amtool), "check-config", str(path)]).returncode == 0


def render_template(amtool, text: str) -> subprocess.CompletedProcess:
    """amtool's rendering of ``text`` with our template loaded (amtool's example alerts)."""
    template = TEMPLATES_DIR / "alertmanager" / alertmanager.TEMPLATE_NAME
    glob, text_flag = f"--template.glob={template}", f"--template.text={text}"
    return run([str(amtool), "template", "render", glob, text_flag])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{{ template "obs.title" . }}', "[ALERTSTATUS] "),
        ('{{ template "obs.pagerduty.severity" . }}', "info"),
        ('{{ template "obs.runbook" . }}', "https://example.com"),
    ],
)
def test_template_renders_with_amtool(amtool, text, expected):
    result = render_template(amtool, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_template_body_says_what_where_since_and_links(amtool):
    result = render_template(amtool, '{{ template "obs.text" . }}')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "FIRING: "
    assert "Where: foo.bar:1234" in lines
    assert any(line.startswith("Since: ") and line.endswith(" UTC") for line in lines)
    assert "Graph: https://generatorurl.com" in lines
    assert lines[-1] == "Silence or see all: https://example.com/#/alerts"
    assert any(", resolved " in line for line in lines)


def test_the_deploys_template_check_refuses_a_broken_template(tmp_path, amtool):
    broken = tmp_path / "broken.tmpl"
    broken.write_text('{{ define "obs.title" }}{{ .Status {{ end }}')
    good = TEMPLATES_DIR / "alertmanager" / alertmanager.TEMPLATE_NAME
    check = alertmanager.TEMPLATE_CHECK.replace("/usr/local/bin/amtool", str(amtool))
    # As the deploy fills it in (operations/config.py: str.format).
    assert run(["sh", "-c", check.format(path=broken)]).returncode != 0
    assert run(["sh", "-c", check.format(path=good)]).returncode == 0
    # A template that parses but lacks the title the receivers use is refused too.
    other = tmp_path / "other.tmpl"
    other.write_text('{{ define "other" }}x{{ end }}')
    assert run(["sh", "-c", check.format(path=other)]).returncode != 0


def test_every_receiver_type_has_a_notifier_and_is_in_the_checked_example():
    """The catalog's types and the deploy's notifiers agree, and TEAM (checked by amtool
    above) holds one receiver of each type."""
    assert set(alertmanager.NOTIFIERS) == set(RECEIVER_TYPES) - {"email"}
    assert {spec["type"] for spec in TEAM["alertmanager_receivers"].values()} == set(
        RECEIVER_TYPES
    )
