"""MySQL/MariaDB agent: a monitoring account with read-only privileges, and mysqld_exporter.

The account's password is the secret ``mysql_exporter_password``; it exists on the host
only in mysqld_exporter's credentials file (0640 root:mysqld-exp) and, for an instant, in
the 0600 SQL file that sets it. Without the agent, exporter, credentials and account go.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from obsstack import secrets
from obsstack.catalog.agents import MYSQL_EXPORTER_PASSWORD, MYSQLD_CREDENTIALS
from obsstack.inventory import repo_path
from operations.converge import ConfigFile
from operations.digest import KeyedSha256File, keyed_sha256
from operations.mysql import drop_monitoring_user, monitoring_user

ACCOUNT = "obs_exporter"


def password() -> str:
    return secrets.read(MYSQL_EXPORTER_PASSWORD.name, repo_path(host.data.secrets_dir))


def credentials() -> str:
    return (
        "# Managed by observability-stack: mysqld_exporter's login.\n"
        f"[client]\nuser={ACCOUNT}\npassword={password()}\n"
    )


@deploy("MySQL monitoring account")
def account() -> None:
    """The monitoring account, before the exporter that logs in with it.

    A credentials file about to change means a new password: the server gets it first.
    """
    monitoring_user(
        name=f"MySQL account {ACCOUNT}@localhost",
        user=ACCOUNT,
        password=password(),
        force=(
            host.get_fact(KeyedSha256File, path=MYSQLD_CREDENTIALS)
            != keyed_sha256(credentials())
        ),
    )


def config_files() -> tuple[ConfigFile, ...]:
    """Its credentials: read at start only, so a new password restarts it."""
    return (ConfigFile(MYSQLD_CREDENTIALS, credentials(), secret=True),)


@deploy("Drop the MySQL monitoring account")
def drop_account() -> None:
    """No MySQL agent: no monitoring account either."""
    drop_monitoring_user(name=f"Drop MySQL account {ACCOUNT}@localhost", user=ACCOUNT)
