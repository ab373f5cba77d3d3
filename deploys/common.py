"""What every component deploy reads from host data, in one place."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import Host
from pyinfra.api.exceptions import PyinfraError

from obsstack.inventory import repo_path
from obsstack.render import render_template
from operations.component import Installation

DEFAULT_CACHE = Path.home() / ".cache" / "observability-stack" / "artifacts"


def installation() -> Installation:
    cache = host.data.get("artifact_cache_dir")
    return Installation(
        source=host.data.artifact_source,
        cache_dir=str(repo_path(cache) if cache else DEFAULT_CACHE),
        keep_backups=host.data.config_backups_kept,
    )


# The agents Prometheus scrapes on their host (fail2ban is read through node_exporter): the
# settings key of the port it scrapes, and what listens there.
SCRAPED_AGENTS = {
    "nginx": ("nginx_exporter_port", "nginx_exporter"),
    "mysql": ("mysqld_exporter_port", "mysqld_exporter"),
    "php_fpm": ("php_fpm_status_port", "php_fpm"),
}


def scraped_ports(target: Host) -> dict[str, int]:
    """``{agent: port}`` for the agents of ``target`` that Prometheus scrapes there."""
    agents = agents_of(target)
    return {
        agent: target.data.get(port_key)
        for agent, (port_key, _) in SCRAPED_AGENTS.items()
        if agent in agents
    }


def agents_of(target: Host) -> list[str]:
    """The agents monitored host ``target`` runs (none on other hosts)."""
    if "monitored" not in target.groups:
        return []
    setting = target.data.agents
    if setting != "auto":
        return list(setting)
    return _detected(
        target,
        "detected_agents",
        "agents = 'auto' needs detection first: deploy with `invoke deploy`, or list the "
        "agents in its data",
    )


def php_fpm_pools_of(target: Host) -> list[dict[str, str]]:
    """The PHP-FPM pools (``{"php": "8.4", "pool": "www"}``) whose status pages monitored
    host ``target`` serves to Prometheus (none without the php_fpm agent)."""
    if "php_fpm" not in agents_of(target):
        return []
    return _detected(
        target,
        "php_fpm_pools",
        "the php_fpm agent's pools are listed before the deploy: deploy with `invoke deploy`",
    )


def _detected(target: Host, key: str, missing: str) -> list:
    """``target``'s entry in ``key``, which `invoke deploy` finds on the hosts before pyinfra
    runs (obsstack.agents); ``missing`` explains its absence."""
    found = target.data.get(key) or {}
    if target.name not in found:
        raise PyinfraError(f"{target.name}: {missing}")
    return list(found[target.name])


def pinned(component: str) -> dict[str, str]:
    """``{"version": ..., "sha256": ...}`` pinned in ``releases``."""
    if component not in host.data.releases:
        raise PyinfraError(
            f"{host.name} runs {component} but `releases` has no pin for it: add "
            f"releases[{component!r}] = {{'version': ..., 'sha256': ...}} (group_data/all.py "
            "has the defaults)"
        )
    return dict(host.data.releases[component])


def daemon_unit(
    description: str,
    documentation: str,
    user: str,
    exec_start: list[str],
    read_write_paths: list[str],
    reload_signal: str | None = "HUP",
    address_families: tuple[str, ...] = ("AF_INET", "AF_INET6", "AF_UNIX"),
) -> str:
    """The hardened systemd unit every daemon of the stack runs under."""
    return render_template(
        "systemd/daemon.service.j2",
        {
            "description": description,
            "documentation": documentation,
            "user": user,
            "exec_start": exec_start,
            "reload_signal": reload_signal,
            "read_write_paths": read_write_paths,
            "address_families": list(address_families),
        },
    )
