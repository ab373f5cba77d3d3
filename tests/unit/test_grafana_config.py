"""Grafana's files as the deploy writes them: grafana.ini, the provisioning files, the
dashboards' places, the unit, and the admin password operation.

Grafana cannot be obtained on these machines, so no Grafana reads these files in any test
(the lab's stand-in reads only what tests/lab/test_grafana.py says).
They are golden files (tests/unit/golden/grafana/), reviewed against Grafana 13's
documentation (configuration, auth proxy, provisioning), and checked here for what they
must say; set UPDATE_GOLDEN=1 to write them anew.
"""

from __future__ import annotations

import configparser
import difflib
import json
import os
from pathlib import Path

import pytest
from fakehost import run_operation
from test_alloy_host import WEB, on_host

from deploys import grafana
from deploys.component import unit_text
from obsstack.catalog import COMPONENTS, setting_defaults
from obsstack.catalog.server import (
    GRAFANA,
    GRAFANA_ADMIN_PASSWORD,
    GRAFANA_FOLDERS,
    GRAFANA_ROLE_HEADER,
    GRAFANA_USER_HEADER,
    grafana_folder_dir,
)
from obsstack.dashboards.boards import BOARDS
from obsstack.serialize import MANAGED, IniFileValue, ini_file, ini_value, yaml_file

GOLDEN_DIR = Path(__file__).parent / "golden" / "grafana"
SETTINGS = {**setting_defaults(), "domain": "monitoring.example.org"}
ROOT_URL = "https://monitoring.example.org/"


def golden(name: str, text: str) -> None:
    """``text`` matches golden file ``name`` (written anew with UPDATE_GOLDEN=1)."""
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_text()
    diff = difflib.unified_diff(
        expected.splitlines(True), text.splitlines(True), f"golden/grafana/{name}", "rendered"
    )
    assert text == expected, "differs from its golden file (UPDATE_GOLDEN=1):\n" + "".join(diff)


def grafana_ini() -> str:
    return ini_file(grafana.config(SETTINGS, ROOT_URL), MANAGED)


