"""The catalog: one declarative entry (``Component``) per component and per agent.

An entry says everything the project knows about one program (``schema.py`` lists its
parts): release archive, pin and binaries, account, unit and flags, directories, ports,
scrape job, detection, rules, secrets, proxy location, health checks, firewall openings,
what removal deletes, and its settings with their defaults. The entries live in
``host.py`` (every host), ``server.py`` (the observability server) and ``agents.py``; the
stack's own settings in ``general.py``. The views below are what deploy, uninstall,
firewall, scrape config, detection, preflight, health, secrets, settings and the README
tables (``docs.py``) read.

Example::

    >>> from obsstack.catalog import COMPONENTS, RELEASE_ARCHIVES, not_running, running
    >>> [component.name for component in COMPONENTS.values()][:3]
    ['node_exporter', 'prometheus', 'alertmanager']
    >>> RELEASE_ARCHIVES["alertmanager"].binaries
    ('alertmanager', 'amtool')
    >>> [c.name for c in running(["monitored"], {}, agents=["mysql"])]
    ['node_exporter', 'mysqld_exporter']
    >>> [c.name for c in not_running(["observability"], {"blackbox_targets": []}, agents=[])]
    ['blackbox_exporter']
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from obsstack.catalog import agents, backup, host, server
from obsstack.catalog.alerting import alerting_problems
from obsstack.catalog.general import stack_settings
from obsstack.catalog.schema import (
    EVERY_HOST,
    NO_DEFAULT,
    Component,
    ProxyLocation,
    ReleaseArchive,
    Secret,
    Setting,
)
from obsstack.catalog.scraping import scraping_problems
from obsstack.fields import Field, Section

# In the order a host installs them (and removes them in reverse).
CATALOG: tuple[Component, ...] = (
    *host.ENTRIES, *server.ENTRIES, *backup.ENTRIES, *agents.ENTRIES
)
COMPONENTS: dict[str, Component] = {component.name: component for component in CATALOG}
# The components installed from an upstream release archive, and their archives.
RELEASE_ARCHIVES: dict[str, ReleaseArchive] = {
    component.name: component.archive for component in CATALOG if component.archive
}
# The agents, by the name the ``agents`` setting gives them.
AGENTS: dict[str, Component] = {
    component.agent.name: component for component in CATALOG if component.agent
}
# The agents detection can find (``agents = "auto"``); the others run only where listed.
DETECTABLE_AGENTS: tuple[str, ...] = tuple(
    name for name, component in AGENTS.items() if component.agent and component.agent.detected_by
)
# Agents that work through another: PHP-FPM's status pages are served by nginx.
AGENT_NEEDS: dict[str, str] = {
    component.agent.name: component.agent.needs
    for component in CATALOG
    if component.agent and component.agent.needs
}
# The programs that come from a Debian package, and where the package installs them.
PACKAGED_BINARIES: dict[str, str] = {
    component.name: component.packaged_binary for component in CATALOG if component.packaged_binary
}
# Every secret the stack reads, by name (a secret per key of a setting: by its prefix).
SECRETS: dict[str, Secret] = {
    secret.name: secret for component in CATALOG for secret in component.secrets
}
# The groups of an inventory the stack gives a role to.
ROLES = ("observability", "monitored")
# Every setting, by key: the stack's own, then each entry's, with the roles that need it.
SETTINGS: dict[str, Setting] = {
    setting.key: setting
    for setting in (
        *(
            replace(setting, roles=setting.roles or EVERY_HOST)
            for setting in stack_settings(CATALOG)
        ),
        *(
            replace(setting, roles=setting.roles or component.roles)
            for component in CATALOG
            for setting in component.settings
        ),
    )
}
# The keys that only the observability server's components read.
OBSERVABILITY_SETTINGS = frozenset(
    key for key, setting in SETTINGS.items() if setting.roles == ("observability",)
)
# Checks of settings that name each other, on a host's merged data: each returns its
# problems (``key: what is wrong; expected ...``).
def _scraping_problems(data: Mapping[str, Any]) -> list[str]:
    return scraping_problems(data, frozenset(c.scrape.job for c in CATALOG if c.scrape))


AGREEMENTS = (
    server.grafana_role_problems,
    backup.backup_problems,
    alerting_problems,
    _scraping_problems,
)
# What the reverse proxy serves, by permission: the components behind it.
PROXIED: tuple[Component, ...] = tuple(component for component in CATALOG if component.proxy)
PROXY_LOCATIONS: tuple[ProxyLocation, ...] = tuple(
    component.proxy for component in PROXIED if component.proxy
)


def runs_on(component: Component, groups: Iterable[str]) -> bool:
    """Whether a host in ``groups`` runs ``component`` (agents and conditions aside)."""
    return in_roles(component.roles, groups)


def in_roles(roles: tuple[str, ...], groups: Iterable[str]) -> bool:
    """Whether a host in ``groups`` has one of ``roles`` (EVERY_HOST: every host has)."""
    return roles == EVERY_HOST or bool(set(roles) & set(groups))


def settings_schema() -> dict[str, Field | Section]:
    """The check of every setting, by key (what obsstack.settings validates data with)."""
    return {key: setting.check for key, setting in SETTINGS.items()}


def setting_defaults() -> dict[str, Any]:
    """A fresh copy of every default: what group_data/all.py loads below its overrides."""
    return {
        key: copy.deepcopy(setting.default)
        for key, setting in SETTINGS.items()
        if setting.default is not NO_DEFAULT
    }


def required_settings(groups: Iterable[str]) -> list[str]:
    """The keys a host in ``groups`` must have in its data (defaults included)."""
    groups = list(groups)
    return [
        key
        for key, setting in SETTINGS.items()
        if setting.required and in_roles(setting.roles or EVERY_HOST, groups)
    ]


def components_of(groups: Iterable[str]) -> list[Component]:
    """Every component a host in ``groups`` may run: what uninstalling it removes."""
    return [component for component in CATALOG if runs_on(component, groups)]


def running(
    groups: Iterable[str], settings: Mapping[str, Any], agents: Iterable[str]
) -> list[Component]:
    """The components a host in ``groups`` with ``settings`` runs, given its ``agents``."""
    agents = set(agents)
    return [
        component
        for component in components_of(groups)
        if (component.agent is None or component.agent.name in agents)
        and (component.enabled_by is None or settings.get(component.enabled_by))
    ]


def not_running(
    groups: Iterable[str], settings: Mapping[str, Any], agents: Iterable[str]
) -> list[Component]:
    """The components of the host's roles that it does not run: a deploy removes them."""
    wanted = running(groups, settings, agents)
    return [component for component in components_of(groups) if component not in wanted]


