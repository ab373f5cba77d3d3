"""Describe an inventory's hosts and run a shell script on each, without a deploy.

Read-only tools (preflight, health, releases) gather what they need from a host with one
bash script per host over pyinfra's own connector (the inventory's SSH settings, and sudo
where the host's data sets ``_sudo``), all hosts in parallel. pyinfra's API needs gevent's
monkey-patching, so the work happens in a child process (``python -m obsstack.remote``)
and the caller gets plain data back.

Example::

    from obsstack.remote import describe_inventory, run_scripts
    hosts = describe_inventory("inventories/lab.py")     # [HostInfo(name='obs', ...), ...]
    results = run_scripts("inventories/lab.py", {h.name: "uname -m" for h in hosts})
    results["obs"].stdout                                 # 'x86_64\\n'
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


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


class RemoteError(Exception):
    """The inventory could not be loaded or the child process failed."""


def describe_inventory(inventory: str) -> list[HostInfo]:
    """Every host of ``inventory`` with its groups and settings; connects to nothing."""
    return [HostInfo(**host) for host in _child(["describe", inventory], "")]


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


class LimitError(Exception):
    """A ``--limit`` pattern that names no host."""


def run_scripts(
    inventory: str, scripts: dict[str, str], timeout: int = 60
) -> dict[str, RemoteResult]:
    """Run each host's script with bash (hosts in ``scripts`` only); results by host name."""
    results = _child(["run", inventory, str(timeout)], json.dumps(scripts))
    return {name: RemoteResult(**fields) for name, fields in results.items()}


def _child(argv: list[str], stdin: str) -> Any:
    child = subprocess.run(
        [sys.executable, "-m", "obsstack.remote", *argv],
        input=stdin,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RemoteError(f"{' '.join(argv[:2])} failed:\n{child.stderr.strip()}")
    return json.loads(child.stdout)


def _describe(inventory_path: str) -> list[dict]:
    from obsstack.inventory import load_inventory
    from obsstack.settings import CONNECTION_SCHEMA, PRIVILEGE_KEYS, SCHEMA

    return [
        asdict(
            HostInfo(
                host.name,
                list(host.groups),
                {
                    key: value
                    for key, value in host.data.dict().items()
                    if key in SCHEMA or key in CONNECTION_SCHEMA or key in PRIVILEGE_KEYS
                },
            )
        )
        for host in load_inventory(inventory_path)
    ]


def _run(inventory_path: str, scripts: dict[str, str], timeout: int) -> dict[str, dict]:
    import gevent
    from pyinfra.api import Config, State, StringCommand
    from pyinfra.api.exceptions import ConnectError

    from obsstack.inventory import load_inventory

    inventory = load_inventory(inventory_path)
    state = State(inventory=inventory, config=Config(CONNECT_TIMEOUT=10))
    hosts = [host for host in inventory if host.name in scripts]
    state.limit_hosts = hosts
    results: dict[str, dict] = {}

    def run(host) -> None:
        try:
            host.connect(show_errors=False, raise_exceptions=True)
        except ConnectError as error:
            results[host.name] = asdict(RemoteResult(False, "", str(error.args[0]), False))
            return
        ok, output = host.run_shell_command(
            StringCommand(scripts[host.name]),
            print_output=False,
            print_input=False,
            _timeout=timeout,
            _shell_executable="bash",
            # A login user other than root becomes root the way the deploy does.
            _sudo=bool(host.data.get("_sudo")),
        )
        results[host.name] = asdict(RemoteResult(ok, output.stdout, output.stderr))

    gevent.joinall([gevent.spawn(run, host) for host in hosts])
    return results


def main(argv: list[str]) -> None:
    from gevent import monkey

    monkey.patch_all()
    if argv[0] == "describe":
        print(json.dumps(_describe(argv[1])))
    else:
        print(json.dumps(_run(argv[1], json.loads(sys.stdin.read()), int(argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
