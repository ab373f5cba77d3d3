"""Load an inventory with its group data exactly as the pyinfra CLI does, and check it.

pyinfra's CLI loader monkey-patches the whole process for gevent when imported: this
runs in a command's worker (``obsstack.session`` opens the inventory there once).

Example (in the worker)::

    from obsstack.inventory import check_inventory, load_inventory
    inventory = load_inventory("inventories/lab.py")
    check_inventory(inventory, "inventories/lab.py", {})  # SettingsError naming file and key
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsstack import secrets
from obsstack.catalog import AGREEMENTS, secrets_needed
from obsstack.fields import instance_label
from obsstack.settings import (
    INVENTORY_NAME,
    SettingsError,
    check_data,
    missing_keys,
    raise_for,
)

if TYPE_CHECKING:
    from pyinfra.api import Host, Inventory

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_inventory(path: str) -> Inventory:
    """The inventory at ``path`` with group_data/ applied (pyinfra's own loader).

    Monkey-patches this process for gevent (pyinfra_cli does on import).
    """
    from pyinfra.api import State
    from pyinfra.context import ctx_inventory, ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).exists():
        raise SettingsError(f"{path}: inventory file not found")
    # pyinfra's loader executes the files inside a state context; give it a throwaway one.
    with ctx_state.use(State()):
        try:
            inventory = make_inventory(path, cwd=str(REPO_ROOT))
        except SettingsError:
            raise
        except Exception as error:  # the inventory's or a group data file's own code
            raise SettingsError(
                f"loading the inventory {path} failed: {type(error).__name__}: {error}"
            ) from error
    ctx_inventory.set(inventory)
    return inventory


def check_inventory(inventory: Inventory, path: str, data: Mapping[str, Any]) -> None:
    """Check every host's settings with ``data`` (``--data``) on top; raise naming the file
    each bad value is from."""
    problems = []
    monitored = monitored_hosts(inventory)
    for host in inventory:
        if not INVENTORY_NAME.fullmatch(instance_label(host.name)):
            problems.append(
                f"{path}: host {host.name!r}: a host's name is its metrics' instance label: "
                "letters, digits and . _ - only"
            )
        effective = {**host.data.dict(), **data}
        host_problems = []
        for key, value in effective.items():
            source = "--data" if key in data else source_of(inventory, host, key, path)
            host_problems += check_data({key: value}, source)
        # Settings that name each other, once each of them is valid on its own.
        problems += host_problems or [
            f"data of host {host.name}: {problem}"
            for agree in AGREEMENTS
            for problem in agree(effective)
        ]
        problems += missing_keys(host.name, set(host.groups), effective)
        problems += missing_secrets(host.name, set(host.groups), effective, monitored)
    raise_for(problems)


def monitored_hosts(inventory: Inventory) -> list[str]:
    """The instance labels of the inventory's monitored hosts."""
    return [instance_label(host.name) for host in inventory if "monitored" in host.groups]


def missing_secrets(
    name: str, groups: set[str], data: dict, monitored: list[str] | None = None
) -> list[str]:
    """Secrets the host's settings refer to that cannot be read (the value never shown);
    ``monitored``: the inventory's monitored hosts (``monitored_hosts``)."""
    if not isinstance(data.get("secrets_dir"), str):
        return []
    problems = []
    for secret, reason in secrets_needed(name, groups, data, monitored=monitored or []).items():
        try:
            secrets.read(secret, repo_path(data["secrets_dir"]))
        except secrets.SecretError as error:
            problems.append(f"data of host {name}: {reason}, but {error}")
    return problems


def source_of(inventory: Inventory, host: Host, key: str, inventory_path: str) -> str:
    """The file a host's value for ``key`` comes from, in pyinfra's order of precedence."""
    if key in inventory.get_host_data(host.name):
        return inventory_path
    # pyinfra lets a later group of the host override an earlier one.
    for group in reversed(host.groups):
        if key in inventory.get_group_data(group):
            group_file = f"group_data/{group}.py"
            if (REPO_ROOT / group_file).exists():
                return group_file
            return f"{inventory_path} (group {group})"
    return "group_data/all.py"


def repo_path(value: str) -> Path:
    """A controller path from settings: ``~`` expanded, relative to the repository root."""
    return REPO_ROOT / Path(value).expanduser()
