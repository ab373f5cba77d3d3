"""Wall-time benchmarks of the lab workflows, reported as medians of several runs.

    invoke bench --runs 3

- ``fresh lab``: ``lab.down`` then ``invoke lab`` (boot from the cached base image, build or
  reuse the mirror, first deploy of every component);
- ``no-op deploy``: a deploy to the running, converged lab (must change nothing).

Example::

    from obsstack.bench import run_benchmarks
    rows = run_benchmarks(runs=3)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from obsstack import lab, labdata
from obsstack.deploy import run_deploy

LAB_INVENTORY = "inventories/lab.py"


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
    result = run_deploy(LAB_INVENTORY, echo=False)
    if not result.ok:
        raise BenchmarkError(f"deploy failed:\n{result.log[-3000:]}")
    if expect_no_change and result.total_changed:
        raise BenchmarkError(f"a no-op deploy changed operations: {result.changed}")


def fresh_lab() -> None:
    lab.up(progress=lambda _: None)
    labdata.prepare(progress=lambda _: None)
    _deploy(expect_no_change=False)


def run_benchmarks(runs: int = 3, progress: Callable[[str], None] = print) -> list[Measurement]:
    fresh = Measurement("fresh lab (lab.down, invoke lab)", [])
    noop = Measurement("no-op deploy", [])
    for run in range(1, runs + 1):
        lab.down(progress=lambda _: None)
        fresh.runs.append(_timed(fresh_lab))
        progress(f"bench: fresh lab run {run}/{runs}: {fresh.runs[-1]:.1f}s")
        noop.runs.append(_timed(lambda: _deploy(expect_no_change=True)))
        progress(f"bench: no-op deploy run {run}/{runs}: {noop.runs[-1]:.1f}s")
    return [fresh, noop]
