"""Daemon accounts and systemd services, composed from pyinfra's own operations and ours.

``service`` installs the unit through ``managed_config`` (backup, atomic swap), then
restarts only when the unit or the binary changed, reloads when only configs changed, and
keeps the service enabled and running.

Example (a deploy file)::

    from operations.service import daemon_account, remove_daemon_account, service
    daemon_account("node-exp", home="/var/lib/node_exporter")
    service("node_exporter.service", unit_text, restart_on=[install], reload_on=[])
    remove_daemon_account("node-exp", home="/var/lib/node_exporter")   # a purge
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server, systemd

from operations.account import system_account
from operations.config import managed_config


def daemon_account(user: str, home: str, groups: Sequence[str] = ()) -> None:
    """A system user and group of the same name with no login shell, owning ``home``, in
    exactly the supplementary ``groups``."""
    system_account(name=f"Create system user {user}", user=user, home=home, groups=groups)
    files.directory(
        name=f"Create {home}", path=home, user=user, group=user, mode="0750", present=True
    )


def remove_daemon_account(user: str, home: str) -> None:
    """The account ``daemon_account`` made, its group and its home, with all it holds."""
    files.directory(name=f"Purge {home}", path=home, present=False)
    system_account(name=f"Remove user {user}", user=user, present=False)


def service(
    unit: str,
    unit_text: str | None,
    restart_on: Sequence[OperationMeta] = (),
    reload_on: Sequence[OperationMeta] = (),
    keep_backups: int = 10,
) -> None:
    """Install ``unit`` and converge it: enabled, running, restarted or reloaded on change.

    ``unit_text`` None leaves the unit file to the package that ships it.
    """
    restart_triggers = tuple(restart_on)
    if unit_text is not None:
        unit_file = managed_config(
            name=f"Unit file /etc/systemd/system/{unit}",
            dest=f"/etc/systemd/system/{unit}",
            content=unit_text,
            keep_backups=keep_backups,
        )
        restart_triggers = (unit_file, *restart_triggers)
        systemd.daemon_reload(name=f"Reload systemd units for {unit}", _if=unit_file.did_change)

    def restart_needed() -> bool:
        return any(op.did_change() for op in restart_triggers)

    def only_reload_needed() -> bool:
        return any(op.did_change() for op in reload_on) and not restart_needed()

    systemd.service(
        name=f"Restart {unit} (unit or binary changed)",
        service=unit,
        restarted=True,
        _if=restart_needed,
    )
    systemd.service(
        name=f"Reload {unit} (configuration changed)",
        service=unit,
        reloaded=True,
        _if=only_reload_needed,
    )
    # Last, so a first install starts once instead of start-then-restart.
    systemd.service(name=f"Enable and start {unit}", service=unit, running=True, enabled=True)


def reload_if_running(unit: str, reason: str, when: Callable[[], bool]) -> None:
    """Reload ``unit`` once ``when()`` holds at execution, only if it runs: a service of
    the user's that is stopped reads the new configuration when it starts."""
    server.shell(
        name=f"Reload {unit} if it runs ({reason})",
        commands=[f"systemctl try-reload-or-restart {shlex.quote(unit)}"],
        _if=when,
    )
