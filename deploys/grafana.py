"""Grafana on the observability server: the dashboards, behind the proxy's one login.

Grafana listens on loopback and is the site's root (``https://<domain>/``). nginx checks
the proxy user's password and hands Grafana the user's name and role in headers that
Grafana trusts from loopback only (``[auth.proxy]``; deploys/proxy.py strips whatever a
client sends under those names). Grafana's own login form, sign-up, anonymous access,
update checks and usage reports are off; its alerting sends to our Alertmanager.

Everything is provisioned from files: grafana.ini, the data sources (Prometheus, Loki,
Alertmanager with fixed uids, the dashboards' references), one dashboard provider per
folder, and the dashboards rendered from obsstack.dashboards. Grafana reads them at start,
so a change restarts it; a release records them all, so a rollback restores them.

Grafana applies ``admin_password`` only when it creates its database; ``admin_password()``
sets the secret's password through Grafana's CLI (read from a file on stdin, never in a
command line) whenever Grafana's API refuses it.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from typing_extensions import override

from deploys.component import external_url
from obsstack import secrets
from obsstack.catalog.server import (
    ALERTMANAGER,
    GRAFANA,
    GRAFANA_ADMIN_PASSWORD,
    GRAFANA_CONFIG_DIR,
    GRAFANA_DATA_DIR,
    GRAFANA_FOLDERS,
    GRAFANA_PROVISIONING_DIR,
    GRAFANA_ROLE_HEADER,
    GRAFANA_USER_HEADER,
    LOKI,
    PROMETHEUS,
    grafana_folder_dir,
)
from obsstack.dashboards import render
from obsstack.dashboards.panels import LOKI_UID, PROMETHEUS_UID
from obsstack.inventory import repo_path
from obsstack.serialize import MANAGED, IniFileValue, ini_file, yaml_file
from operations.archive import BIN_DIR, home_link
from operations.converge import ConfigFile

CONFIG = f"{GRAFANA_CONFIG_DIR}/grafana.ini"
ADMIN_USER = "admin"
ALERTMANAGER_UID = "alertmanager"
DATASOURCES = f"{GRAFANA_PROVISIONING_DIR}/datasources/observability-stack.yml"
DASHBOARD_PROVIDERS = f"{GRAFANA_PROVISIONING_DIR}/dashboards/observability-stack.yml"


def config(settings: dict, root_url: str) -> dict:
    """grafana.ini's sections, from the server's settings."""
    return {
        "paths": {
            "data": GRAFANA_DATA_DIR,
            "logs": f"{GRAFANA_DATA_DIR}/log",
            "plugins": f"{GRAFANA_DATA_DIR}/plugins",
            "provisioning": GRAFANA_PROVISIONING_DIR,
        },
        "server": {
            "protocol": "http",
            "http_addr": "127.0.0.1",
            "http_port": settings["grafana_port"],
            "domain": settings["domain"],
            "root_url": root_url,
            "serve_from_sub_path": False,
        },
        "database": {"type": "sqlite3", "wal": True},
        "analytics": {
            "reporting_enabled": False,
            "check_for_updates": False,
            "check_for_plugin_updates": False,
            "feedback_links_enabled": False,
        },
        "security": {
            "admin_user": ADMIN_USER,
            # Read once, when Grafana creates its database; admin_password() keeps it true.
            "admin_password": IniFileValue(GRAFANA_ADMIN_PASSWORD.kept_in),
            "cookie_secure": True,
            "cookie_samesite": "lax",
            "disable_gravatar": True,
        },
        "users": {
            "allow_sign_up": False,
            "allow_org_create": False,
            "auto_assign_org": True,
            "auto_assign_org_role": "Viewer",
        },
        # People log in at the proxy; the admin account's password is for the API on
        # loopback (the proxy drops every Authorization header).
        "auth": {"disable_login_form": True, "disable_signout_menu": True},
        "auth.anonymous": {"enabled": False},
        "auth.basic": {"enabled": True},
        "auth.proxy": {
            "enabled": True,
            "header_name": GRAFANA_USER_HEADER,
            "header_property": "username",
            "auto_sign_up": True,
            "headers": f"Role:{GRAFANA_ROLE_HEADER}",
            "whitelist": "127.0.0.1, ::1",
            "enable_login_token": False,
        },
        "log": {"mode": "console", "level": "info"},
        "metrics": {"enabled": True},
        # Nothing downloaded at start: the plugins Grafana ships are all it runs.
        "plugins": {"preinstall_disabled": True},
        "news": {"news_feed_enabled": False},
        "snapshots": {"external_enabled": False},
        # Our alerting is Prometheus -> Alertmanager; Grafana's own rules, if anyone adds
        # one, go there too (the Alertmanager data source below).
        "unified_alerting": {"enabled": True},
    }


def datasources(settings: dict) -> dict:
    """The data sources' provisioning file: fixed uids, so dashboards can name them."""
    prometheus = PROMETHEUS.listen.number(settings)
    alertmanager = ALERTMANAGER.listen.number(settings)
    return {
        "apiVersion": 1,
        # Data sources these files provisioned before and no longer list are deleted.
        "prune": True,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": f"http://127.0.0.1:{prometheus}{PROMETHEUS.route_prefix}",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    "prometheusType": "Prometheus",
                    "timeInterval": settings["prometheus_scrape_interval"],
                },
            },
            {
                "name": "Loki",
                "type": "loki",
                "uid": LOKI_UID,
                "access": "proxy",
                "url": f"http://127.0.0.1:{LOKI.listen.number(settings)}",
                "editable": False,
                "jsonData": {"maxLines": 1000},
            },
            {
                "name": "Alertmanager",
                "type": "alertmanager",
                "uid": ALERTMANAGER_UID,
                "access": "proxy",
                "url": f"http://127.0.0.1:{alertmanager}{ALERTMANAGER.route_prefix}",
                "editable": False,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": True},
            },
        ],
    }