CASES = {
    "grafana.ini": grafana_ini,
    "datasources.yml": lambda: yaml_file(grafana.datasources(SETTINGS), MANAGED),
    "dashboards.yml": lambda: yaml_file(grafana.dashboard_providers(), MANAGED),
    # The unit names no address of its host, only the links' root from the domain.
    "grafana.service": lambda: on_host(
        WEB, lambda: unit_text(GRAFANA), domain="monitoring.example.org"
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_file_matches_its_golden_file(name):
    golden(name, CASES[name]())


def parsed_ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
    parser.read_string(grafana_ini())
    return parser


def test_grafana_listens_on_loopback_under_the_sites_root():
    ini = parsed_ini()
    assert ini["server"]["http_addr"] == "127.0.0.1"
    assert ini["server"]["http_port"] == "3000"
    assert ini["server"]["root_url"] == ROOT_URL
    assert ini["server"]["serve_from_sub_path"] == "false"


def test_only_the_proxy_on_loopback_logs_people_in():
    ini = parsed_ini()
    proxy = ini["auth.proxy"]
    assert proxy["enabled"] == "true"
    assert proxy["header_name"] == GRAFANA_USER_HEADER
    assert proxy["headers"] == f"Role:{GRAFANA_ROLE_HEADER}"
    assert proxy["whitelist"] == "127.0.0.1, ::1"
    assert ini["auth"]["disable_login_form"] == "true"
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert ini["users"]["allow_sign_up"] == "false"
    assert ini["users"]["auto_assign_org_role"] == "Viewer"


def test_nothing_phones_home_or_downloads_at_start():
    ini = parsed_ini()
    for key in ("reporting_enabled", "check_for_updates", "check_for_plugin_updates"):
        assert ini["analytics"][key] == "false", key
    assert ini["plugins"]["preinstall_disabled"] == "true"
    assert ini["snapshots"]["external_enabled"] == "false"


def test_the_admin_password_is_read_from_its_file_never_written_here():
    text = grafana_ini()
    assert f"admin_password = $__file{{{GRAFANA_ADMIN_PASSWORD.kept_in}}}" in text
    assert GRAFANA_ADMIN_PASSWORD.kept_in in [
        directory.path + "/admin_password" for directory in GRAFANA.directories
    ]


@pytest.mark.parametrize(
    "value",
    ["a ; comment", "a # comment", '"quoted', "`tick", "${HOME}", "$__env{HOME}", "a\nb",
     " padded", "back\\slash"],
)
def test_the_ini_serializer_refuses_what_grafana_would_read_differently(value):
    with pytest.raises(ValueError):
        ini_value(value)


def test_the_ini_serializer_refuses_bad_names_and_a_file_value_with_a_bad_path():
    with pytest.raises(ValueError):
        ini_file({"server]\n[x": {"a": 1}}, MANAGED)
    with pytest.raises(ValueError):
        ini_file({"server": {"a = b": 1}}, MANAGED)
    with pytest.raises(ValueError):
        ini_value(IniFileValue("/etc/x}${HOME"))


def test_the_data_sources_have_the_uids_the_dashboards_name():
    document = grafana.datasources(SETTINGS)
    by_uid = {source["uid"]: source for source in document["datasources"]}
    assert set(by_uid) == {"prometheus", "loki", "alertmanager"}
    assert by_uid["prometheus"]["url"] == "http://127.0.0.1:9090/prometheus"
    assert by_uid["loki"]["url"] == "http://127.0.0.1:3100"
    assert by_uid["alertmanager"]["url"] == "http://127.0.0.1:9093/alertmanager"
    assert document["prune"] is True
    used = set()
    for text in grafana.dashboard_files().values():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                used.add(target.get("datasource", panel.get("datasource"))["uid"])
    assert used <= set(by_uid), f"dashboards name data sources nobody provisions: {used}"


def test_each_folder_has_its_provider_and_its_managed_directory():
    providers = grafana.dashboard_providers()["providers"]
    assert [provider["folder"] for provider in providers] == list(GRAFANA_FOLDERS)
    assert set(BOARDS) == set(GRAFANA_FOLDERS)
    directories = {directory.path: directory for directory in GRAFANA.directories}
    for provider in providers:
        path = provider["options"]["path"]
        assert directories[path].prune_suffix == ".json", path
        assert provider["allowUiUpdates"] is False
    for path in grafana.dashboard_files():
        folder_dir, _, name = path.rpartition("/")
        assert folder_dir in {grafana_folder_dir(folder) for folder in GRAFANA_FOLDERS}
        assert name.endswith(".json")


def test_grafana_is_scraped_proxied_and_checked():
    assert GRAFANA.scrape.job == "grafana"
    assert GRAFANA.proxy.path == "/"
    assert GRAFANA.health.ready_path == "/api/health"
    assert COMPONENTS["grafana"].unit.reload_signal is None
    assert GRAFANA.restart_on_config


CONNECT = "http://127.0.0.1:3000/api/user"


def test_the_admin_password_is_left_alone_while_grafana_accepts_it():
    run = run_operation(grafana.grafana_admin_password, {CONNECT: "200"}, port=3000)
    assert run.succeeded
    assert not [command for command in run.commands if "reset-admin-password" in command]


def test_a_refused_password_is_reset_from_its_file_on_stdin():
    run = run_operation(grafana.grafana_admin_password, {CONNECT: "401"}, port=3000)
    (reset,) = [command for command in run.commands if "reset-admin-password" in command]
    assert "--password-from-stdin" in reset
    assert reset.endswith(f"< {GRAFANA_ADMIN_PASSWORD.kept_in} >/dev/null")
    assert reset.startswith("runuser -u grafana -- /usr/local/bin/grafana cli")


def test_without_a_database_grafana_creates_it_with_the_files_password():
    run = run_operation(grafana.grafana_admin_password, {CONNECT: grafana.NO_DATABASE}, port=3000)
    assert run.succeeded
    assert not [command for command in run.commands if "reset-admin-password" in command]


def test_a_grafana_that_does_not_answer_gets_the_password_anyway():
    run = run_operation(grafana.grafana_admin_password, {CONNECT: "000"}, port=3000)
    assert [command for command in run.commands if "reset-admin-password" in command]
