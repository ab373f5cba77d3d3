"""Bad group data is refused with the file, the key, the value and the expected form."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from obsstack.catalog import OBSERVABILITY_SETTINGS
from obsstack.session import check_inputs
from obsstack.settings import SettingsError, check_data, check_host_data

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = {
    **runpy.run_path(str(REPO / "group_data" / "all.py")),
    **runpy.run_path(str(REPO / "group_data" / "observability.py")),
}
DEFAULTS = {key: value for key, value in DEFAULTS.items() if not key.startswith("_")}
VALID_EMAIL = {
    "smarthost": "smtp.mail.lan:587",
    "sender": "alerts@ops.lan",
    "recipients": ["team@ops.lan"],
    "auth_username": "alerts",
    "require_tls": True,
    "ca_file": None,
}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("prometheus_port", 70000, "prometheus_port = 70000: out of range; expected a TCP port"),
        ("prometheus_port", "9090", "prometheus_port = '9090': wrong type"),
        ("prometheus_retention_time", "30 days", "expected a Prometheus duration"),
        ("prometheus_retention_size", "10G", "expected 0 (no limit) or a size such as 10GB"),
        ("environment", "Prod", "expected a lowercase name"),
        ("prometheus_scrap_interval", "5s", "did you mean 'prometheus_scrape_interval'?"),
        ("config_backups_kept", 0, "config_backups_kept = 0: out of range"),
        (
            "releases",
            {"prometheus": {"version": "v3.14.0", "sha256": "a" * 64}},
            "releases.prometheus.version = 'v3.14.0': bad format; expected a version",
        ),
        (
            "releases",
            {"prometheus": {"version": "3.14.0", "sha256": "abc"}},
            "releases.prometheus.sha256 = 'abc': bad format; expected 64 lowercase hex",
        ),
        ("releases", {"grafna": {}}, "unknown key 'releases.grafna' (did you mean 'grafana'?)"),
        (
            "releases",
            {"grafana": {"version": "13.2.3", "sha256": "a" * 64}},
            "releases.grafana is missing build",
        ),
        (
            "releases",
            {"prometheus": {"version": "3.14.0"}},
            "releases.prometheus is missing sha256",
        ),
        ("alertmanager_email", "ops@x.lan", "wrong type; expected a dict with smarthost"),
        (
            "alertmanager_email",
            {**VALID_EMAIL, "sender": "not-an-address"},
            "alertmanager_email.sender = 'not-an-address': bad format",
        ),
        (
            "alertmanager_email",
            {**VALID_EMAIL, "recipients": ["ops@example.com"]},
            "placeholder 'example.com' left in",
        ),
        (
            "alertmanager_email",
            {**VALID_EMAIL, "smarthost": "smtp.lan"},
            "alertmanager_email.smarthost = 'smtp.lan': bad format; expected the SMTP relay as",
        ),
        (
            "alertmanager_email",
            {**VALID_EMAIL, "smarthost": "smtp.lan:99999"},
            "port out of range",
        ),
        ("alertmanager_email", {**VALID_EMAIL, "recipients": []}, "a non-empty list"),
        ("alertmanager_email", {**VALID_EMAIL, "require_tls": "yes"}, "expected True or False"),
        ("alert_rules", {"instance_down_for": "2 minutes"}, "alert_rules.instance_down_for"),
        ("prometheus_extra_rule_files", "rules.yml", "a list of controller paths"),
    ],
)
def test_bad_values_are_named_with_key_value_and_expectation(key, value, expected):
    problems = check_data({key: value}, "group_data/all.py")
    assert problems, f"{key}={value!r} was accepted"
    assert all(problem.startswith("group_data/all.py: ") for problem in problems)
    assert any(expected in problem for problem in problems), problems


def test_the_shipped_defaults_only_complain_about_placeholders():
    problems = check_data(DEFAULTS, "defaults")
    assert problems, "the shipped example.com addresses must be flagged"
    assert all("placeholder" in problem for problem in problems), problems


def test_pyinfra_connection_keys_are_not_ours_to_judge():
    assert check_data({"ssh_user": "deploy", "_sudo": True}, "inventory") == []


def test_missing_required_keys_are_listed_for_the_host():
    data = {key: value for key, value in DEFAULTS.items() if key != "releases"}
    data["alertmanager_email"] = VALID_EMAIL
    with pytest.raises(SettingsError, match=r"data of host obs: missing releases"):
        check_host_data("obs", {"observability"}, data)


def server_data(**changes) -> dict:
    return {
        **DEFAULTS,
        "alertmanager_email": VALID_EMAIL,
        "domain": "monitoring.ops.lan",
        "acme_email": "ops@ops.lan",
        **changes,
    }


def test_grafana_roles_name_proxy_users_who_may_open_grafana():
    users = {"alice": ["grafana"], "bob": ["prometheus"]}
    check_host_data("obs", {"observability"}, server_data(proxy_users=users))
    check_host_data(
        "obs", {"observability"}, server_data(proxy_users=users, grafana_roles={"alice": "Editor"})
    )
    for roles, user in (({"bob": "Admin"}, "bob"), ({"carol": "Viewer"}, "carol")):
        with pytest.raises(SettingsError, match=rf"grafana_roles\.{user}: '{user}' is no user"):
            check_host_data(
                "obs", {"observability"}, server_data(proxy_users=users, grafana_roles=roles)
            )


@pytest.mark.parametrize("roles", [{"alice": "editor"}, {"alice": "GrafanaAdmin"}, ["alice"]])
def test_a_grafana_role_is_one_grafana_knows(roles):
    (problem,) = check_data({"grafana_roles": roles}, "group_data/observability.py")
    assert "expected a dict {user: role} of proxy users, roles from Viewer, Editor" in problem


def test_monitored_hosts_do_not_need_server_settings():
    data = {key: value for key, value in DEFAULTS.items() if key not in OBSERVABILITY_SETTINGS}
    check_host_data("web1", {"monitored"}, data)


def test_production_example_is_refused_naming_the_file_of_each_placeholder():
    with pytest.raises(SettingsError) as error:
        check_inputs("inventories/production.py")
    message = str(error.value)
    assert (
        "group_data/observability.py: alertmanager_email.smarthost = 'smtp.example.com:587': "
        "placeholder 'example.com' left in" in message
    )
    assert message.count("alertmanager_email.smarthost") == 1, "one line per file and key"


def test_host_data_and_override_data_are_named_as_such(tmp_path):
    inventory = tmp_path / "site.py"
    inventory.write_text("monitored = [('web9', {'node_exporter_port': 0})]\n")
    with pytest.raises(SettingsError) as error:
        check_inputs(str(inventory), {"environment": "Bad Name"})
    message = str(error.value)
    assert f"{inventory}: node_exporter_port = 0: out of range" in message
    assert "--data: environment = 'Bad Name'" in message


def test_a_valid_inventory_passes(tmp_path):
    inventory = tmp_path / "site.py"
    inventory.write_text("monitored = ['web9.ops.lan']\n")
    check_inputs(str(inventory))


def test_missing_inventory_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"nope\.py: inventory file not found"):
        check_inputs(str(tmp_path / "nope.py"))
