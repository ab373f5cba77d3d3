"""A daemon's system account: its user and the group of the same name, read and set alone.

pyinfra's ``server.user`` decides with the ``Users`` fact, which lists every account of the
host with its groups (a command per account); a daemon's account needs only its own entry,
read with ``getent``. The same commands as pyinfra's (``groupadd``/``useradd``/``usermod``/
``userdel``/``groupdel``), from the facts' answer.

Example (a deploy file)::

    from operations.account import system_account
    system_account(name="Account node-exp", user="node-exp", home="/var/lib/node_exporter")
    system_account(name="Remove account node-exp", user="node-exp", present=False)
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, operation
from pyinfra.api.exceptions import FactProcessError, OperationError
from typing_extensions import override

NOLOGIN = "/usr/sbin/nologin"
# What useradd accepts on Debian (NAME_REGEX of adduser.conf, without upper case).
ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]*")
GROUP_LINE = "group="
GROUPS_LINE = "groups="


class SystemAccount(FactBase[dict[str, Any] | None]):
    """
    Returns the passwd entry of ``user`` and whether its group of the same name exists;
    ``None`` when neither exists.

    + user: the account's name

    .. code:: python

        {"uid": 998, "gid": 998, "home": "/var/lib/node_exporter",
         "shell": "/usr/sbin/nologin", "group_gid": 998}
    """

    @override
    def command(self, user: str) -> str:
        _check_name(user)
        # getent exits 2 for "no such entry": only other failures fail the fact.
        return (
            f"getent passwd {user}; s=$?; [ $s -le 2 ] || exit $s; "
            f"printf '{GROUP_LINE}'; getent group {user}; s=$?; [ $s -le 2 ] || exit $s; echo"
        )

    @override
    def process(self, output: list[str]) -> dict[str, Any] | None:
        lines = [line.strip() for line in output if line.strip()]
        passwd = [line for line in lines if not line.startswith(GROUP_LINE)]
        groups = [line[len(GROUP_LINE) :] for line in lines if line.startswith(GROUP_LINE)]
        if len(groups) != 1 or len(passwd) > 1:
            raise FactProcessError(f"unexpected getent output: {output!r}")
        if not passwd and not groups[0]:
            return None
        group = groups[0].split(":")
        if groups[0] and len(group) != 4:
            raise FactProcessError(f"unexpected group entry: {groups[0]!r}")
        account: dict[str, Any] = {"group_gid": int(group[2]) if groups[0] else None}
        if passwd:
            fields = passwd[0].split(":")
            if len(fields) != 7:
                raise FactProcessError(f"unexpected passwd entry: {passwd[0]!r}")
            account |= {
                "uid": int(fields[2]),
                "gid": int(fields[3]),
                "home": fields[5],
                "shell": fields[6],
            }
        return account


class SupplementaryGroups(FactBase[list[str] | None]):
    """
    Returns the groups ``user`` is a member of besides its primary group (sorted), or
    ``None`` when there is no such user.

    + user: the account's name

    .. code:: python

        ["adm", "systemd-journal"]
    """

    @override
    def command(self, user: str) -> str:
        _check_name(user)
        # The primary group first, then every group (the primary among them).
        return (
            f"if getent passwd {user} >/dev/null; then"
            f" echo {GROUPS_LINE}$(id -gn {user}) $(id -Gn {user}); fi"
        )

    @override
    def process(self, output: list[str]) -> list[str] | None:
        lines = [line.strip() for line in output if line.strip()]
        if not lines:
            return None
        if len(lines) != 1 or not lines[0].startswith(GROUPS_LINE):
            raise FactProcessError(f"unexpected id output: {output!r}")
        primary, *groups = lines[0][len(GROUPS_LINE) :].split()
        return sorted(set(groups) - {primary})


@operation()
def system_account(
    user: str, home: str | None = None, present: bool = True, groups: Sequence[str] = ()
):
    """
    Add or remove a daemon's system account: a user with no login shell and the group of
    the same name as its primary group. The home directory is not created here.

    + user: the account's name (letters, digits, ``_`` and ``-``)
    + home: its home directory (required when present)
    + present: whether the account should exist
    + groups: when given, exactly the groups it is a member of besides its own (they must
      exist, e.g. ``systemd-journal``); when empty, its other groups are left as they are

    **Example:**

    .. code:: python

        system_account(name="Account node-exp", user="node-exp", home="/var/lib/node_exporter")
    """
    _check_name(user)
    account = host.get_fact(SystemAccount, user=user)
    quoted = shlex.quote(user)
    if not present:
        if account is None:
            host.noop(f"account {user} does not exist")
            return
        if "uid" in account:
            yield f"userdel {quoted}"
        if account["group_gid"] is not None:
            # userdel removes the user's own group too (USERGROUPS_ENAB), when it can.
            yield f"if getent group {quoted} >/dev/null; then groupdel {quoted}; fi"
        return
    if home is None:
        raise OperationError(f"system_account {user}: a present account needs a home")
    for group in groups:
        _check_name(group)
    wanted_groups = sorted(set(groups))
    account = account or {"group_gid": None}
    if account["group_gid"] is None:
        yield f"groupadd --system {quoted}"
    if "uid" not in account:
        yield (
            f"useradd --system --gid {quoted} --home-dir {shlex.quote(home)} --no-create-home"
            f" --shell {NOLOGIN}"
            + (f" --groups {','.join(wanted_groups)}" if wanted_groups else "")
            + f" {quoted}"
        )
        return
    changes = []
    if wanted_groups and host.get_fact(SupplementaryGroups, user=user) != wanted_groups:
        changes.append(f"--groups {','.join(wanted_groups)}")
    if account["group_gid"] is None or account["gid"] != account["group_gid"]:
        changes.append(f"--gid {quoted}")
    if account["home"] != home:
        changes.append(f"--home {shlex.quote(home)}")
    if account["shell"] != NOLOGIN:
        changes.append(f"--shell {NOLOGIN}")
    if changes:
        yield f"usermod {' '.join(changes)} {quoted}"
    else:
        host.noop(f"account {user} exists as it should")


def _check_name(user: str) -> None:
    if not ACCOUNT_NAME.fullmatch(user) or len(user) > 32:
        raise OperationError(f"{user!r} is not an account name (letters, digits, _ and -)")
