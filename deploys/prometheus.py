"""Prometheus on the observability server: scrape targets from the inventory, alert rules."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host, inventory
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from deploys.common import backups_kept, install_release
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR, render_template
from operations.config import managed_config
from operations.facts import FileNames
from operations.service import daemon_account, service

USER = "prometheus"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/var/lib/prometheus"
RULES_DIR = f"{CONFIG_DIR}/rules"
FILE_SD_DIR = f"{CONFIG_DIR}/file_sd"
ROLES = ("observability", "monitored")


def deploy() -> None:
    daemon_account(USER, home=DATA_DIR)
    binary = install_release("prometheus")
    for path in (CONFIG_DIR, RULES_DIR, FILE_SD_DIR):
        files.directory(
            name=f"Create {path}", path=path, user="root", group=USER, mode="0750", present=True
        )
    wanted_rules = rule_files()
    rules = [_rule_file(name, text) for name, text in wanted_rules.items()]
    rules += _remove_unmanaged_rules(set(wanted_rules))
    for job, targets in scrape_jobs().items():
        managed_config(
            name=f"Prometheus targets: {job}",
            dest=f"{FILE_SD_DIR}/{job}.yml",
            content=render_template("prometheus/file_sd.yml.j2", {"targets": targets}),
            group=USER,
            mode="0640",
            keep_backups=backups_kept(),
        )
    config = managed_config(
        name="Prometheus configuration",
        dest=f"{CONFIG_DIR}/prometheus.yml",
        content=render_template(
            "prometheus/prometheus.yml.j2",
            {
                "scrape_interval": host.data.prometheus_scrape_interval,
                "evaluation_interval": host.data.prometheus_evaluation_interval,
                "environment": host.data.environment,
                "alertmanager_address": f"127.0.0.1:{host.data.alertmanager_port}",
                "jobs": [{"name": job, "metrics_path": "/metrics"} for job in scrape_jobs()],
            },
        ),
        validate="/usr/local/bin/promtool check config {path}",
        group=USER,
        mode="0640",
        keep_backups=backups_kept(),
    )
    service(
        "prometheus.service",
        _unit(),
        restart_on=[binary],
        reload_on=[config, *rules],
        keep_backups=backups_kept(),
    )


def rule_files() -> dict[str, str]:
    """Rendered rule files by name: the project's baseline plus the user's extra files."""
    context = {"alert_rules": host.data.alert_rules}
    rendered = {
        template.name.removesuffix(".j2"): render_template(
            f"prometheus/rules/{template.name}", context
        )
        for template in sorted((TEMPLATES_DIR / "prometheus" / "rules").glob("*.yml.j2"))
    }
    for extra in host.data.get("prometheus_extra_rule_files") or []:
        path = repo_path(extra)
        rendered[Path(path).name] = path.read_text()
    return rendered


def _rule_file(name: str, text: str):
    return managed_config(
        name=f"Alert rules: {name}",
        dest=f"{RULES_DIR}/{name}",
        content=text,
        validate="/usr/local/bin/promtool check rules {path}",
        group=USER,
        mode="0640",
        keep_backups=backups_kept(),
    )


def _remove_unmanaged_rules(keep: set[str]) -> list[OperationMeta]:
    """Rule files the project no longer ships must not keep alerting."""
    present = host.get_fact(FileNames, path=RULES_DIR)
    return [
        files.file(name=f"Remove stale rule file {name}", path=f"{RULES_DIR}/{name}", present=False)
        for name in present
        if name.endswith(".yml") and name not in keep
    ]


def scrape_jobs() -> dict[str, list[dict]]:
    """Targets per job, from the whole inventory (not only the hosts of this run)."""
    node, prometheus, alertmanager = [], [], []
    for target_host in inventory:
        role = next((group for group in ROLES if group in target_host.groups), None)
        if role is None:
            continue
        address = target_host.data.get("ssh_hostname") or target_host.name
        labels = {"instance": target_host.name, "role": role, "env": target_host.data.environment}
        data = target_host.data
        node.append({"address": f"{address}:{data.node_exporter_port}", "labels": labels})
        if role == "observability":
            # Scraped by the Prometheus on the same server, hence loopback.
            prometheus.append({"address": f"127.0.0.1:{data.prometheus_port}", "labels": labels})
            alertmanager.append(
                {"address": f"127.0.0.1:{data.alertmanager_port}", "labels": labels}
            )
    return {"node": node, "prometheus": prometheus, "alertmanager": alertmanager}


def _unit() -> str:
    return render_template(
        "systemd/daemon.service.j2",
        {
            "description": "Prometheus monitoring server",
            "documentation": "https://prometheus.io/docs/",
            "user": USER,
            "exec_start": [
                "/usr/local/bin/prometheus",
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={host.data.prometheus_retention_time}",
                f"--storage.tsdb.retention.size={host.data.prometheus_retention_size}",
                f"--web.listen-address=:{host.data.prometheus_port}",
            ],
            "reload_signal": "HUP",
            "read_write_paths": [DATA_DIR],
            "address_families": ["AF_INET", "AF_INET6", "AF_UNIX"],
        },
    )
