"""Load an inventory with its group data exactly as the pyinfra CLI does, without connecting.

Example::

    from obsstack.inventory import load_inventory
    for host in load_inventory("inventories/lab.py"):
        print(host.name, host.groups, host.data.get("environment"))
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import Host, Inventory, State
from pyinfra.context import ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory

from obsstack.settings import SettingsError, check_data, missing_keys, raise_for

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_inventory(path: str, override_data: dict | None = None) -> Inventory:
    """The inventory at ``path`` with group_data/ applied (pyinfra's own loader)."""
    if not Path(path).exists():
        raise SettingsError(f"{path}: inventory file not found")
    # pyinfra's loader executes the files inside a state context; give it a throwaway one.
    with ctx_state.use(State()):
        inventory = make_inventory(path, cwd=str(REPO_ROOT), override_data=override_data)
    ctx_inventory.set(inventory)
    return inventory


def check_inventory(path: str, override_data: dict | None = None) -> Inventory:
    """Check every host's effective settings; raise naming the file each bad value is from."""
    inventory = load_inventory(path, override_data)
    problems = []
    for host in inventory:
        data = host.data.dict()
        for key, value in data.items():
            problems += check_data({key: value}, source_of(inventory, host, key, path))
        problems += missing_keys(host.name, set(host.groups), data)
    raise_for(problems)
    return inventory


def source_of(inventory: Inventory, host: Host, key: str, inventory_path: str) -> str:
    """The file a host's value for ``key`` comes from, in pyinfra's order of precedence."""
    if key in (inventory.get_override_data() or {}):
        return "--data"
    if key in inventory.get_host_data(host.name):
        return inventory_path
    # pyinfra lets a later group of the host override an earlier one.
    for group in reversed(host.groups):
        if key in inventory.get_group_data(group):
            return f"group_data/{group}.py"
    return "group_data/all.py"


def repo_path(value: str) -> Path:
    """A controller path from settings: ``~`` expanded, relative to the repository root."""
    return REPO_ROOT / Path(value).expanduser()


def secrets_dirs(path: str) -> set[Path]:
    """The secret stores the hosts of an inventory read from (``secrets_dir`` setting)."""
    return {repo_path(host.data.secrets_dir) for host in load_inventory(path)}