def dashboard_providers() -> dict:
    """One file provider per folder, each reading its own directory."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": f"observability-stack {folder}",
                "orgId": 1,
                "folder": folder,
                "folderUid": f"obs-{folder.lower()}",
                "type": "file",
                # Provisioned dashboards change in the repository, not in the UI.
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": grafana_folder_dir(folder)},
            }
            for folder in GRAFANA_FOLDERS
        ],
    }


def dashboard_files() -> dict[str, str]:
    """``{host path: dashboard JSON}`` of every dashboard, in its folder's directory (the
    folders of BOARDS are GRAFANA_FOLDERS: tests/unit/test_grafana_config.py)."""
    files = {}
    for name, text in render().items():
        folder, _, file_name = name.partition("/")
        files[f"{grafana_folder_dir(folder)}/{file_name}"] = text
    return files


def config_files() -> tuple[ConfigFile, ...]:
    """The admin password, the dashboards, the provisioning files, then grafana.ini."""
    settings = host.data.dict()
    store = repo_path(host.data.secrets_dir)
    return (
        ConfigFile(
            GRAFANA_ADMIN_PASSWORD.kept_in,
            secrets.read(GRAFANA_ADMIN_PASSWORD.name, store),
            secret=True,
        ),
        *(ConfigFile(path, text) for path, text in dashboard_files().items()),
        ConfigFile(DATASOURCES, yaml_file(datasources(settings), MANAGED)),
        ConfigFile(DASHBOARD_PROVIDERS, yaml_file(dashboard_providers(), MANAGED)),
        ConfigFile(CONFIG, ini_file(config(settings, external_url(GRAFANA)), MANAGED)),
    )


def _admin_curl_config() -> str:
    """Shell that prints a curl config logging in as the admin with the password file (the
    password's charset needs no quoting there)."""
    return (
        f"{{ printf 'user = \"{ADMIN_USER}:'; cat {GRAFANA_ADMIN_PASSWORD.kept_in};"
        " printf '\"\\n'; }"
    )


DATABASE = f"{GRAFANA_DATA_DIR}/grafana.db"
NO_DATABASE = "no database"


class AdminLogin(FactBase[str]):
    """
    Returns what Grafana's API on loopback answers the admin password file's password with:
    its HTTP status (``"200"``: accepted), ``"000"`` when it does not answer, or
    ``"no database"`` while Grafana has not created its database yet.

    + port: Grafana's port
    """

    @override
    def command(self, port: int) -> str:
        return (
            f"if [ ! -e {DATABASE} ]; then echo {NO_DATABASE!r}; else"
            f" {_admin_curl_config()} | curl -s -K - -o /dev/null -w '%{{http_code}}'"
            f" http://127.0.0.1:{port}/api/user; echo; fi"
        )

    @override
    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "000"


@operation()
def grafana_admin_password(port: int):
    """
    Make Grafana's admin password the one in its password file.

    + port: Grafana's port on loopback

    Grafana's CLI reads the password on stdin from the file, as the grafana user (its
    database's owner). Nothing is done while the API accepts the password, nor before
    Grafana has a database (it creates it with the file's password). When Grafana does
    not answer, the password is set anyway: that is safe, and not knowing is no reason to
    leave an old password in place.
    """
    answer = host.get_fact(AdminLogin, port=port)
    if answer == "200":
        host.noop("Grafana accepts the admin password")
        return
    if answer == NO_DATABASE:
        host.noop("Grafana creates its database with the admin password file's password")
        return
    account = GRAFANA.account.user
    yield StringCommand(
        f"runuser -u {account} -- {BIN_DIR}/grafana cli --homepath={home_link('grafana')}"
        f" --config={CONFIG} admin reset-admin-password --password-from-stdin"
        f" < {GRAFANA_ADMIN_PASSWORD.kept_in} >/dev/null"
    )


def admin_password() -> None:
    """After Grafana converged: its admin password is the secret's."""
    grafana_admin_password(
        name="Grafana's admin password is the secret's",
        port=GRAFANA.listen.number(host.data.dict()),
    )
