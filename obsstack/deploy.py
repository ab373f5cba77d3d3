"""Run a deploy the way a user would: the pyinfra CLI on the site deploy, checked first.

Inputs are validated before pyinfra connects anywhere. pyinfra plans first (``--dry``)
and runs (``--yes``) only a plan that changes something, both with ``--json`` so its
results can be counted per host (changed / unchanged / failed operations) while its
human-readable log streams to the terminal.

Example::

    from obsstack.deploy import run_deploy
    result = run_deploy("inventories/lab.py")
    result.changed   # {'obs': 0, 'web1': 0, 'app1': 0} on a second run
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obsstack import pyinfra_run
from obsstack.agents import DETECTED, with_checked_agents
from obsstack.session import check_inputs, describe_inventory, limit_patterns, select_hosts
from obsstack.worker import in_worker

# Where pyinfra_argv runs: deploy files and group_data/ are relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent
SITE = "deploys/site.py"
ROLLBACK = "deploys/rollback.py"
UNINSTALL = "deploys/uninstall.py"
BACKUP_TOOLS = "deploys/backup_tools.py"
# The function each deploy file calls: what pyinfra runs here, with the same plan, quicker
# (deploys/entrypoints.py says why).
ENTRY_POINTS = {
    SITE: "deploys.entrypoints.site",
    ROLLBACK: "deploys.entrypoints.rollback",
    UNINSTALL: "deploys.entrypoints.uninstall",
    BACKUP_TOOLS: "deploys.entrypoints.backup_tools",
}


@dataclass
class DeployResult:
    returncode: int
    log: str
    changed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    # Why pyinfra's results could not be counted (None: they were): counts then say nothing.
    unreadable: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.unreadable is None and not any(self.failed.values())

    @property
    def hosts(self) -> set[str]:
        """Every host pyinfra reported on."""
        return set(self.changed) | set(self.failed)

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def pyinfra_argv(*options: Any, **keywords: Any) -> list[str]:
    """The pyinfra command line of ``pyinfra_arguments(*options, **keywords)``."""
    return [sys.executable, "-m", "pyinfra", *pyinfra_arguments(*options, **keywords)]


def pyinfra_arguments(
    inventory: str,
    deploy_file: str = SITE,
    limit: str | None = None,
    data: Mapping[str, Any] | None = None,
    verbosity: int = 0,
    diff: bool = False,
    dry: bool = False,
) -> list[str]:
    """pyinfra's arguments; ``dry`` plans (detecting changes) instead of executing.
    ``deploy_file`` may also name a function (``deploys.entrypoints.site``)."""
    mode = "--dry" if dry else "--yes"
    argv = [inventory, deploy_file, mode, "--json"]
    # pyinfra takes one pattern per --limit: "obs,web1" would match no host at all.
    for pattern in limit_patterns(limit):
        argv += ["--limit", pattern]
    for key, value in (data or {}).items():
        argv += ["--data", f"{key}={json.dumps(value)}"]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    if diff:
        argv.append("--diff")
    return argv


@in_worker
def run_deploy(
    inventory: str,
    deploy_file: str = SITE,
    limit: str | None = None,
    data: Mapping[str, Any] | None = None,
    verbosity: int = 0,
    diff: bool = False,
    echo: bool = True,
) -> DeployResult:
    """Validate the inputs of ``inventory``, then deploy; never raises on deploy failure.

    pyinfra plans the deploy first (``--dry``): a plan without changes is the result, and
    only a plan with changes is run (``--yes``).

    Agents are detected first, on the hosts ``limit`` names, unless ``data`` carries a
    detection already (the pipeline detects once for all its steps)."""
    check_inputs(inventory, data)
    described = describe_inventory(inventory)
    targets = [host.name for host in select_hosts(described, limit)]
    if DETECTED not in (data or {}):
        data = with_checked_agents(inventory, data, hosts=targets, described=described)
    options = (inventory, ENTRY_POINTS.get(deploy_file, deploy_file), limit, data, verbosity, diff)
    # Plan first: when no host would change, the run is over without a second round of facts.
    returncode, log, stdout = pyinfra_run.run(pyinfra_arguments(*options, dry=True), echo)
    if returncode == 0 and not plans_changes(stdout):
        return DeployResult(returncode, log, changed=dict.fromkeys(targets, 0))
    returncode, run_log, stdout = pyinfra_run.run(pyinfra_arguments(*options), echo)
    result = DeployResult(returncode, log + run_log + stdout)
    _count_results(result, stdout)
    return result


def plans_changes(stdout: str) -> bool:
    """Whether a ``--dry --json`` plan changes anything (an unreadable plan may).

    Only operations that change unconditionally count: every condition (``_if``) in this
    project's operations is "an earlier operation changed" (tests/unit/test_conditions.py),
    so with none of those, no conditional operation runs either."""
    try:
        plan = json.loads(stdout)["plan"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return True
    return any(operation["hosts_with_change"] for operation in plan)


def _count_results(result: DeployResult, stdout: str) -> None:
    """Per-host counts of changed and failed operations from pyinfra's JSON results.

    No results (pyinfra crashed, or stopped before running anything) leave the result
    unreadable, hence not ok: "nothing changed" must never stand for "nothing known".
    """
    try:
        results = json.loads(stdout)["results"]
        operations = results["operations"]
    except (json.JSONDecodeError, KeyError, TypeError):
        result.unreadable = "pyinfra printed no results (see its log above)"
        return
    for name in results.get("failed_hosts", []):
        result.failed[name] = result.failed.get(name, 0) + 1
    for operation in operations:
        for name in operation["success"]:
            result.changed[name] = result.changed.get(name, 0) + 1
        for name in operation["no_change"]:
            result.changed.setdefault(name, 0)
        for name in operation["error"]:
            result.failed[name] = result.failed.get(name, 0) + 1
