"""Drift: what a deploy would change on each host right now, without changing anything.

Runs the deploy in pyinfra's dry-run mode with JSON output (a dry run exits 0 even when
changes are pending, so the plan is parsed) and lists, per host, the operations that would
change something. Operations that only run after another one changed (reload or restart
of a service) are not drift by themselves. The result is also exposed on each host through
node_exporter's textfile collector (``obs_drift_detected``).

Example::

    from obsstack.drift import check_drift
    report = check_drift("inventories/lab.py")
    report.drifting        # {'web1': ['prometheus: /etc/prometheus/prometheus.yml']} or {}
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from obsstack import pyinfra_run
from obsstack.agents import with_checked_agents
from obsstack.catalog.host import TEXTFILE_DIR
from obsstack.deploy import ENTRY_POINTS, SITE, pyinfra_arguments
from obsstack.session import check_inputs, describe_inventory, run_scripts, select_hosts
from obsstack.textfile import replace_command
from obsstack.worker import in_worker

METRICS_FILE = f"{TEXTFILE_DIR}/obs_drift.prom"


@dataclass
class DriftReport:
    hosts: list[str] = field(default_factory=list)
    drifting: dict[str, list[str]] = field(default_factory=dict)  # host -> operation names

    @property
    def ok(self) -> bool:
        return not self.drifting

    def to_json(self) -> dict:
        return {"ok": self.ok, "hosts": self.hosts, "drifting": self.drifting}


class DriftError(Exception):
    pass


def plan_changes(plan: list[dict]) -> dict[str, list[str]]:
    """Unconditional changes per host from pyinfra's JSON plan."""
    drifting: dict[str, list[str]] = {}
    for operation in plan:
        for host in operation["hosts_with_change"]:
            drifting.setdefault(host, []).append(operation["name"])
    return drifting


@in_worker
def check_drift(
    inventory: str,
    limit: str | None = None,
    data: Mapping[str, Any] | None = None,
    write_metrics: bool = True,
) -> DriftReport:
    """Compare the hosts with the repository (plus ``data`` overrides), changing nothing."""
    check_inputs(inventory, data)
    described = describe_inventory(inventory)
    hosts = [host.name for host in select_hosts(described, limit)]
    data = with_checked_agents(inventory, data, hosts=hosts, described=described)
    arguments = pyinfra_arguments(inventory, ENTRY_POINTS[SITE], limit=limit, data=data, dry=True)
    _, log, stdout = pyinfra_run.run(arguments)
    try:
        payload = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise DriftError(f"the dry run failed:\n{log[-3000:]}") from error
    report = DriftReport(hosts=hosts, drifting=plan_changes(payload["plan"]))
    if write_metrics:
        _write_metrics(inventory, report)
    return report


def _write_metrics(inventory: str, report: DriftReport) -> None:
    now = time.time()
    scripts = {}
    for host in report.hosts:
        text = (
            "# HELP obs_drift_detected 1 if the last drift check found pending changes.\n"
            "# TYPE obs_drift_detected gauge\n"
            f"obs_drift_detected {int(host in report.drifting)}\n"
            "# HELP obs_drift_last_check_timestamp_seconds Unix time of the last drift check.\n"
            "# TYPE obs_drift_last_check_timestamp_seconds gauge\n"
            f"obs_drift_last_check_timestamp_seconds {now:.0f}\n"
        )
        scripts[host] = replace_command(METRICS_FILE, text)
    run_scripts(inventory, scripts)
