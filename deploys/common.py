"""What every component deploy reads from host data, in one place."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import Host
from pyinfra.api.exceptions import PyinfraError

from obsstack.addresses import AddressError, host_port, listen_address
from obsstack.inventory import repo_path
from operations.converge import Installation

DEFAULT_CACHE = Path.home() / ".cache" / "observability-stack" / "artifacts"


def installation() -> Installation:
    cache = host.data.get("artifact_cache_dir")
    return Installation(
        source=host.data.artifact_source,
        cache_dir=str(repo_path(cache) if cache else DEFAULT_CACHE),
        keep_backups=host.data.config_backups_kept,
    )


def agents_of(target: Host) -> list[str] | None:
    """The agents host ``target`` runs (none but on monitored hosts); None when they are
    detected (``agents = "auto"``) and this run did not look at the host (outside
    ``--limit``): the observability server then keeps what it has for it."""
    if "monitored" not in target.groups:
        return []
    setting = target.data.agents
    if setting != "auto":
        return list(setting)
    found = target.data.get("detected_agents") or {}
    return list(found[target.name]) if target.name in found else None


def php_fpm_pools_of(target: Host) -> list[dict[str, str]] | None:
    """The PHP-FPM pools (``{"php": "8.4", "pool": "www"}``) whose status pages host
    ``target`` serves to Prometheus; None when this run did not list them."""
    agents = agents_of(target)
    if agents is None:
        return None
    if "php_fpm" not in agents:
        return []
    found = target.data.get("php_fpm_pools") or {}
    return list(found[target.name]) if target.name in found else None


def own_agents() -> list[str]:
    """The agents of the host being deployed: known, or the deploy stops (never guessed)."""
    agents = agents_of(host)
    if agents is None:
        raise PyinfraError(
            f"{host.name}: agents = 'auto' needs detection first: deploy with `invoke deploy`, "
            "or list the agents in its data"
        )
    return agents


def exporter_address(port: int) -> str:
    """``address:port`` an exporter of this host listens on (obsstack.addresses)."""
    try:
        return host_port(listen_address(host.name, host.groups, host.data), port)
    except AddressError as error:
        raise PyinfraError(str(error)) from error


def pinned(component: str) -> dict[str, str]:
    """``{"version": ..., "sha256": ...}`` pinned in ``releases``."""
    if component not in host.data.releases:
        raise PyinfraError(
            f"{host.name} runs {component} but `releases` has no pin for it: add "
            f"releases[{component!r}] = {{'version': ..., 'sha256': ...}} (the catalog has "
            "each component's default pin)"
        )
    return dict(host.data.releases[component])