def secrets_needed(
    name: str,
    groups: Iterable[str],
    data: Mapping[str, Any],
    generated_too: bool = False,
    monitored: Iterable[str] = (),
) -> dict[str, str]:
    """``{secret name: why the host needs it}`` for host ``name`` with these groups and data
    (not validated yet: anything of the wrong type needs nothing); the reason names the
    setting, e.g. ``proxy_users.admin is set``.

    With ``agents = "auto"`` an agent's secret is needed once detection found the agent
    (``detected_agents``), or, with ``generated_too``, whenever it might be (for
    ``secrets.init``, so that a server installed later finds its secret ready).
    ``monitored``: the instance labels of the inventory's monitored hosts, whose secrets
    of one per host the observability server needs.
    """
    groups = list(groups)
    agents = data.get("agents")
    if agents == "auto":
        detected = data.get("detected_agents")
        agents = list(DETECTABLE_AGENTS) if generated_too else (detected or {}).get(name, [])
    needed = {}
    for component in running(groups, data, agents if isinstance(agents, list) else []):
        for secret in component.secrets:
            if secret.per_host:
                # The server holds every one (a monitored host's deploy reads its own from
                # the server's store): with no server, nothing needs them.
                for key in monitored if "observability" in groups else ():
                    needed[secret.name_for(key)] = f"monitored host {key} pushes logs to Loki"
            elif secret.one_per:
                for key, item in _items(data.get(secret.one_per), secret.one_per_key):
                    if secret.one_per_where is None or secret.one_per_where(item):
                        needed[secret.name_for(key)] = f"{secret.one_per}.{key} is set"
            elif secret.needed_when:
                if _setting_value(data, secret.needed_when):
                    needed[secret.name] = f"{secret.needed_when} is set"
            else:
                setting = "agents" if component.agent else component.enabled_by
                needed[secret.name] = f"{setting or component.name} is set"
    return needed


def _items(value: Any, key: str | None) -> list[tuple[str, Any]]:
    """``(name, item)`` of a dict setting, or of a list setting whose items ``key`` names."""
    if key is None:
        return list(value.items()) if isinstance(value, dict) else []
    items = value if isinstance(value, list) else []
    return [
        (item[key], item)
        for item in items
        if isinstance(item, dict) and isinstance(item.get(key), str)
    ]


def _setting_value(data: Mapping[str, Any], dotted: str) -> Any:
    """The value of ``section.key`` in ``data`` (None where a part is missing)."""
    value: Any = data
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
