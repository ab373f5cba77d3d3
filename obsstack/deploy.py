"""Run a deploy the way a user would: the pyinfra CLI on deploys/site.py, checked first.

Inputs are validated before pyinfra connects anywhere. pyinfra runs with ``--json`` so
its results can be counted per host (changed / unchanged / failed operations) while its
human-readable log streams to the terminal.

Example::

    from obsstack.deploy import run_deploy
    result = run_deploy("inventories/lab.py")
    result.changed   # {'obs': 0, 'web1': 0, 'app1': 0} on a second run
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obsstack.agents import DETECTED, with_checked_agents
from obsstack.inventory import check_inputs

REPO_ROOT = Path(__file__).resolve().parent.parent
SITE = "deploys/site.py"
ROLLBACK = "deploys/rollback.py"
UNINSTALL = "deploys/uninstall.py"


@dataclass
class DeployResult:
    returncode: int
    log: str
    changed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not any(self.failed.values())

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


def pyinfra_argv(
    inventory: str,
    deploy_file: str = SITE,
    limit: str | None = None,
    data: Mapping[str, Any] | None = None,
    verbosity: int = 0,
    diff: bool = False,
    dry: bool = False,
) -> list[str]:
    """The pyinfra command line; ``dry`` plans (detecting changes) instead of executing."""
    mode = "--dry" if dry else "--yes"
    argv = [sys.executable, "-m", "pyinfra", inventory, deploy_file, mode, "--json"]
    if limit:
        argv += ["--limit", limit]
    for key, value in (data or {}).items():
        argv += ["--data", f"{key}={json.dumps(value)}"]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    if diff:
        argv.append("--diff")
    return argv


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

    Agents are detected first unless ``data`` carries a detection already (the pipeline
    detects once for all its steps)."""
    check_inputs(inventory, data)
    if DETECTED not in (data or {}):
        data = with_checked_agents(inventory, data)
    argv = pyinfra_argv(inventory, deploy_file, limit, data, verbosity, diff)
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log_lines = []
    assert process.stderr is not None
    for line in process.stderr:
        log_lines.append(line)
        if echo:
            sys.stderr.write(line)
    stdout = process.stdout.read() if process.stdout else ""
    returncode = process.wait()
    result = DeployResult(returncode, "".join(log_lines) + stdout)
    _count_results(result, stdout)
    return result


def _count_results(result: DeployResult, stdout: str) -> None:
    """Per-host counts of changed and failed operations from pyinfra's JSON results."""
    try:
        results = json.loads(stdout).get("results") or {}
    except json.JSONDecodeError:
        return
    for operation in results.get("operations", []):
        for name in operation["success"]:
            result.changed[name] = result.changed.get(name, 0) + 1
        for name in operation["no_change"]:
            result.changed.setdefault(name, 0)
        for name in operation["error"]:
            result.failed[name] = result.failed.get(name, 0) + 1
