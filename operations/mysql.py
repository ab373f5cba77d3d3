"""A least-privilege MySQL/MariaDB account for monitoring, created from a file, never argv.

The password reaches the server only inside a 0600 SQL file that ``mysql`` reads on stdin
and that is removed right after, whether the statements succeed or not. ``mysql`` runs as
root over the server's socket (Debian's and Ubuntu's root use socket authentication).

Example (a deploy file)::

    from operations.mysql import MysqlUserExists, monitoring_user
    credentials = managed_config(name="Exporter credentials", dest="/etc/x/.my.cnf", ...)
    monitoring_user(name="MySQL monitoring user", user="exporter", password=secret)
    monitoring_user(
        name="New password for it", user="exporter", password=secret, force=True,
        _if=credentials.did_change,
    )
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from typing_extensions import override

from operations.upload import private_upload

SQL_FILE = "/root/.observability-stack-mysql-user.sql"
# What mysqld_exporter's default collectors read. MariaDB (executable comment, 10.5.9+)
# needs SLAVE MONITOR besides for replica status; MySQL ignores that comment.
PRIVILEGES = "PROCESS, REPLICATION CLIENT, SELECT"


class MysqlUserExists(FactBase[bool]):
    """
    Returns whether the account ``user``@localhost exists (False when no server answers).

    + user: the account name

    .. code:: python

        True
    """

    @override
    def command(self, user: str) -> StringCommand:
        _check_name(user)
        query = f"SELECT COUNT(*) FROM mysql.user WHERE User = '{user}' AND Host = 'localhost'"  # noqa: S608 (checked name)
        return StringCommand("mysql -NBe", QuoteString(query), "2>/dev/null || echo 0")

    @override
    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() not in ("", "0")


def _check_name(user: str) -> None:
    if not user.replace("_", "").isalnum():
        raise ValueError(f"MySQL user name {user!r}: letters, digits and underscores only")


def user_sql(user: str, password: str) -> str:
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    account = f"'{user}'@'localhost'"
    return (
        f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {quoted} WITH MAX_USER_CONNECTIONS 3;\n"
        f"ALTER USER {account} IDENTIFIED BY {quoted};\n"
        f"GRANT {PRIVILEGES} ON *.* TO {account};\n"
        f"/*M!100509 GRANT SLAVE MONITOR ON *.* TO {account} */;\n"
    )


@operation()
def monitoring_user(user: str, password: str, force: bool = False):
    """
    Create ``user``@localhost with read-only monitoring privileges, or set its password.

    + user: the account name (letters, digits and underscores)
    + password: its password; only ever written into a 0600 file
    + force: apply even when the account exists (give it ``_if=`` the change of the
      exporter's credentials file, so a new password reaches the server)

    Nothing runs when the account exists and ``force`` is not set.
    """
    _check_name(user)
    if not force and host.get_fact(MysqlUserExists, user=user):
        host.noop(f"MySQL user {user}@localhost exists")
        return
    q_sql = shlex.quote(SQL_FILE)
    yield StringCommand(f"install -m 0600 -o root -g root /dev/null {q_sql}")
    yield from private_upload(StringIO(user_sql(user, password)), SQL_FILE)
    yield StringCommand(f"mysql < {q_sql}; status=$?; rm -f {q_sql}; exit $status")


@operation()
def drop_monitoring_user(user: str):
    """Remove ``user``@localhost when it exists (no password involved)."""
    _check_name(user)
    if not host.get_fact(MysqlUserExists, user=user):
        host.noop(f"no MySQL user {user}@localhost")
        return
    yield StringCommand("mysql -e", QuoteString(f"DROP USER IF EXISTS '{user}'@'localhost'"))
