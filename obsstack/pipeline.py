"""``invoke deploy``: inputs → preflight → current releases → deploy → health gate → rollback.

A deploy is kept only if every host converged and the health check passes afterwards,
but for failures that were there before it about hosts it did not touch (a monitored host
that is down while the server gets a new threshold). Otherwise the hosts go back to the
release they ran before (``deploys/rollback.py``), health is checked again, and the
outcome names what failed and what was rolled back. Every deployed host gets a deploy log
line and deploy metrics either way.

Example::

    from obsstack.pipeline import deploy_pipeline
    outcome = deploy_pipeline("inventories/lab.py")
    outcome.ok, outcome.failures, outcome.rolled_back, outcome.preexisting
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from obsstack.agents import DetectionError, detection_summary, with_checked_agents
from obsstack.checks import Report
from obsstack.deploy import ROLLBACK, DeployResult, run_deploy
from obsstack.deploylog import DeployRecord, write_records
from obsstack.health import run_health
from obsstack.history import current_release_ids, list_releases
from obsstack.preflight import run_preflight
from obsstack.provenance import deploy_commit, deployer
from obsstack.session import HostInfo, check_inputs, describe_inventory, select_hosts
from obsstack.settings import SettingsError, parse_duration
from obsstack.worker import in_worker

HEALTH_POLL_SECONDS = 2


@dataclass
class PipelineOutcome:
    ok: bool = False
    failures: list[str] = field(default_factory=list)
    rolled_back: dict[str, str] = field(default_factory=dict)  # host -> release id
    deploy: DeployResult | None = None
    # Health failures the gate let pass: there before the deploy, about hosts it did not touch.
    preexisting: list[str] = field(default_factory=list)


@in_worker
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
    """Run the pipeline on the hosts ``limit`` names (every host without it); with
    ``canary``, the canary hosts go first and alone.

    Preflight, detection, the health gate and a rollback look only at the hosts being
    deployed (and, for the gate, the observability servers that scrape them): a host down
    elsewhere never stops a deploy, and the server keeps its targets as they are.
    """
    outcome = PipelineOutcome()
    progress("deploy: 1/5 checking inputs")
    check_inputs(inventory, data)
    inventory_hosts = describe_inventory(inventory)
    targets = [host.name for host in select_hosts(inventory_hosts, limit)]
    watched = set(targets) | {h.name for h in inventory_hosts if "observability" in h.groups}

    progress(f"deploy: 2/5 preflight ({', '.join(targets)})")
    progress("deploy: 3/5 reading the current releases and health, detecting agents")
    # Preflight and three reads of the hosts, side by side over the worker's connections:
    # all only read, and nothing is deployed unless preflight passes.
    with ThreadPoolExecutor(4) as pool:
        checked = pool.submit(run_preflight, inventory, hosts=targets)
        releases = pool.submit(current_release_ids, inventory, hosts=targets)
        health = pool.submit(
            run_health, inventory, write_metrics=False, hosts=watched, described=inventory_hosts
        )
        # Once for every wave and the rollback: all see the same agents and pools.
        detection = pool.submit(
            with_checked_agents, inventory, data, hosts=targets, described=inventory_hosts
        )
        preflight = checked.result()
        if not preflight.ok:
            outcome.failures = [
                f"preflight {f.host} {f.check}: {f.detail}" for f in preflight.failing()
            ]
            return outcome
        before = releases.result()
        gate = HealthGate(
            inventory, inventory_hosts, health.result(), gate_timeout(inventory_hosts, data)
        )
        try:
            data = detection.result()
        except DetectionError as error:
            outcome.failures = [f"detection: {error}"]
            return outcome
    for line in detection_summary(data):
        progress(f"deploy:   {line}")

    started = time.time()
    waves = canary_waves(select_hosts(inventory_hosts, limit)) if canary else [limit]
    deployed: set[str] = set()
    for number, wave in enumerate(waves, start=1):
        name = "canary" if canary and number == 1 else "hosts"
        progress(f"deploy: 4/5 deploying {wave or 'every host'} ({name})")
        result = run_deploy(
            inventory, limit=wave, data=data, verbosity=verbosity, diff=diff, echo=echo
        )
        outcome.deploy = _merged(outcome.deploy, result)
        wave_hosts = {h.name for h in select_hosts(inventory_hosts, wave)}
        deployed |= wave_hosts
        failures = _gate(gate, result, wave_hosts, deployed, outcome, progress)
        if failures:
            outcome.failures = [f"{name}: {failure}" for failure in failures]
            if auto_rollback:
                _roll_back(
                    inventory, wave, data, before, wave_hosts, deployed, gate, outcome, echo,
                    progress,
                )
            break
    outcome.ok = not outcome.failures
    for line in outcome.preexisting:
        progress(f"deploy:   pre-existing, not caused by this deploy: {line}")
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
    gate: HealthGate,
    result: DeployResult,
    wave_hosts: set[str],
    deployed: set[str],
    outcome: PipelineOutcome,
    progress: Callable[[str], None],
) -> list[str]:
    if not result.ok:
        failed = [f"deploy failed on {host}" for host in sorted(result.failed)]
        if result.unreadable:
            failed.append(result.unreadable)
        return failed or ["deploy failed (see the log above)"]
    missing = wave_hosts - result.hosts
    if missing:
        return [f"pyinfra reported nothing for {', '.join(sorted(missing))}"]
    progress("deploy: 5/5 health gate")
    return gate.failures(deployed, outcome)


def _roll_back(
    inventory, wave, data, before, wave_hosts, deployed, gate, outcome, echo, progress
) -> None:
    """Return the wave's hosts to the release they ran before this pipeline."""
    targets = {host: rid for host, rid in before.items() if rid and host in wave_hosts}
    progress(f"deploy: rolling back {', '.join(sorted(targets)) or 'nothing'}")
    if not targets:
        return
    rollback = run_deploy(
        inventory, ROLLBACK, limit=wave, data={**(data or {}), "rollback_to": targets}, echo=echo
    )
    if rollback.ok and rollback.hosts >= set(targets):
        outcome.rolled_back = targets
    else:
        outcome.failures.append("rollback failed: see the log above")
    outcome.failures += [
        f"after rollback: {f}" for f in gate.failures(deployed, outcome)
    ]


