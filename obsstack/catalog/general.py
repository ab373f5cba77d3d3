"""The settings of the stack as a whole, not of one component: where archives come from,
the secrets store, config backups and release history, the firewall's extra rules and
addresses, which agents a monitored host runs, the alert thresholds of every entry, and
what invoke sets for one run.

Some checks depend on the whole catalog (the agents there are, every entry's pins and
thresholds), so these are built from it.

Example::

    >>> from obsstack.catalog import CATALOG
    >>> from obsstack.catalog.general import stack_settings
    >>> [setting.key for setting in stack_settings(CATALOG)][:3]
    ['environment', 'artifact_source', 'artifact_cache_dir']
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from obsstack.catalog.schema import Component, Setting
from obsstack.fields import (
    DURATION_FIELD,
    ENVIRONMENT,
    HTTP_URL,
    RELEASE,
    RELEASE_WITH_BUILD,
    Field,
    Section,
    check_firewall_rules,
    check_host_address,
    check_optional_path,
    check_per_host,
    check_release_target,
    int_range,
    is_a,
    is_pool_list,
    matching,
)

MONITORED = ("monitored",)


def agents_check(catalog: Sequence[Component]) -> Field:
    """The check of the ``agents`` setting: "auto", or a list of the catalog's agents."""
    agents = {entry.agent.name: entry.agent for entry in catalog if entry.agent}

    def check(value: Any) -> str | None:
        if value == "auto":
            return None
        if not isinstance(value, list) or not all(isinstance(agent, str) for agent in value):
            return "wrong type"
        unknown = [agent for agent in value if agent not in agents]
        if unknown:
            close = difflib.get_close_matches(unknown[0], agents, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown agent {unknown[0]!r}{hint}"
        for name in value:
            needed = agents[name].needs
            if needed and needed not in value:
                return f"{name!r} needs {needed!r} in the list too (it serves through it)"
        return None

    return Field(check, "'auto' (detect installed services) or a list from " + ", ".join(agents))


def stack_settings(catalog: Sequence[Component]) -> tuple[Setting, ...]:
    """The stack-wide settings, for the entries of ``catalog``."""
    agents = [entry.agent.name for entry in catalog if entry.agent]
    archives = [entry for entry in catalog if entry.archive]
    thresholds = [threshold for entry in catalog for threshold in entry.alert_thresholds]
    return (
        Setting(
            "environment",
            matching(ENVIRONMENT, "a lowercase name such as production"),
            'the label "env" on every target and alert',
            "production",
        ),
        Setting(
            "artifact_source",
            Field(
                lambda v: None if isinstance(v, str) and v else "wrong type",
                "'github', an http(s):// mirror URL or a local directory",
            ),
            "where release archives come from: github (upstream's releases), a mirror or a "
            "directory laid out as <source>/<component>/<version>/<archive>",
            "github",
        ),
        Setting(
            "artifact_cache_dir",
            Field(check_optional_path, "a controller directory for downloaded archives"),
            "where downloads are cached on the controller (unset: "
            "~/.cache/observability-stack/artifacts)",
            required=False,
        ),
        Setting(
            "secrets_dir",
            Field(check_optional_path, "a controller directory holding secret files (0700)"),
            "one file per secret (0600), relative to the repository root; "
            "`invoke secrets.init` creates it",
            "secrets",
        ),
        Setting(
            "releases",
            Section(
                {
                    entry.name: RELEASE_WITH_BUILD if entry.archive.needs_build else RELEASE
                    for entry in archives
                    if entry.archive
                },
                partial=True,
            ),
            "the pinned release (version, sha256 of the linux-amd64 archive, and for "
            "Grafana its build number) of each component; a host needs the pins of what it "
            "runs",
            {
                entry.name: {k: v for k, v in asdict(entry.archive.pin).items() if v is not None}
                for entry in archives
                if entry.archive
            },
        ),
        Setting(
            "config_backups_kept",
            int_range(1, 1000, "how many config backups to keep, 1-1000"),
            "timestamped copies of replaced config files kept under "
            "/var/backups/observability-stack",
            10,
        ),
        Setting(
            "releases_kept",
            int_range(2, 1000, "how many releases to keep for rollback, 2-1000"),
            "recorded releases kept on each host for rollback",
            10,
        ),
        Setting(
            "health_gate_timeout",
            DURATION_FIELD,
            "after a deploy, health must pass within this time or the deploy is rolled back",
            "90s",
        ),
        Setting(
            "firewall_extra_rules",
            Field(
                check_firewall_rules,
                "a list of {'port': 80, 'proto': 'tcp' (or 'udp'), 'source': None (anywhere) "
                "or an address/network, 'comment': '...'} allowed in besides SSH and the scrapes",
            ),
            "what UFW lets in besides SSH and what the stack itself needs",
            [],
        ),
        Setting(
            "scrape_address",
            Field(
                lambda v: None if v is None else check_host_address(v),
                "one IP address such as 203.0.113.7, the address the observability server's "
                "scrapes come from as monitored hosts see it (None: its ssh_hostname); a "
                "network would open the exporters to every address in it",
            ),
            "where an observability server's scrapes come from, when that is not its "
            "ssh_hostname (e.g. a private network)",
            required=False,
        ),
        Setting(
            "listen_address",
            Field(
                lambda v: None if v is None else check_host_address(v),
                "one IP address of this host such as 10.0.0.5, where its exporters listen for "
                "the observability server's scrapes (None: the address it is scraped at)",
            ),
            "where a monitored host's exporters listen (behind NAT: its own address the "
            "scrapes arrive at)",
            required=False,
        ),
        Setting(
            "agents",
            agents_check(catalog),
            "what a monitored host runs besides node_exporter: auto (whatever is installed, "
            "detected at each deploy) or a list; an agent taken off the list is removed",
            "auto",
            roles=MONITORED,
        ),
        Setting(
            "alert_rules",
            Section({threshold.key: threshold.check for threshold in thresholds}),
            "the alert rules' thresholds (each entry's, listed below); the whole dict, "
            "group data replaces it as a whole",
            {threshold.key: threshold.default for threshold in thresholds},
            roles=("observability",),
        ),
        Setting(
            "runbook_base_url",
            Field(
                lambda v: (
                    None
                    if isinstance(v, str) and HTTP_URL.fullmatch(v) and not v.endswith("/")
                    else "bad format"
                ),
                "an http(s) URL without a trailing slash",
            ),
            "where the runbooks are (docs/runbooks/ of this repository, or your copy): every "
            "alert carries runbook_url = this/<AlertName>.md",
            "https://github.com/observability-stack/observability-stack/blob/main/docs/runbooks",
            roles=("observability",),
        ),
        Setting(
            "detected_agents",
            Field(
                lambda v: check_per_host(
                    v, lambda found: isinstance(found, list) and set(found) <= set(agents)
                ),
                "{host: [agents]} (set by invoke deploy when agents is 'auto')",
            ),
            "what detection found (set by invoke deploy)",
            required=False,
        ),
        Setting(
            "php_fpm_pools",
            Field(
                lambda v: check_per_host(v, is_pool_list),
                "{host: [{'php': '8.4', 'pool': 'www'}]} (set by invoke deploy for php_fpm hosts)",
            ),
            "the PHP-FPM pools of the php_fpm hosts (set by invoke deploy)",
            required=False,
        ),
        Setting(
            "purge",
            is_a(bool, "True or False (set by invoke uninstall --purge)"),
            "uninstall deletes monitoring data and the daemon accounts too",
            required=False,
        ),
        Setting(
            "rollback_to",
            Field(
                check_release_target,
                "'previous', a release id such as 20261127T012544Z-1a2b3c4d5e6f (or its run "
                "prefix 20261127T012544Z), or {host: release id} (set by invoke rollback)",
            ),
            "the release a rollback restores (set by invoke rollback)",
            required=False,
        ),
    )
