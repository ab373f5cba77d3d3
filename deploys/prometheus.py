"""Prometheus on the observability server: scrape targets from the inventory, alert rules."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host, inventory

from deploys import blackbox_exporter
from deploys.common import (
    SCRAPED_AGENTS,
    agents_of,
    daemon_unit,
    php_fpm_pools_of,
    pinned,
    scraped_ports,
)
from deploys.proxy import external_url
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR, render_template
from obsstack.roles import PROMETHEUS, ROLE_SERVICES, ROLES
from operations.component import Component, ConfigFile, ManagedDirectory

USER = "prometheus"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/var/lib/prometheus"
RULES_DIR = f"{CONFIG_DIR}/rules"
FILE_SD_DIR = f"{CONFIG_DIR}/file_sd"
PROMTOOL = "/usr/local/bin/promtool"
# The path each daemon of the server serves under, matching its location in the proxy.
ROUTE_PREFIXES = {
    service.component: service.route_prefix for service in ROLE_SERVICES["observability"]
}


def component() -> Component:
    jobs = scrape_jobs()
    # Rules and targets come first: promtool check config reads the live rule files.
    files = [
        ConfigFile(f"{RULES_DIR}/{name}", text, validate=f"{PROMTOOL} check rules {{path}}")
        for name, text in rule_files().items()
    ]
    files += [
        ConfigFile(
            f"{FILE_SD_DIR}/{job}.yml",
            render_template("prometheus/file_sd.yml.j2", {"targets": targets}),
        )
        for job, targets in jobs.items()
    ]
    if blackbox_exporter.wanted():
        probes = [
            {"address": url, "labels": {"env": host.data.environment}}
            for url in host.data.blackbox_targets
        ]
        files.append(
            ConfigFile(
                f"{FILE_SD_DIR}/blackbox.yml",
                render_template("prometheus/file_sd.yml.j2", {"targets": probes}),
            )
        )
    files.append(
        ConfigFile(
            f"{CONFIG_DIR}/prometheus.yml",
            render_template(
                "prometheus/prometheus.yml.j2",
                {
                    "scrape_interval": host.data.prometheus_scrape_interval,
                    "evaluation_interval": host.data.prometheus_evaluation_interval,
                    "environment": host.data.environment,
                    "alertmanager_address": f"127.0.0.1:{host.data.alertmanager_port}",
                    "alertmanager_path_prefix": ROUTE_PREFIXES["alertmanager"],
                    "jobs": [
                        {"name": job, "metrics_path": ROUTE_PREFIXES.get(job, "") + "/metrics"}
                        for job in jobs
                    ],
                    "blackbox_address": (
                        blackbox_exporter.address() if blackbox_exporter.wanted() else None
                    ),
                },
            ),
            validate=f"{PROMTOOL} check config {{path}}",
        )
    )
    return Component(
        name="prometheus",
        **pinned("prometheus"),
        user=USER,
        home=DATA_DIR,
        unit="prometheus.service",
        unit_text=daemon_unit(
            description="Prometheus monitoring server",
            documentation="https://prometheus.io/docs/",
            user=USER,
            exec_start=[
                "/usr/local/bin/prometheus",
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={host.data.prometheus_retention_time}",
                f"--storage.tsdb.retention.size={host.data.prometheus_retention_size}",
                # Behind the proxy only (deploys/proxy.py), under its path there.
                f"--web.listen-address=127.0.0.1:{host.data.prometheus_port}",
                f"--web.external-url={external_url('prometheus')}",
                f"--web.route-prefix={PROMETHEUS.route_prefix}",
            ],
            read_write_paths=[DATA_DIR],
        ),
        config_dirs=(
            ManagedDirectory(CONFIG_DIR),
            ManagedDirectory(RULES_DIR, prune_suffix=".yml"),
            ManagedDirectory(FILE_SD_DIR, prune_suffix=".yml"),
        ),
        files=tuple(files),
    )


def rule_files() -> dict[str, str]:
    """Rendered rule files by name: the project's baseline plus the user's extra files."""
    context = {"alert_rules": host.data.alert_rules}
    baseline = sorted((TEMPLATES_DIR / "prometheus" / "rules").glob("*.yml.j2"))
    # An agent's rules only while some host runs it: the rest would never see data.
    agents_in_use = sorted({agent for target in inventory for agent in agents_of(target)})
    rendered = {
        template.name.removesuffix(".j2"): render_template(
            f"prometheus/rules/{template.name}", context
        )
        for template in baseline
    }
    for agent in agents_in_use + (["blackbox"] if blackbox_exporter.wanted() else []):
        rendered[f"{agent}.rules.yml"] = render_template(
            f"prometheus/rules/agents/{agent}.rules.yml.j2", context
        )
    for extra in host.data.get("prometheus_extra_rule_files") or []:
        path = repo_path(extra)
        rendered[Path(path).name] = path.read_text()
    return rendered


def scrape_jobs() -> dict[str, list[dict]]:
    """Targets per job, from the whole inventory (not only the hosts of this run)."""
    node, prometheus, alertmanager = [], [], []
    agent_jobs: dict[str, list[dict]] = {agent: [] for agent in SCRAPED_AGENTS}
    for target_host in inventory:
        role = next((group for group in ROLES if group in target_host.groups), None)
        if role is None:
            continue
        address = target_host.data.get("ssh_hostname") or target_host.name
        data = target_host.data
        labels = {"instance": target_host.name, "role": role, "env": data.environment}
        node.append({"address": f"{address}:{data.node_exporter_port}", "labels": labels})
        ports = scraped_ports(target_host)
        for job in ("nginx", "mysql"):
            if job in ports:
                agent_jobs[job].append({"address": f"{address}:{ports[job]}", "labels": labels})
        # One target per pool: FPM's status page has no pool label.
        agent_jobs["php_fpm"] += [
            {
                "address": f"{address}:{ports['php_fpm']}",
                "labels": labels
                | {
                    "pool": pool["pool"],
                    "php_version": pool["php"],
                    "__metrics_path__": f"/php{pool['php']}/{pool['pool']}",
                },
            }
            for pool in php_fpm_pools_of(target_host)
        ]
        if role == "observability":
            # Scraped by the Prometheus on the same server, hence loopback.
            prometheus.append({"address": f"127.0.0.1:{data.prometheus_port}", "labels": labels})
            alertmanager.append(
                {"address": f"127.0.0.1:{data.alertmanager_port}", "labels": labels}
            )
    jobs = {"node": node, "prometheus": prometheus, "alertmanager": alertmanager}
    # An agent's job only while some host runs it: its file_sd file goes with it.
    return jobs | {job: targets for job, targets in agent_jobs.items() if targets}