def _merged(first: DeployResult | None, second: DeployResult) -> DeployResult:
    if first is None:
        return second
    return DeployResult(
        max(first.returncode, second.returncode),
        first.log + second.log,
        {**first.changed, **second.changed},
        {**first.failed, **second.failed},
        first.unreadable or second.unreadable,
    )


def gate_failures(
    report: Report, baseline: Report, deployed: set[str]
) -> tuple[list[str], list[str]]:
    """``(caused, preexisting)``: the failures of ``report`` the gate counts, and those it
    lets pass. A failure about a deployed host always counts (the deploy must leave it
    healthy); one about another host counts only if it was not failing in ``baseline``."""
    before = {(r.host, r.check, item) for r in baseline.results for item in r.failing_items}
    caused, preexisting = [], []
    for result in report.results:
        for about, what in result.failing_items:
            line = f"health {result.host} {result.check}: {what}"
            if about in deployed or (result.host, result.check, (about, what)) not in before:
                caused.append(line)
            else:
                preexisting.append(line)
    return caused, preexisting


@dataclass(frozen=True)
class HealthGate:
    """What the gate judges a deploy against: the inventory's hosts, described once for
    the whole pipeline, and their health before it."""

    inventory: str
    hosts: list[HostInfo]
    baseline: Report
    timeout: float  # seconds

    def failures(self, deployed: set[str], outcome: PipelineOutcome) -> list[str]:
        """Health failures the deploy caused that persist for the gate's grace period
        (none: the gate passes).

        Restarted daemons need a scrape interval or two before Prometheus sees them up
        again, so the gate polls until health passes or ``health_gate_timeout`` runs out.
        """
        watched = {result.host for result in self.baseline.results} | deployed
        deadline = time.monotonic() + self.timeout
        while True:
            report = run_health(self.inventory, hosts=watched, described=self.hosts)
            caused, preexisting = gate_failures(report, self.baseline, deployed)
            if not caused or time.monotonic() > deadline:
                outcome.preexisting = preexisting
                return caused
            time.sleep(HEALTH_POLL_SECONDS)


def gate_timeout(hosts: list[HostInfo], data: Mapping[str, Any] | None) -> float:
    """How long the gate waits for health: the deploy's own ``health_gate_timeout`` when its
    data sets one, else the longest of the hosts'."""
    if data and "health_gate_timeout" in data:
        return parse_duration(data["health_gate_timeout"])
    return max(parse_duration(host.data["health_gate_timeout"]) for host in hosts)


def _record(inventory: str, outcome: PipelineOutcome, hosts: set[str], started: float) -> None:
    """Log and expose the outcome on every host the deploy reached."""
    finished = time.time()
    after = list_releases(inventory, hosts=hosts) if hosts else {}
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
