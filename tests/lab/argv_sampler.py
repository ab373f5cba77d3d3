"""Watch every process's argv on the controller and the lab hosts at once.

The lab hosts' processes are visible in the controller's /proc (nspawn nests PID
namespaces), so one sampler of /proc/*/cmdline sees every host's command lines. A sampler
that saw nothing proves nothing unless it can be shown to see: ``seen`` keeps every argv
that held a *marker* (a process run on purpose while sampling), and ``longest_gap`` says
how long the sampler was ever blind between two sweeps.
"""

from __future__ import annotations

import os
import threading
import time


class ArgvSampler:
    """Sweep /proc/*/cmdline as fast as possible in a thread, recording needles and markers."""

    def __init__(self, needles: list[str], markers: list[str] = ()) -> None:
        self.needles = [needle.encode() for needle in needles if needle]
        self.markers = [marker.encode() for marker in markers]
        self.hits: list[str] = []
        self.seen: list[str] = []  # argvs that held a marker
        self.sweeps = 0
        self.elapsed = 0.0
        self.longest_gap = 0.0  # seconds between the starts of two consecutive sweeps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def rate(self) -> float:
        """Full sweeps of the process table per second."""
        return self.sweeps / self.elapsed if self.elapsed else 0.0

    def saw(self, marker: str) -> bool:
        return any(marker in argv for argv in self.seen)

    def _run(self) -> None:
        started = previous = time.monotonic()
        while not self._stop.is_set():
            sweep_start = time.monotonic()
            self.longest_gap = max(self.longest_gap, sweep_start - previous)
            previous = sweep_start
            # os.listdir, not Path.glob: glob stats each entry, and a process that ends in
            # between makes that stat raise ESRCH, which glob does not expect.
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        argv = cmdline.read()
                except OSError:
                    continue  # the process ended between listing and reading
                if any(needle in argv for needle in self.needles):
                    self.hits.append(argv.replace(b"\0", b" ").decode(errors="replace"))
                if any(marker in argv for marker in self.markers):
                    self.seen.append(argv.replace(b"\0", b" ").decode(errors="replace"))
            self.sweeps += 1
        self.elapsed = time.monotonic() - started
