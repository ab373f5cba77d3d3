"""Which agents a monitored host runs: listed in its data, or detected (``agents = "auto"``).

Detection runs on the controller before a deploy (one small script per "auto" host over
SSH) and reaches the deploy as ``detected_agents``, so every host's deploy, and the
observability server's scrape targets, see the same answer even for hosts outside
``--limit``.

Example::

    from obsstack.agents import with_detected_agents
    data = with_detected_agents("inventories/lab.py", {})
    # {'detected_agents': {'web1': ['nginx', 'fail2ban'], 'app1': []}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obsstack.inventory import check_inputs
from obsstack.remote import describe_inventory, run_scripts
from obsstack.settings import AGENTS

AUTO = "auto"
# The systemd units that show an agent's service is installed (enabled or not).
SERVICE_UNITS = {
    "nginx": ("nginx.service",),
    "mysql": ("mariadb.service", "mysql.service"),
    "fail2ban": ("fail2ban.service",),
}
# Prints the name of each agent whose service is installed.
DETECTION_SCRIPT = (
    'has() { [ -n "$(systemctl list-unit-files --no-legend "$@" 2>/dev/null)" ]; }\n'
    + "".join(
        f"has {' '.join(SERVICE_UNITS[agent])} && echo {agent}\n" for agent in AGENTS
    )
    + "exit 0\n"
)


def parse_detected(output: str) -> list[str]:
    """The agents a detection script's output names, in the project's order."""
    found = set(output.split())
    return [agent for agent in AGENTS if agent in found]


def with_detected_agents(inventory: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` plus ``detected_agents`` for the monitored hosts set to "auto".

    A host that cannot be reached gets no agents here; the deploy then fails on it anyway.
    """
    data = dict(data or {})
    auto_hosts = [
        host.name
        for host in describe_inventory(inventory)
        if "monitored" in host.groups and data.get("agents", host.data.get("agents")) == AUTO
    ]
    if not auto_hosts:
        return data
    results = run_scripts(inventory, dict.fromkeys(auto_hosts, DETECTION_SCRIPT))
    data["detected_agents"] = {
        name: parse_detected(results[name].stdout) if results[name].ok else []
        for name in auto_hosts
    }
    return data


def with_checked_agents(inventory: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``with_detected_agents``, then the inputs checked again: a detected agent may need a
    secret (MySQL's account password) that must exist before any host is changed."""
    detected = with_detected_agents(inventory, data)
    if "detected_agents" in detected:
        check_inputs(inventory, detected)
    return detected
