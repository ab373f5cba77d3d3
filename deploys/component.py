"""A catalog entry made real on the host being deployed: its desired state, its hooks, and
its removal.

The entry says what the component is (``obsstack.catalog``); its deploy module, if it has
one, adds what data cannot say, through the hooks the entry names
(``deploys.prometheus:config_files``).

Example (a deploy file)::

    from deploys.component import desired_state, remove, run_hook, with_current_secrets
    from obsstack.catalog.agents import NGINX_EXPORTER
    run_hook(NGINX_EXPORTER.hooks.before)     # its stub_status server in nginx
    converge(desired_state(NGINX_EXPORTER), installation())
    remove(NGINX_EXPORTER, purge=False)       # or take it away again
    # A rollback: a recorded release's state, with today's secrets.
    recorded = DesiredState.from_record(record)
    converge(with_current_secrets(recorded, NGINX_EXPORTER), installation())
"""

from __future__ import annotations

from dataclasses import replace
from importlib import import_module
from typing import Any

from pyinfra import host
from pyinfra.operations import files

from deploys.common import exporter_address, pinned
from obsstack.catalog.schema import Component, UnitContext
from obsstack.render import render_template
from obsstack.serialize import systemd_word
from operations.archive import BIN_DIR
from operations.converge import DesiredState, ManagedDirectory, retire
from operations.service import remove_daemon_account


def run_hook(reference: str | None) -> Any:
    """Call the ``module:function`` a catalog entry names (nothing for None)."""
    if reference is None:
        return None
    module, _, function = reference.partition(":")
    return getattr(import_module(module), function)()


def desired_state(component: Component) -> DesiredState:
    """The component as this host must run it: release pin, account, unit, directories and
    the config files its ``files`` hook renders."""
    assert component.unit is not None, f"{component.name} has no unit to converge"
    return DesiredState(
        name=component.name,
        unit=component.unit.name,
        **(pinned(component.name) if component.archive else {}),
        user=component.account.user if component.account else None,
        home=component.account.home if component.account else None,
        groups=component.account.groups if component.account else (),
        packages=component.packages,
        unit_text=unit_text(component) if component.unit.flags else None,
        config_dirs=tuple(
            ManagedDirectory(directory.path, directory.prune_suffix, directory.group)
            for directory in component.directories
        ),
        files=run_hook(component.hooks.files) or (),
        restart_on_config=component.restart_on_config,
    )


def with_current_secrets(recorded: DesiredState, component: Component) -> DesiredState:
    """A recorded release's state of ``component`` with today's secrets in its secret files.

    A release keeps no secret (``content=None``: keep the file as it is), so a rollback
    cannot restore an old one; but a file removed since that release (the component was
    taken off, then rolled back to) must not leave the daemon, or nginx's password check,
    without one. A secret file the ``files`` hook no longer renders stays as it is.
    """
    if not any(config.secret and config.content is None for config in recorded.files):
        return recorded
    current = {
        config.path: config.content
        for config in run_hook(component.hooks.files) or ()
        if config.secret
    }
    return replace(
        recorded,
        files=tuple(
            replace(config, content=current.get(config.path))
            if config.secret and config.content is None
            else config
            for config in recorded.files
        ),
    )


def external_url(component: Component) -> str:
    """Where users reach ``component`` through the proxy: what it puts in its links."""
    assert component.proxy is not None, f"{component.name} is not behind the proxy"
    return f"https://{host.data.domain}{component.proxy.path}"


def unit_text(component: Component) -> str:
    """The hardened systemd unit the component's first binary runs under."""
    unit, archive, account = component.unit, component.archive, component.account
    assert unit and unit.flags and archive and account, f"{component.name} has no unit of ours"
    context = UnitContext(
        settings=host.data.dict(),
        listen=(
            exporter_address(component.listen.number(host.data.dict()))
            if component.listen
            else None
        ),
        external_url=external_url(component) if component.proxy else None,
    )
    return render_template(
        "systemd/daemon.service.j2",
        {
            "description": unit.description,
            "documentation": unit.documentation,
            "user": account.user,
            "exec_start": [
                systemd_word(argument)
                for argument in [f"{BIN_DIR}/{archive.binaries[0]}", *unit.flags(context)]
            ],
            "reload_signal": unit.reload_signal,
            "read_write_paths": list(unit.read_write),
            "address_families": list(unit.address_families),
        },
    )


def remove(component: Component, purge: bool) -> None:
    """Take the component off the host: its program and unit, what its ``remove`` hook
    adds, its directories; with ``purge``, its account and data too."""
    if component.archive and component.unit:
        retire(component.name, component.unit.name, component.archive.binaries)
    run_hook(component.hooks.remove)
    for path in host.loop(component.removed_paths):
        files.directory(name=f"Remove {path}", path=path, present=False)
    if purge and component.account:
        remove_daemon_account(component.account.user, component.account.home)
