"""Prometheus on the observability server: scrape targets from the inventory, alert rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError

from deploys import blackbox_exporter, prometheus_user
from deploys.common import agents_of, php_fpm_pools_of
from obsstack.addresses import host_port, scrape_host
from obsstack.catalog import AGENTS, CATALOG, ROLES, running
from obsstack.catalog.server import (
    ALERTMANAGER,
    PROMETHEUS_CONFIG_DIR,
    PROMETHEUS_FILE_SD_DIR,
    PROMETHEUS_RULES_DIR,
)
from obsstack.fields import instance_label
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR, render_template, rules_context
from obsstack.serialize import MANAGED, yaml_file
from obsstack.targets import TargetError, checked_group, kept_groups, target_group
from operations.archive import BIN_DIR
from operations.converge import ConfigFile
from operations.facts import FileNames, FileSdGroups

PROMTOOL = f"{BIN_DIR}/promtool"
# The jobs of daemons that serve under their location in the proxy, and their metrics.
METRICS_PATHS = {
    component.scrape.job: f"{component.route_prefix}/metrics"
    for component in CATALOG
    if component.scrape and component.route_prefix
}
# The jobs whose series keep the job and instance labels they were scraped with, and the
# label that names the host scraped instead (None: none does).
HONOR_LABELS = {
    component.scrape.job: component.scrape.host_label
    for component in CATALOG
    if component.scrape and component.scrape.honor_labels
}
# promtool reads a file_sd file the way Prometheus will, but only from a name ending in
# .yml and only when a config points at it; it reports a bad file on stderr with exit 0, and
# waits out its timeout whatever it found. So the check also counts the targets it
# discovered: one per group we wrote, or the file was not read in time.
FILE_SD_CHECK = (
    "(d=$(mktemp -d) && trap 'rm -rf \"$d\"' EXIT && cp {path} \"$d/check.yml\""
    " && printf 'scrape_configs:\\n- job_name: check\\n  file_sd_configs:\\n"
    "  - files: [check.yml]\\n' > \"$d/prometheus.yml\""
    " && expected=$(grep -c '^- targets:' \"$d/check.yml\" || true)"
    f" && found=$(cd \"$d\" && {PROMTOOL} check service-discovery --timeout=2s"
    " prometheus.yml check 2>\"$d/log\" | grep -c '\"discoveredLabels\"' || true)"
    " && if grep -qi 'level=error' \"$d/log\" || [ \"$found\" != \"$expected\" ]; then"
    " cat \"$d/log\" >&2; echo \"promtool discovered $found of $expected targets\" >&2;"
    " exit 1; fi)"
)


def config_files() -> tuple[ConfigFile, ...]:
    """Rule files, the scrape targets of every job, the user's jobs' and endpoints' secrets
    and CA bundles, and prometheus.yml."""
    settings = host.data.dict()
    jobs = scrape_jobs()
    user_jobs = settings["prometheus_scrape_jobs"]
    # Rules, targets and secrets come first: promtool check config reads the live files.
    files = [
        ConfigFile(
            f"{PROMETHEUS_RULES_DIR}/{name}", text, validate=f"{PROMTOOL} check rules {{path}}"
        )
        for name, text in rule_files(jobs).items()
    ]
    files += [
        ConfigFile(
            f"{PROMETHEUS_FILE_SD_DIR}/{job}.yml",
            yaml_file(groups, MANAGED),
            validate=FILE_SD_CHECK,
        )
        for job, groups in [
            *jobs.items(),
            *((job["job"], prometheus_user.target_groups(job)) for job in user_jobs),
        ]
    ]
    files += prometheus_user.client_files(settings, repo_path(host.data.secrets_dir))
    if blackbox_exporter.wanted():
        probes = [
            {"targets": [url], "labels": {"env": host.data.environment}}
            for url in host.data.blackbox_targets
        ]
        files.append(
            ConfigFile(
                f"{PROMETHEUS_FILE_SD_DIR}/blackbox.yml",
                yaml_file(probes, MANAGED),
                validate=FILE_SD_CHECK,
            )
        )
    files.append(
        ConfigFile(
            f"{PROMETHEUS_CONFIG_DIR}/prometheus.yml",
            yaml_file(
                config(
                    scrape_interval=host.data.prometheus_scrape_interval,
                    evaluation_interval=host.data.prometheus_evaluation_interval,
                    environment=host.data.environment,
                    alertmanager_address=f"127.0.0.1:{ALERTMANAGER.listen.number(host.data.dict())}",
                    jobs=list(jobs),
                    blackbox_address=(
                        blackbox_exporter.address() if blackbox_exporter.wanted() else None
                    ),
                    user_jobs=user_jobs,
                    remote_write=settings["prometheus_remote_write"],
                    external_labels=settings["prometheus_external_labels"],
                ),
                MANAGED,
            ),
            validate=f"{PROMTOOL} check config {{path}}",
        )
    )
    return tuple(files)


def config(
    scrape_interval: str,
    evaluation_interval: str,
    environment: str,
    alertmanager_address: str,
    jobs: list[str],
    blackbox_address: str | None,
    user_jobs: Sequence[Mapping[str, Any]] = (),
    remote_write: Sequence[Mapping[str, Any]] = (),
    external_labels: Mapping[str, str] | None = None,
) -> dict:
    """prometheus.yml: one file_sd job per scraped job, the blackbox probes, the user's own
    jobs, and the remote-write endpoints."""
    scrape_configs = []
    for job in jobs:
        scrape = {"job_name": job}
        if job in METRICS_PATHS:
            scrape["metrics_path"] = METRICS_PATHS[job]
        if job in HONOR_LABELS:
            scrape["honor_labels"] = True
            if HONOR_LABELS[job]:
                scrape["relabel_configs"] = [
                    {"source_labels": ["instance"], "target_label": HONOR_LABELS[job]}
                ]
        scrape["file_sd_configs"] = [{"files": [f"file_sd/{job}.yml"]}]
        scrape_configs.append(scrape)
    if blackbox_address:
        # Each target is a URL that blackbox_exporter probes; the URL becomes the instance.
        scrape_configs.append(
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "file_sd_configs": [{"files": ["file_sd/blackbox.yml"]}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": blackbox_address},
                ],
            }
        )
    scrape_configs += prometheus_user.scrape_configs(user_jobs)
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
            "external_labels": {**(external_labels or {}), "env": environment},
        },
        "alerting": {
            "alertmanagers": [
                {
                    "path_prefix": ALERTMANAGER.route_prefix,
                    "static_configs": [{"targets": [alertmanager_address]}],
                }
            ]
        },
        "rule_files": ["rules/*.yml"],
        "scrape_configs": scrape_configs,
        **(
            {"remote_write": prometheus_user.remote_write_configs(remote_write)}
            if remote_write
            else {}
        ),
    }


def rule_files(jobs: dict[str, list[dict]]) -> dict[str, str]:
    """Rendered rule files by name: the project's baseline plus the user's extra files.

    An agent's rules go where some host runs it (the rest would never see data); while a
    host's agents are unknown in this run, the agent rules the server has stay.
    """
    context = rules_context(host.data.dict())
    baseline = sorted((TEMPLATES_DIR / "prometheus" / "rules").glob("*.yml.j2"))
    rendered = {
        template.name.removesuffix(".j2"): render_template(
            f"prometheus/rules/{template.name}", context
        )
        for template in baseline
    }
    agents = [agents_of(target) for target in inventory]
    in_use = {AGENTS[agent].rules for known in agents if known for agent in known}
    in_use |= {
        component.rules
        for component in AGENTS.values()
        if component.scrape and jobs.get(component.scrape.job)
    }
    if any(known is None for known in agents):
        live = host.get_fact(FileNames, path=PROMETHEUS_RULES_DIR)
        in_use |= {
            component.rules
            for component in AGENTS.values()
            if f"{component.rules}.rules.yml" in live
        }
    # The server's own components with rules of their own (blackbox_exporter), where they run.
    own = [
        component.rules
        for component in running(host.groups, host.data.dict(), [])
        if component.rules and not component.agent
    ]
    for rules in sorted(name for name in in_use if name) + own:
        rendered[f"{rules}.rules.yml"] = render_template(
            f"prometheus/rules/agents/{rules}.rules.yml.j2", context
        )
    for extra in host.data.get("prometheus_extra_rule_files") or []:
        path = repo_path(extra)
        rendered[Path(path).name] = path.read_text()
    return rendered


def scrape_jobs() -> dict[str, list[dict]]:
    """Target groups per job, from the whole inventory (not only the hosts of this run).

    A host whose agents this run did not detect (outside ``--limit``) keeps the agent
    targets the server has for it: nothing is dropped because nobody looked.
    """
    jobs: dict[str, list[dict]] = {
        component.scrape.job: [] for component in CATALOG if component.scrape
    }
    unknown: set[str] = set()
    for target_host in inventory:
        role = next((group for group in ROLES if group in target_host.groups), None)
        if role is None:
            continue
        data = target_host.data
        settings = data.dict()
        address = scrape_host(target_host.name, target_host.groups, data)
        instance = instance_label(target_host.name)
        labels = {"instance": instance, "role": role, "env": data.environment}
        agents, pools = agents_of(target_host), php_fpm_pools_of(target_host)
        known = agents is not None and pools is not None
        if not known:
            unknown.add(instance)
        # Its own daemons, and its agents when known; blackbox_exporter's job is the probes.
        for component in running(target_host.groups, settings, agents or []):
            if not component.scrape or not component.listen or (component.agent and not known):
                continue
            target = host_port(address, component.listen.number(settings))
            if component.scrape.per_pool:
                # One target per pool: FPM's status page has no pool label.
                jobs[component.scrape.job] += [
                    target_group(
                        target,
                        labels
                        | {
                            "pool": pool["pool"],
                            "php_version": pool["php"],
                            "__metrics_path__": f"/php{pool['php']}/{pool['pool']}",
                        },
                    )
                    for pool in pools or []
                ]
            else:
                jobs[component.scrape.job].append(target_group(target, labels))
    agent_jobs = {
        component.scrape.job: jobs.pop(component.scrape.job)
        for component in AGENTS.values()
        if component.scrape
    }
    if unknown:
        _keep_targets_of(unknown, agent_jobs)
    # An agent's job only while some host runs it: its file_sd file goes with it.
    jobs |= {job: groups for job, groups in agent_jobs.items() if groups}
    try:
        return {job: [checked_group(g, job) for g in groups] for job, groups in jobs.items()}
    except TargetError as error:
        raise PyinfraError(f"{host.name}: scrape targets: {error}") from error


def _keep_targets_of(hosts: set[str], agent_jobs: dict[str, list[dict]]) -> None:
    """Add the server's current agent targets of ``hosts`` to ``agent_jobs``."""
    current = host.get_fact(FileSdGroups, directory=PROMETHEUS_FILE_SD_DIR)
    try:
        for job in agent_jobs:
            agent_jobs[job] += kept_groups(current.get(job, []), hosts, job)
    except TargetError as error:
        raise PyinfraError(
            f"{host.name}: cannot keep the targets of {', '.join(sorted(hosts))} as they are: "
            f"{error}"
        ) from error
