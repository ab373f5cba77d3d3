"""Wall-time benchmarks of the lab workflows, reported as medians of several runs.

    invoke bench --runs 3

- ``fresh lab``: ``lab.down`` then what ``invoke lab`` does (boot from the cached base
  image, reuse the mirror, the full deploy pipeline with its first deploy);
- ``no-op deploy``: ``invoke deploy`` as a user runs it (its own process, the pipeline with
  every check and the health gate) on the converged lab: changes nothing. An untimed no-op
  deploy goes first: the deploy after a fresh lab's first one still plans from a first
  install's fact commands (``operations/prefetch.py``);
- ``health`` and ``drift``: ``invoke health`` and ``invoke drift`` on the converged lab.

Example::

    from obslab.bench import run_benchmarks
    measurements = run_benchmarks(runs=3)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from obslab import machines, services
from obsstack.pipeline import deploy_pipeline

LAB_INVENTORY = services.LAB_INVENTORY


@dataclass
class Measurement:
    name: str
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict:
        return {**asdict(self), "median": self.median}


class BenchmarkError(Exception):
    pass


def _timed(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def _deploy(expect_no_change: bool) -> None:
    outcome = deploy_pipeline(LAB_INVENTORY, echo=False, progress=lambda _: None)
    if not outcome.ok:
        raise BenchmarkError(f"deploy failed: {outcome.failures}")
    if expect_no_change and outcome.deploy and outcome.deploy.total_changed:
        raise BenchmarkError(f"a no-op deploy changed operations: {outcome.deploy.changed}")


def _fresh_lab() -> None:
    machines.up(progress=lambda _: None)
    services.prepare(progress=lambda _: None)
    _deploy(expect_no_change=False)


def _invoke(*arguments: str) -> str:
    """``invoke ARGUMENTS -i LAB_INVENTORY`` in its own process, as a user runs it."""
    argv = [sys.executable, "-m", "invoke", *arguments, "-i", LAB_INVENTORY]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise BenchmarkError(f"invoke {arguments[0]} failed:\n{run.stdout[-2000:]}")
    return run.stdout


def _noop_deploy() -> None:
    # The per-host table: host, changed, failed, rolled back to.
    rows = [line.split() for line in _invoke("deploy").splitlines()]
    changed = {row[0]: row[1] for row in rows if len(row) == 4 and row[1].isdigit()}
    if not changed or set(changed.values()) != {"0"}:
        raise BenchmarkError(f"a no-op deploy changed operations: {changed}")


def run_benchmarks(runs: int = 3, progress: Callable[[str], None] = print) -> list[Measurement]:
    fresh = Measurement("fresh lab (lab.down, then invoke lab)", [])
    others = {
        "no-op deploy (invoke deploy)": _noop_deploy,
        "invoke health": lambda: _invoke("health"),
        "invoke drift": lambda: _invoke("drift"),
    }
    measured = {name: Measurement(name, []) for name in others}
    for run in range(1, runs + 1):
        services.stop_daemons()
        machines.down(progress=lambda _: None)
        fresh.runs.append(_timed(_fresh_lab))
        progress(f"bench: {fresh.name} run {run}/{runs}: {fresh.runs[-1]:.1f}s")
        _deploy(expect_no_change=True)  # untimed: see the module docstring
        for name, action in others.items():
            measured[name].runs.append(_timed(action))
            progress(f"bench: {name} run {run}/{runs}: {measured[name].runs[-1]:.1f}s")
    return [fresh, *measured.values()]
