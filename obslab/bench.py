"""Wall-time benchmarks of the lab workflows, reported as medians of several runs.

    invoke bench --runs 3

- ``fresh lab``: ``lab.down`` then what ``invoke lab`` does (boot from the cached base
  image, reuse the mirror, the full deploy pipeline with its first deploy);
- ``no-op deploy``: ``invoke deploy`` (the pipeline) on the converged lab: changes nothing;
- ``health`` and ``drift``: ``invoke health`` and ``invoke drift`` on the converged lab.

Example::

    from obslab.bench import run_benchmarks
    measurements = run_benchmarks(runs=3)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from obslab import machines, services
from obsstack.drift import check_drift
from obsstack.health import run_health
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


def _health() -> None:
    if not run_health(LAB_INVENTORY).ok:
        raise BenchmarkError("health failed on the converged lab")


def _drift() -> None:
    if not check_drift(LAB_INVENTORY).ok:
        raise BenchmarkError("drift found on the converged lab")


def run_benchmarks(runs: int = 3, progress: Callable[[str], None] = print) -> list[Measurement]:
    fresh = Measurement("fresh lab (lab.down, then invoke lab)", [])
    others = {
        "no-op deploy (invoke deploy)": lambda: _deploy(expect_no_change=True),
        "invoke health": _health,
        "invoke drift": _drift,
    }
    measured = {name: Measurement(name, []) for name in others}
    for run in range(1, runs + 1):
        services.stop_daemons()
        machines.down(progress=lambda _: None)
        fresh.runs.append(_timed(_fresh_lab))
        progress(f"bench: {fresh.name} run {run}/{runs}: {fresh.runs[-1]:.1f}s")
        for name, action in others.items():
            measured[name].runs.append(_timed(action))
            progress(f"bench: {name} run {run}/{runs}: {measured[name].runs[-1]:.1f}s")
    return [fresh, *measured.values()]
