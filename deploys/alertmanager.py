"""Alertmanager on the observability server: routes alerts to e-mail."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import files

from deploys.common import backups_kept, install_release
from obsstack import secrets
from obsstack.inventory import repo_path
from obsstack.render import render_template
from operations.config import managed_config
from operations.service import daemon_account, service

USER = "alertmanager"
CONFIG_DIR = "/etc/alertmanager"
DATA_DIR = "/var/lib/alertmanager"
PASSWORD_FILE = f"{CONFIG_DIR}/smtp_password"
CA_FILE = f"{CONFIG_DIR}/smtp_ca.pem"


def deploy() -> None:
    daemon_account(USER, home=DATA_DIR)
    binary = install_release("alertmanager")
    email = host.data.alertmanager_email
    files.directory(
        name=f"Create {CONFIG_DIR}", path=CONFIG_DIR, user="root", group=USER, mode="0750"
    )
    files_changed = []
    if email["auth_username"]:
        files_changed.append(
            managed_config(
                name="Alertmanager SMTP password",
                dest=PASSWORD_FILE,
                content=secrets.read("smtp_password", repo_path(host.data.secrets_dir)),
                group=USER,
                mode="0640",
                secret=True,
                keep_backups=backups_kept(),
            )
        )
    if email["ca_file"]:
        files_changed.append(
            managed_config(
                name="Alertmanager SMTP relay CA",
                dest=CA_FILE,
                content=repo_path(email["ca_file"]).read_text(),
                group=USER,
                mode="0644",
                keep_backups=backups_kept(),
            )
        )
    config = managed_config(
        name="Alertmanager configuration",
        dest=f"{CONFIG_DIR}/alertmanager.yml",
        content=render_template(
            "alertmanager/alertmanager.yml.j2",
            {
                "email": email,
                "password_file": PASSWORD_FILE,
                "ca_file": CA_FILE if email["ca_file"] else None,
                "group_wait": host.data.alertmanager_group_wait,
                "group_interval": host.data.alertmanager_group_interval,
                "repeat_interval": host.data.alertmanager_repeat_interval,
            },
        ),
        validate="/usr/local/bin/amtool check-config {path}",
        group=USER,
        mode="0640",
        keep_backups=backups_kept(),
    )
    service(
        "alertmanager.service",
        _unit(),
        restart_on=[binary],
        reload_on=[config, *files_changed],
        keep_backups=backups_kept(),
    )


def _unit() -> str:
    return render_template(
        "systemd/daemon.service.j2",
        {
            "description": "Prometheus Alertmanager",
            "documentation": "https://prometheus.io/docs/alerting/latest/alertmanager/",
            "user": USER,
            "exec_start": [
                "/usr/local/bin/alertmanager",
                f"--config.file={CONFIG_DIR}/alertmanager.yml",
                f"--storage.path={DATA_DIR}",
                f"--web.listen-address=:{host.data.alertmanager_port}",
                # A single server: no gossip port for a cluster that does not exist.
                "--cluster.listen-address=",
            ],
            "reload_signal": "HUP",
            "read_write_paths": [DATA_DIR],
            "address_families": ["AF_INET", "AF_INET6", "AF_UNIX"],
        },
    )
