"""``invoke deploy``: inputs → preflight → current releases → deploy → health gate → rollback.

A deploy is kept only if every host converged and the health check passes afterwards.
Otherwise the hosts go back to the release they ran before (``deploys/rollback.py``),
health is checked again, and the outcome names what failed and what was rolled back.
Every deployed host gets a deploy log line and deploy metrics either way.

Example::

    from obsstack.pipeline import deploy_pipeline
    outcome = deploy_pipeline("inventories/lab.py")
    outcome.ok, outcome.failures, outcome.rolled_back
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from obsstack.agents import detection_summary, with_checked_agents
from obsstack.deploy import ROLLBACK, DeployResult, run_deploy
from obsstack.deploylog import DeployRecord, write_records
from obsstack.health import run_health
from obsstack.inventory import check_inputs
from obsstack.preflight import run_preflight
from obsstack.provenance import deploy_commit, deployer
from obsstack.releases import list_releases
from obsstack.remote import HostInfo, describe_inventory
from obsstack.settings import SettingsError, parse_duration

HEALTH_POLL_SECONDS = 2


@dataclass
class PipelineOutcome:
    ok: bool = False
    failures: list[str] = field(default_factory=list)
    rolled_back: dict[str, str] = field(default_factory=dict)  # host -> release id
    deploy: DeployResult | None = None


def deploy_pipeline(
    inventory: str,
    limit: str | None = None,
    data: Mapping[str, Any] | None = None,
    auto_rollback: bool = True,
    canary: bool = False,
    verbosity: int = 0,
    diff: bool = False,
    echo: bool = True,
    progress: Callable[[str], None] = print,
) -> PipelineOutcome:
    """Run the pipeline; with ``canary``, the canary hosts go first and alone."""
    outcome = PipelineOutcome()
    progress("deploy: 1/5 checking inputs")
    check_inputs(inventory, data)

    progress("deploy: 2/5 preflight")
    preflight = run_preflight(inventory)
    if not preflight.ok:
        outcome.failures = [
            f"preflight {f.host} {f.check}: {f.detail}" for f in preflight.failing()
        ]
        return outcome

    progress("deploy: 3/5 reading the current releases, detecting agents")
    before = {host: _current(history) for host, history in list_releases(inventory).items()}
    # Once for every wave and the rollback: all see the same agents and pools.
    data = with_checked_agents(inventory, data)
    for line in detection_summary(data):
        progress(f"deploy:   {line}")

    started = time.time()
    waves = canary_waves(describe_inventory(inventory)) if canary else [limit]
    deployed: set[str] = set()
    for number, wave in enumerate(waves, start=1):
        name = "canary" if canary and number == 1 else "hosts"
        progress(f"deploy: 4/5 deploying {wave or 'every host'} ({name})")
        result = run_deploy(
            inventory, limit=wave, data=data, verbosity=verbosity, diff=diff, echo=echo
        )
        outcome.deploy = _merged(outcome.deploy, result)
        wave_hosts = set(result.changed) | set(result.failed)
        deployed |= wave_hosts
        failures = _gate(inventory, data, result, progress)
        if failures:
            outcome.failures = [f"{name}: {failure}" for failure in failures]
            if auto_rollback:
                _roll_back(inventory, wave, data, before, wave_hosts, outcome, echo, progress)
            break
    outcome.ok = not outcome.failures
    _record(inventory, outcome, deployed, started)
    return outcome


def canary_waves(hosts: list[HostInfo]) -> list[str]:
    """The canary (group ``canary``, else the first monitored host), then everyone else."""
    canaries = [h.name for h in hosts if "canary" in h.groups]
    if not canaries:
        canaries = [h.name for h in hosts if "monitored" in h.groups][:1]
    if not canaries:
        raise SettingsError("--canary needs a host in group canary or monitored")
    rest = [h.name for h in hosts if h.name not in canaries]
    return [",".join(canaries), ",".join(rest)] if rest else [",".join(canaries)]


def _gate(
    inventory: str,
    data: Mapping[str, Any] | None,
    result: DeployResult,
    progress: Callable[[str], None],
) -> list[str]:
    if not result.ok:
        failed = [f"deploy failed on {host}" for host in sorted(result.failed)]
        return failed or ["deploy failed (see the log above)"]
    progress("deploy: 5/5 health gate")
    return _health_gate(inventory, data)


def _roll_back(inventory, wave, data, before, wave_hosts, outcome, echo, progress) -> None:
    """Return the wave's hosts to the release they ran before this pipeline."""
    targets = {host: rid for host, rid in before.items() if rid and host in wave_hosts}
    progress(f"deploy: rolling back {', '.join(sorted(targets)) or 'nothing'}")
    if not targets:
        return
    rollback = run_deploy(
        inventory, ROLLBACK, limit=wave, data={**(data or {}), "rollback_to": targets}, echo=echo
    )
    if rollback.ok:
        outcome.rolled_back = targets
    else:
        outcome.failures.append("rollback failed: see the log above")
    outcome.failures += [f"after rollback: {f}" for f in _health_gate(inventory, data)]


def _merged(first: DeployResult | None, second: DeployResult) -> DeployResult:
    if first is None:
        return second
    return DeployResult(
        max(first.returncode, second.returncode),
        first.log + second.log,
        {**first.changed, **second.changed},
        {**first.failed, **second.failed},
    )


def _current(history) -> str | None:
    return next((release.id for release in history if release.current), None)


def _health_gate(inventory: str, data: Mapping[str, Any] | None) -> list[str]:
    """Health failures that persist for the gate's grace period (none: the gate passes).

    Restarted daemons need a scrape interval or two before Prometheus sees them up again,
    so the gate polls until health passes or ``health_gate_timeout`` runs out.
    """
    timeout = max(
        parse_duration(host.data["health_gate_timeout"]) for host in describe_inventory(inventory)
    )
    deadline = time.monotonic() + timeout
    while True:
        report = run_health(inventory)
        failures = [f"health {c.host} {c.name}: {c.detail}" for c in report.failures()]
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(HEALTH_POLL_SECONDS)


def _record(inventory: str, outcome: PipelineOutcome, hosts: set[str], started: float) -> None:
    """Log and expose the outcome on every host the deploy reached."""
    finished = time.time()
    after = {host: history for host, history in list_releases(inventory).items() if host in hosts}
    records = {}
    for host, history in after.items():
        current = next((release for release in history if release.current), None)
        records[host] = DeployRecord(
            time=finished,
            deployer=deployer(),
            commit=deploy_commit(),
            success=outcome.ok,
            duration_seconds=finished - started,
            release=current.id if current else None,
            versions=current.versions if current else {},
            rolled_back_to=outcome.rolled_back.get(host),
            detail="; ".join(outcome.failures)[:500],
        )
    write_records(inventory, records)
