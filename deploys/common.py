"""What every component deploy reads from host data, in one place."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api.operation import OperationMeta

from obsstack.inventory import repo_path
from operations.release import prepare_release, release

DEFAULT_CACHE = Path.home() / ".cache" / "observability-stack" / "artifacts"


def install_release(component: str) -> OperationMeta:
    """Install the release of ``component`` pinned in ``releases``."""
    pin = host.data.releases[component]
    cache = host.data.get("artifact_cache_dir")
    arguments = {
        "component": component,
        "version": pin["version"],
        "sha256": pin["sha256"],
        "source": host.data.artifact_source,
        "cache_dir": str(repo_path(cache) if cache else DEFAULT_CACHE),
    }
    prepare_release(**arguments)
    return release(name=f"Install {component} {pin['version']}", **arguments)


def backups_kept() -> int:
    return host.data.config_backups_kept
