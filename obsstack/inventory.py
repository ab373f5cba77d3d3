"""Load an inventory with its group data exactly as the pyinfra CLI does, without connecting.

Example::

    from obsstack.inventory import load_inventory
    for host in load_inventory("inventories/lab.py"):
        print(host.name, host.groups, host.data.get("environment"))
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import Inventory, State
from pyinfra.context import ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_inventory(path: str) -> Inventory:
    """The inventory at ``path`` with group_data/ applied (pyinfra's own loader)."""
    # pyinfra's loader executes the files inside a state context; give it a throwaway one.
    with ctx_state.use(State()):
        inventory = make_inventory(path, cwd=str(REPO_ROOT))
    ctx_inventory.set(inventory)
    return inventory


def repo_path(value: str) -> Path:
    """A controller path from settings: ``~`` expanded, relative to the repository root."""
    return REPO_ROOT / Path(value).expanduser()


def secrets_dirs(path: str) -> set[Path]:
    """The secret stores the hosts of an inventory read from (``secrets_dir`` setting)."""
    return {repo_path(host.data.secrets_dir) for host in load_inventory(path)}
