"""Load an inventory with its group data exactly as the pyinfra CLI does, without connecting.

pyinfra's CLI loader monkey-patches the whole process for gevent when imported, so the
public functions here (``check_inputs``, ``secret_stores``) run it in a child process
(``python -m obsstack.inventory``) and the callers' own threads stay as they are.

Example::

    from obsstack.inventory import check_inputs, secret_stores
    check_inputs("inventories/lab.py")        # raises SettingsError naming file and key
    secret_stores("inventories/lab.py")  # {PosixPath('/var/lib/obs-lab/secrets'): {...}}
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsstack import secrets
from obsstack.catalog import secrets_needed
from obsstack.settings import (
    INVENTORY_NAME,
    SettingsError,
    check_data,
    instance_label,
    missing_keys,
    raise_for,
)

if TYPE_CHECKING:
    from pyinfra.api import Host, Inventory

REPO_ROOT = Path(__file__).resolve().parent.parent


def check_inputs(inventory: str, data: Mapping[str, Any] | None = None) -> None:
    """Check every host's settings (with ``--data`` overrides); raise listing every problem."""
    result = _child("check", inventory, json.dumps(dict(data or {})))
    if result.returncode == 2:
        raise SettingsError(result.stderr.strip())
    _raise_if_crashed(result)


def secret_stores(inventory: str) -> dict[Path, set[str]]:
    """``{secret store: names of the secrets its hosts need}`` (``secrets_dir`` setting)."""
    result = _child("secret-stores", inventory)
    _raise_if_crashed(result)
    return {Path(store): set(names) for store, names in json.loads(result.stdout).items()}


def _child(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "obsstack.inventory", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _raise_if_crashed(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        raise SettingsError(f"loading the inventory failed:\n{result.stderr.strip()}")


def load_inventory(path: str, override_data: dict | None = None) -> Inventory:
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
        inventory = make_inventory(path, cwd=str(REPO_ROOT), override_data=override_data)
    ctx_inventory.set(inventory)
    return inventory


def check_inventory(path: str, override_data: dict | None = None) -> None:
    """Check every host's effective settings; raise naming the file each bad value is from."""
    inventory = load_inventory(path, override_data)
    problems = []
    for host in inventory:
        if not INVENTORY_NAME.fullmatch(instance_label(host.name)):
            problems.append(
                f"{path}: host {host.name!r}: a host's name is its metrics' instance label: "
                "letters, digits and . _ - only"
            )
        data = host.data.dict()
        for key, value in data.items():
            problems += check_data({key: value}, source_of(inventory, host, key, path))
        problems += missing_keys(host.name, set(host.groups), data)
        problems += missing_secrets(host.name, set(host.groups), data)
    raise_for(problems)


def missing_secrets(name: str, groups: set[str], data: dict) -> list[str]:
    """Secrets the host's settings refer to that cannot be read (the value never shown)."""
    if not isinstance(data.get("secrets_dir"), str):
        return []
    problems = []
    for secret, setting in secrets_needed(name, groups, data).items():
        try:
            secrets.read(secret, repo_path(data["secrets_dir"]))
        except secrets.SecretError as error:
            problems.append(f"data of host {name}: {setting} is set, but {error}")
    return problems


def source_of(inventory: Inventory, host: Host, key: str, inventory_path: str) -> str:
    """The file a host's value for ``key`` comes from, in pyinfra's order of precedence."""
    if key in (inventory.get_override_data() or {}):
        return "--data"
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




def main(argv: list[str]) -> int:
    """``check INVENTORY DATA_JSON`` (exit 2 listing problems) or ``secret-stores INVENTORY``."""
    command, inventory = argv[0], argv[1]
    try:
        if command == "check":
            check_inventory(inventory, json.loads(argv[2]))
        else:
            stores: dict[str, set[str]] = {}
            for host in load_inventory(inventory):
                names = secrets_needed(host.name, host.groups, host.data.dict(), True)
                stores.setdefault(str(repo_path(host.data.secrets_dir)), set()).update(names)
            print(json.dumps({store: sorted(names) for store, names in stores.items()}))
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
