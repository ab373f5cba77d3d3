"""What every component deploy reads from host data, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from gevent.event import AsyncResult
from pyinfra import host
from pyinfra.api import Host
from pyinfra.api.exceptions import PyinfraError

from obsstack.addresses import AddressError, host_port, listen_address
from obsstack.agents import DETECTED
from obsstack.inventory import missing_secrets, repo_path
from operations.agents import DetectedAgents, ServedPools
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
    detected (``agents = "auto"``) and this run does not look at the host (outside
    ``--limit``): the observability server then keeps what it has for it.

    Detection comes from the deploy pipeline (``detected_agents``), else from the host
    itself, a fact read once per run however many hosts' deploys ask."""
    if "monitored" not in target.groups:
        return []
    setting = target.data.agents
    if setting != "auto":
        return list(setting)
    found = target.data.get(DETECTED)
    if found is not None:
        return list(found[target.name]) if target.name in found else None
    if not host.state.is_host_in_limit(target):
        return None
    return _read_once(target, DetectedAgents)["agents"]


def php_fpm_pools_of(target: Host) -> list[dict[str, str]] | None:
    """The PHP-FPM pools (``{"php": "8.4", "pool": "www"}``) whose status pages host
    ``target`` serves to Prometheus; None when this run does not list them."""
    agents = agents_of(target)
    if agents is None:
        return None
    if "php_fpm" not in agents:
        return []
    if target.data.get(DETECTED) is not None:
        found = target.data.get("php_fpm_pools") or {}
        return list(found[target.name]) if target.name in found else None
    if target.data.agents == "auto":
        return _read_once(target, DetectedAgents)["pools"]
    return _read_once(target, ServedPools)


def own_agents() -> list[str]:
    """The agents of the host being deployed: known, or the deploy stops (never guessed)."""
    agents = agents_of(host)
    if agents is None:
        raise PyinfraError(
            f"{host.name}: agents = 'auto' and detected_agents leaves this host out: "
            "deploy it with `invoke deploy`, or list the agents in its data"
        )
    if host.data.get(DETECTED) is None and host.data.agents == "auto":
        # Detected here: the secrets a found agent needs were not checked before the run.
        problems = missing_secrets(
            host.name, set(host.groups), {**host.data.dict(), DETECTED: {host.name: agents}}
        )
        if problems:
            raise PyinfraError("; ".join(problems))
    return agents


# Detection facts, read once per run however many hosts' deploys ask (pyinfra keeps none).
_read: WeakKeyDictionary[Host, dict[str, AsyncResult]] = WeakKeyDictionary()


def _read_once(target: Host, fact: type) -> Any:
    reads = _read.setdefault(target, {})
    if fact.__name__ not in reads:
        read = reads[fact.__name__] = AsyncResult()
        try:
            read.set(target.get_fact(fact))
        except Exception as error:  # every host waiting on it gets the error, not a hang
            read.set_exception(error)
    value = reads[fact.__name__].get()
    if value is None:
        raise PyinfraError(
            f"{target.name}: cannot tell which agents it runs ({fact.__name__} unreadable), "
            "so nothing is deployed"
        )
    return value


def exporter_address(port: int) -> str:
    """``address:port`` an exporter of this host listens on (obsstack.addresses)."""
    try:
        return host_port(listen_address(host.name, host.groups, host.data), port)
    except AddressError as error:
        raise PyinfraError(str(error)) from error


def pinned(component: str) -> dict[str, str]:
    """``{"version": ..., "sha256": ...}`` pinned in ``releases`` (and ``"build"`` for an
    archive named with it)."""
    if component not in host.data.releases:
        raise PyinfraError(
            f"{host.name} runs {component} but `releases` has no pin for it: add "
            f"releases[{component!r}] = {{'version': ..., 'sha256': ...}} (the catalog has "
            "each component's default pin)"
        )
    return dict(host.data.releases[component])
