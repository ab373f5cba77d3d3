"""Which agents a monitored host runs: listed in its data, or detected (``agents = "auto"``),
and the PHP-FPM pools of the hosts that run the php_fpm agent.

Detection runs on the controller before a deploy (one small script per host over SSH, for
the "auto" hosts and those listing php_fpm, of the hosts being deployed) and reaches the
deploy as ``detected_agents`` and ``php_fpm_pools``, so every host's deploy and the
observability server's scrape targets (one per pool) see the same answer. It fails closed:
a host it cannot read stops the deploy, since "no agents" would remove them.

Example::

    from obsstack.agents import with_detected_agents
    data = with_detected_agents("inventories/lab.py", {})
    # {'detected_agents': {'web1': ['nginx', 'php_fpm'], 'app1': []},
    #  'php_fpm_pools': {'web1': [{'php': '8.4', 'pool': 'www'}]}}
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from obsstack.catalog import AGENT_NEEDS, AGENTS
from obsstack.catalog.schema import Agent
from obsstack.inventory import missing_secrets
from obsstack.session import HostInfo, RemoteResult, describe_inventory, hosts_named, run_scripts
from obsstack.settings import raise_for
from obsstack.worker import in_worker

AUTO = "auto"
# The data key detection fills; present once detection has run.
DETECTED = "detected_agents"
AGENT_LINE = "@agent "
DETECTION_END = "@detected"
# A unit file every systemd host has (see detection_script).
ALWAYS_THERE = "systemd-journald.service"
UNIT_GLOB = re.compile(r"[A-Za-z0-9._@\[\]*-]+")


def detection_script(agents: Iterable[Agent]) -> str:
    """A bash script that prints "@agent NAME" for each of ``agents`` whose service is
    installed (a unit file its globs match), then DETECTION_END; an agent with no units is
    never printed.

    systemctl is asked for those units only (listing every unit file costs systemd half a
    second), and for systemd-journald.service, which every systemd host has: systemctl
    exits 1 when no unit matches, and "no unit found" must never come from a command that
    broke, so it failing is an error.
    """
    detectable = [agent for agent in agents if agent.detected_by]
    for glob in (glob for agent in detectable for glob in agent.detected_by):
        # Unquoted in `case`, where the shell matches it: nothing else may be in it.
        if not UNIT_GLOB.fullmatch(glob):
            raise ValueError(f"{glob!r} is not a unit glob (letters, digits, . _ - @ [ ] *)")
    globs = " ".join(shlex.quote(glob) for agent in detectable for glob in agent.detected_by)
    return (
        "units=$(systemctl list-unit-files --no-legend --type=service"
        f" {globs} {ALWAYS_THERE}) ||"
        " { echo 'systemctl list-unit-files failed' >&2; exit 3; }\n"
        "for name in $(printf '%s\\n' \"$units\" | awk '{print $1}'); do\n"
        '  case "$name" in\n'
        + "".join(
            f"    {'|'.join(agent.detected_by)})"
            f" echo {shlex.quote(AGENT_LINE + agent.name)};;\n"
            for agent in detectable
        )
        + "  esac\n"
        "done\n"
        f"echo {DETECTION_END}\n"
    )


DETECTION_SCRIPT = detection_script(
    component.agent for component in AGENTS.values() if component.agent
)


# The detection script as a section of a check script (obsstack.checks): in a subshell, since
# it exits early when systemctl fails.
DETECTION_SECTION = f"(\n{DETECTION_SCRIPT})"


class DetectionError(Exception):
    """Detection could not look at a host: nothing may be changed on its account."""


def parse_detected(output: str) -> list[str]:
    """The agents a detection script's output names, in the project's order; an agent that
    works through another (php_fpm through nginx) only where that one is found too.

    DetectionError when the output is cut short."""
    if DETECTION_END not in output.splitlines():
        raise DetectionError("the detection script ended early")
    found = {
        line.removeprefix(AGENT_LINE).strip()
        for line in output.splitlines()
        if line.startswith(AGENT_LINE)
    }
    found -= {agent for agent, needed in AGENT_NEEDS.items() if needed not in found}
    return [agent for agent in AGENTS if agent in found]


def parse_agents(output: str) -> list[str] | None:
    """``parse_detected``, or None when the detection script did not finish."""
    try:
        return parse_detected(output)
    except DetectionError:
        return None


def agents_of(host: HostInfo, detected: list[str] | None) -> list[str]:
    """The agents ``host`` runs (or will run): listed in its data, else what detection found
    on it (none when it could not tell)."""
    listed = host.data.get("agents")
    return list(listed) if isinstance(listed, list) else list(detected or [])


def served_pools(output: str) -> list[dict[str, str]]:
    """The pools in a ``POOLS_SCRIPT`` output that the php_fpm agent serves.

    DetectionError naming what stops that: a configuration FPM rejects, a pool the agent
    cannot serve, or a listing cut short."""
    # Here, not at the top: a controller that only calls into the worker never loads pyinfra.
    from operations.fpm_pools import PoolsReadError, parse_pools, pool_problem

    try:
        installs = parse_pools(output)
    except PoolsReadError as error:
        raise DetectionError(str(error)) from error
    problems = [install.error for install in installs if install.error]
    problems += [
        problem for install in installs for pool in install.pools if (problem := pool_problem(pool))
    ]
    if problems:
        raise DetectionError("; ".join(problems))
    return [{"php": pool.php, "pool": pool.name} for install in installs for pool in install.pools]


def with_detected_agents(
    inventory: str,
    data: Mapping[str, Any] | None,
    hosts: Iterable[str] | None = None,
    described: list[HostInfo] | None = None,
) -> dict[str, Any]:
    """``data`` plus ``detected_agents`` for the monitored hosts (of ``hosts``; None: all)
    set to "auto", and ``php_fpm_pools`` for those that run the php_fpm agent.

    A host that cannot be reached or whose answer cannot be read is a DetectionError
    naming it: nothing is deployed on a guess. Hosts left out keep, on the observability
    server, the targets it has for them. ``described``: the inventory's hosts, when the
    caller has them already.
    """
    from operations.fpm_pools import POOLS_SCRIPT

    data = dict(data or {})
    settings = {
        host.name: data.get("agents", host.data.get("agents"))
        for host in hosts_named(inventory, hosts, described)
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
    problems = []
    detected, pools = {}, {}
    for name in scripts:
        try:
            output = _answer(name, results[name])
            if name in auto_hosts:
                detected[name] = parse_detected(output)
            if name in pool_hosts or "php_fpm" in detected.get(name, []):
                pools[name] = served_pools(output)
        except DetectionError as error:
            problems.append(f"{name}: {error}")
    if problems:
        raise DetectionError(
            "cannot tell which agents these hosts run, so nothing was deployed:\n  "
            + "\n  ".join(problems)
        )
    data[DETECTED] = detected
    data["php_fpm_pools"] = pools
    return data


def _answer(name: str, result: RemoteResult) -> str:
    if not result.connected:
        raise DetectionError(f"cannot connect ({result.stderr.strip() or 'no answer'})")
    if not result.ok:
        raise DetectionError(f"the detection script failed: {result.stderr.strip()[-300:]}")
    return result.stdout


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


@in_worker
def with_checked_agents(
    inventory: str,
    data: Mapping[str, Any] | None,
    hosts: Iterable[str] | None = None,
    described: list[HostInfo] | None = None,
) -> dict[str, Any]:
    """``with_detected_agents``, then the secrets a detected agent needs (MySQL's account
    password) checked: they must exist before any host is changed. The rest of the inputs
    the caller has checked already."""
    described = described or describe_inventory(inventory)
    detected = with_detected_agents(inventory, data, hosts, described)
    raise_for(
        [
            problem
            for host in described
            for problem in missing_secrets(
                host.name, set(host.groups), {**host.data, **detected}
            )
        ]
    )
    return detected
