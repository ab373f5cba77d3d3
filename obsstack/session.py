"""An inventory as one command sees it: loaded, described and checked once, with one SSH
connection per host that every script of the command reuses.

Read-only steps (preflight, health, releases, detection, the deploy log) gather what they
need from a host with one bash script per host over pyinfra's own connector (the
inventory's SSH settings, and sudo where the host's data sets ``_sudo``), all hosts in
parallel. The public functions here run in the command's worker (``obsstack.worker``),
which holds one ``Session`` per inventory: the first call loads the inventory with its
group data, later calls reuse it and its connections.

Example::

    from obsstack.session import check_inputs, describe_inventory, run_scripts
    check_inputs("inventories/lab.py")                   # raises SettingsError naming file and key
    hosts = describe_inventory("inventories/lab.py")     # [HostInfo(name='obs', ...), ...]
    results = run_scripts("inventories/lab.py", {h.name: "uname -m" for h in hosts})
    results["obs"].stdout                                 # 'x86_64\\n'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from obsstack.inventory import (
    check_inventory,
    load_inventory,
    monitored_hosts,
    repo_path,
    secrets_needed,
)
from obsstack.worker import in_worker

CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class HostInfo:
    """A host as the inventory and group data describe it (settings and its address)."""

    name: str
    groups: list[str]
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteResult:
    ok: bool
    stdout: str
    stderr: str
    connected: bool = True


class LimitError(Exception):
    """A ``--limit`` pattern that names no host."""


class Session:
    """One inventory, loaded once in the worker, and its hosts' connections."""

    def __init__(self, path: str) -> None:
        from pyinfra.api import Config, State

        from obsstack.settings import CONNECTION_SCHEMA, PRIVILEGE_KEYS, SCHEMA

        self.path = path
        self.inventory = load_inventory(path)
        self.state = State(inventory=self.inventory, config=Config(CONNECT_TIMEOUT=CONNECT_TIMEOUT))
        self.state.limit_hosts = []
        self.hosts = [
            HostInfo(
                host.name,
                list(host.groups),
                {
                    key: value
                    for key, value in host.data.dict().items()
                    if key in SCHEMA or key in CONNECTION_SCHEMA or key in PRIVILEGE_KEYS
                },
            )
            for host in self.inventory
        ]
        self._checked: set[str] = set()
        # One connection per host, whichever of the command's concurrent reads asks first:
        # connecting twice at once would leave a read waiting on the transport it lost.
        self._connecting: dict[str, Any] = {}

    def check_inputs(self, data: Mapping[str, Any]) -> None:
        """Every host's settings with ``data`` on top, checked once per distinct ``data``."""
        fingerprint = json.dumps(data, sort_keys=True, default=str)
        if fingerprint not in self._checked:
            check_inventory(self.inventory, self.path, data)
            self._checked.add(fingerprint)

    def run_scripts(self, scripts: Mapping[str, str], timeout: int) -> dict[str, RemoteResult]:
        """Each host's script with bash, all hosts at once; results by host name."""
        import gevent

        results: dict[str, RemoteResult] = {}

        def run(name: str) -> None:
            results[name] = self._run(name, scripts[name], timeout)

        gevent.joinall([gevent.spawn(run, name) for name in scripts])
        return results

    def _run(self, name: str, script: str, timeout: int) -> RemoteResult:
        from pyinfra.api import StringCommand
        from pyinfra.api.exceptions import ConnectError

        host = self.inventory.get_host(name)
        if host not in self.state.limit_hosts:
            self.state.limit_hosts.append(host)
        try:
            with self._connecting.setdefault(name, threading.Lock()):
                host.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as error:
            return RemoteResult(False, "", str(error.args[0]), False)
        try:
            ok, output = host.run_shell_command(
                StringCommand(script),
                print_output=False,
                print_input=False,
                _timeout=timeout,
                _shell_executable="bash",
                # A login user other than root becomes root the way the deploy does.
                _sudo=bool(host.data.get("_sudo")),
            )
        except Exception as error:  # the connection broke: the next script reconnects
            host.disconnect()
            return RemoteResult(False, "", f"{type(error).__name__}: {error}", False)
        return RemoteResult(ok, output.stdout, output.stderr)


_SESSIONS: dict[str, Session] = {}


def session(inventory: str) -> Session:
    """The worker's session on ``inventory``, opened on first use."""
    if inventory not in _SESSIONS:
        _SESSIONS[inventory] = Session(inventory)
    return _SESSIONS[inventory]


@in_worker
def check_inputs(inventory: str, data: Mapping[str, Any] | None = None) -> None:
    """Check every host's settings (with ``--data`` overrides); raise listing every problem."""
    session(inventory).check_inputs(dict(data or {}))


@in_worker
def describe_inventory(inventory: str) -> list[HostInfo]:
    """Every host of ``inventory`` with its groups and settings; connects to nothing."""
    return list(session(inventory).hosts)


@in_worker
def run_scripts(
    inventory: str, scripts: dict[str, str], timeout: int = 60
) -> dict[str, RemoteResult]:
    """Run each host's script with bash (hosts in ``scripts`` only); results by host name."""
    return session(inventory).run_scripts(scripts, timeout)


@in_worker
def secret_stores(inventory: str) -> dict[Path, set[str]]:
    """``{secret store: names of the secrets its hosts need}`` (``secrets_dir`` setting)."""
    stores: dict[Path, set[str]] = {}
    hosts = session(inventory).inventory
    monitored = monitored_hosts(hosts)
    for host in hosts:
        names = secrets_needed(host.name, host.groups, host.data.dict(), True, monitored)
        stores.setdefault(repo_path(host.data.secrets_dir), set()).update(names)
    return stores


def hosts_named(
    inventory: str, names: Iterable[str] | None = None, described: list[HostInfo] | None = None
) -> list[HostInfo]:
    """The hosts of ``inventory`` named in ``names`` (None: all), in inventory order;
    ``described``: the inventory's hosts, when the caller has them already."""
    wanted = None if names is None else set(names)
    return [
        host
        for host in described or describe_inventory(inventory)
        if wanted is None or host.name in wanted
    ]


def limit_patterns(limit: str | None) -> list[str]:
    """The patterns of a ``--limit`` value: comma-separated host names, globs or groups."""
    return [pattern.strip() for pattern in (limit or "").split(",") if pattern.strip()]


def select_hosts(hosts: list[HostInfo], limit: str | None) -> list[HostInfo]:
    """The hosts ``limit`` names, as pyinfra's ``--limit`` picks them (each pattern a group
    name, else a glob of host names), in inventory order; every host without a limit.

    LimitError for a pattern that matches nothing: a typo must not deploy to nobody.
    """
    patterns = limit_patterns(limit)
    if not patterns:
        return list(hosts)
    chosen: set[str] = set()
    for pattern in patterns:
        in_group = {host.name for host in hosts if pattern in host.groups}
        matched = in_group or {host.name for host in hosts if fnmatch(host.name, pattern)}
        if not matched:
            raise LimitError(
                f"--limit {pattern!r} matches no host or group of the inventory; hosts: "
                + ", ".join(host.name for host in hosts)
            )
        chosen |= matched
    return [host for host in hosts if host.name in chosen]
