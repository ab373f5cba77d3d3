"""Alertmanager on the observability server: routes alerts to e-mail."""

from __future__ import annotations

from pyinfra import host

from obsstack import secrets
from obsstack.catalog.server import ALERTMANAGER_CONFIG_DIR, SMTP_PASSWORD
from obsstack.inventory import repo_path
from obsstack.serialize import MANAGED, yaml_file
from operations.archive import BIN_DIR
from operations.converge import ConfigFile

CA_FILE = f"{ALERTMANAGER_CONFIG_DIR}/smtp_ca.pem"


def config(email: dict, group_wait: str, group_interval: str, repeat_interval: str) -> dict:
    """alertmanager.yml: every alert mailed to the recipients, Watchdog to nowhere."""
    smtp = {
        "smtp_smarthost": email["smarthost"],
        "smtp_from": email["sender"],
        "smtp_require_tls": email["require_tls"],
    }
    if email["auth_username"]:
        smtp |= {
            "smtp_auth_username": email["auth_username"],
            "smtp_auth_password_file": SMTP_PASSWORD.kept_in,
        }
    tls = {"tls_config": {"ca_file": CA_FILE}} if email["ca_file"] else {}
    return {
        "global": smtp,
        "route": {
            "receiver": "email",
            "group_by": ["alertname", "instance"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            # Watchdog fires all the time to prove the pipeline works; it is not news.
            "routes": [{"receiver": "blackhole", "matchers": ['alertname="Watchdog"']}],
        },
        "receivers": [
            {"name": "blackhole"},
            {
                "name": "email",
                "email_configs": [
                    {"to": recipient, "send_resolved": True, **tls}
                    for recipient in email["recipients"]
                ],
            },
        ],
    }


def config_files() -> tuple[ConfigFile, ...]:
    """The relay's password and CA when it needs them, then alertmanager.yml."""
    email = host.data.alertmanager_email
    files = []
    if email["auth_username"]:
        password = secrets.read(SMTP_PASSWORD.name, repo_path(host.data.secrets_dir))
        files.append(ConfigFile(SMTP_PASSWORD.kept_in, password, secret=True))
    if email["ca_file"]:
        files.append(ConfigFile(CA_FILE, repo_path(email["ca_file"]).read_text(), mode="0644"))
    files.append(
        ConfigFile(
            f"{ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
            yaml_file(
                config(
                    email,
                    host.data.alertmanager_group_wait,
                    host.data.alertmanager_group_interval,
                    host.data.alertmanager_repeat_interval,
                ),
                MANAGED,
            ),
            validate=f"{BIN_DIR}/amtool check-config {{path}}",
        )
    )
    return tuple(files)
