"""MySQL/MariaDB agent: a monitoring account with read-only privileges, and mysqld_exporter.

The account's password is the secret ``mysql_exporter_password``; it exists on the host
only in mysqld_exporter's credentials file (0640 root:mysqld-exp) and, for an instant, in
the 0600 SQL file that sets it. Without the agent, exporter, credentials and account go.
"""

from __future__ import annotations

from pyinfra import host

from deploys.common import daemon_unit, exporter_address, pinned
from obsstack import secrets
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.inventory import repo_path
from operations.converge import ConfigFile, DesiredState, ManagedDirectory, retire
from operations.digest import KeyedSha256File, keyed_sha256
from operations.mysql import drop_monitoring_user, monitoring_user

USER = "mysqld-exp"
UNIT = "mysqld_exporter.service"
CONFIG_DIR = "/etc/mysqld_exporter"
CREDENTIALS = f"{CONFIG_DIR}/.my.cnf"
DATA_DIR = "/var/lib/mysqld_exporter"
ACCOUNT = "obs_exporter"
SECRET = "mysql_exporter_password"  # noqa: S105 (the secret's name)


def password() -> str:
    return secrets.read(SECRET, repo_path(host.data.secrets_dir))


def credentials() -> str:
    return (
        "# Managed by observability-stack: mysqld_exporter's login.\n"
        f"[client]\nuser={ACCOUNT}\npassword={password()}\n"
    )


def account() -> None:
    """The monitoring account, before the exporter that logs in with it.

    A credentials file about to change means a new password: the server gets it first.
    """
    monitoring_user(
        name=f"MySQL account {ACCOUNT}@localhost",
        user=ACCOUNT,
        password=password(),
        force=host.get_fact(KeyedSha256File, path=CREDENTIALS) != keyed_sha256(credentials()),
    )


def component() -> DesiredState:
    return DesiredState(
        name="mysqld_exporter",
        **pinned("mysqld_exporter"),
        user=USER,
        home=DATA_DIR,
        unit=UNIT,
        unit_text=daemon_unit(
            description="Prometheus mysqld_exporter (MySQL/MariaDB metrics)",
            documentation="https://github.com/prometheus/mysqld_exporter",
            user=USER,
            exec_start=[
                "/usr/local/bin/mysqld_exporter",
                f"--config.my-cnf={CREDENTIALS}",
                f"--web.listen-address={exporter_address(host.data.mysqld_exporter_port)}",
            ],
            read_write_paths=[],
            reload_signal=None,
        ),
        config_dirs=(ManagedDirectory(CONFIG_DIR),),
        files=(ConfigFile(CREDENTIALS, credentials(), secret=True),),
        restart_on_config=True,
    )


def remove(purge: bool = False) -> None:
    """No MySQL agent: no exporter, credentials or account; with ``purge``, no daemon account
    either."""
    retire(
        "mysqld_exporter",
        UNIT,
        RELEASE_ARCHIVES["mysqld_exporter"].binaries,
        CONFIG_DIR,
        data_dir=DATA_DIR if purge else None,
        user=USER if purge else None,
    )
    drop_monitoring_user(name=f"Drop MySQL account {ACCOUNT}@localhost", user=ACCOUNT)
