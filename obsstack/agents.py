"""Which agents a monitored host runs: listed in its data, or detected (``agents = "auto"``),
and the PHP-FPM pools of the hosts that run the php_fpm agent.

Detection runs on the controller before a deploy (one small script per host over SSH, for
the "auto" hosts and those listing php_fpm) and reaches the deploy as ``detected_agents``
and ``php_fpm_pools``, so every host's deploy, and the observability server's scrape
targets (one per pool), see the same answer even for hosts outside ``--limit``.

Example::

    from obsstack.agents import with_detected_agents
    data = with_detected_agents("inventories/lab.py", {})
    # {'detected_agents': {'web1': ['nginx', 'php_fpm'], 'app1': []},
    #  'php_fpm_pools': {'web1': [{'php': '8.4', 'pool': 'www'}]}}
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from obsstack.inventory import check_inputs
from obsstack.php_fpm import POOLS_SCRIPT, parse_pools, pool_problem
from obsstack.remote import describe_inventory, run_scripts
from obsstack.settings import AGENT_NEEDS, AGENTS

AUTO = "auto"
# The data key detection fills; present once detection has run.
DETECTED = "detected_agents"
# The systemd units that show an agent's service is installed (enabled or not).
SERVICE_UNITS = {
    "nginx": ("nginx.service",),
    "mysql": ("mariadb.service", "mysql.service"),
    "php_fpm": ("php*-fpm.service",),
    "fail2ban": ("fail2ban.service",),
}
AGENT_LINE = "@agent "
# Prints "@agent NAME" for each agent whose service is installed.
DETECTION_SCRIPT = (
    'has() { [ -n "$(systemctl list-unit-files --no-legend "$@" 2>/dev/null)" ]; }\n'
    + "".join(
        f"has {' '.join(shlex.quote(unit) for unit in SERVICE_UNITS[agent])}"
        f" && echo {shlex.quote(AGENT_LINE + agent)}\n"
        for agent in AGENTS
    )
    + "true\n"
)


def parse_detected(output: str) -> list[str]:
    """The agents a detection script's output names, in the project's order; an agent that
    works through another (php_fpm through nginx) only where that one is found too."""
    found = {
        line.removeprefix(AGENT_LINE).strip()
        for line in output.splitlines()
        if line.startswith(AGENT_LINE)
    }
    found -= {agent for agent, needed in AGENT_NEEDS.items() if needed not in found}
    return [agent for agent in AGENTS if agent in found]


def served_pools(output: str) -> list[dict[str, str]]:
    """The pools in a ``POOLS_SCRIPT`` output that the php_fpm agent can serve."""
    return [
        {"php": pool.php, "pool": pool.name}
        for install in parse_pools(output)
        for pool in install.pools
        if pool_problem(pool) is None
    ]


def with_detected_agents(inventory: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` plus ``detected_agents`` for the monitored hosts set to "auto", and
    ``php_fpm_pools`` for those that run the php_fpm agent.

    A host that cannot be reached gets no agents and no pools here; the deploy then fails
    on it anyway.
    """
    data = dict(data or {})
    settings = {
        host.name: data.get("agents", host.data.get("agents"))
        for host in describe_inventory(inventory)
        if "monitored" in host.groups
    }
    auto_hosts = [name for name, agents in settings.items() if agents == AUTO]
    pool_hosts = [
        name
        for name, agents in settings.items()
        if isinstance(agents, list) and "php_fpm" in agents
    ]
    scripts = dict.fromkeys(auto_hosts, DETECTION_SCRIPT + POOLS_SCRIPT)
    scripts |= dict.fromkeys(pool_hosts, POOLS_SCRIPT)
    results = run_scripts(inventory, scripts) if scripts else {}
    output = {name: result.stdout if result.ok else "" for name, result in results.items()}
    data[DETECTED] = {name: parse_detected(output[name]) for name in auto_hosts}
    pool_hosts += [name for name in auto_hosts if "php_fpm" in data[DETECTED][name]]
    data["php_fpm_pools"] = {name: served_pools(output[name]) for name in pool_hosts}
    return data


def detection_summary(data: Mapping[str, Any]) -> list[str]:
    """A line per host detection looked at, e.g. ``web1: nginx, php_fpm (pools 8.4/www)``;
    a host that lists its agents was only looked at for its PHP-FPM pools."""
    detected = data.get(DETECTED) or {}
    pools = data.get("php_fpm_pools") or {}
    lines = []
    for name in [*detected, *(name for name in pools if name not in detected)]:
        described = [
            f"php_fpm (pools {_pools_text(pools.get(name, []))})" if agent == "php_fpm" else agent
            for agent in detected.get(name, ["php_fpm"])
        ]
        lines.append(f"{name}: {', '.join(described) or 'no agent found'}")
    return lines


def _pools_text(pools: list[dict[str, str]]) -> str:
    return ", ".join(f"{pool['php']}/{pool['pool']}" for pool in pools) or "none"


def with_checked_agents(inventory: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``with_detected_agents``, then the inputs checked again: a detected agent may need a
    secret (MySQL's account password) that must exist before any host is changed."""
    detected = with_detected_agents(inventory, data)
    if detected[DETECTED]:
        check_inputs(inventory, detected)
    return detected
