"""Checks of hosts, as ``invoke preflight`` and ``invoke health`` make them.

A command checks a host with one bash script of named sections: the script prints each
section's name after a marker line, then the section command's output. Python parses the
output back into sections and judges them into results (PASS, WARN or FAIL, with a detail
and a hint how to fix it); a host that cannot be reached, or whose script fails, is one FAIL.
A report holds every result of a run and prints them as a table or as JSON.

Example::

    from obsstack.checks import FAIL, PASS, Report, Result, format_report, run_checks
    from obsstack.checks import section_script
    from obsstack.session import hosts_named

    def kernel(host, sections):              # judges what a host printed
        return [Result(host.name, "kernel", PASS, sections["kernel"])]

    def script_failure(host, answer):        # a host whose script did not run
        return Result(host, "kernel", FAIL, answer.stderr.strip())

    inventory = "inventories/lab.py"
    results = run_checks(
        inventory,
        hosts_named(inventory),
        script=lambda host: section_script({"kernel": "uname -r"}),
        judge=kernel,
        script_failure=script_failure,
    )
    print(format_report(Report(results)))    # a table, then "4 pass, 0 warn, 0 fail"
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from obsstack.report import format_table
from obsstack.session import HostInfo, RemoteResult, run_scripts

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
STATUSES = (PASS, WARN, FAIL)
SECTION_MARKER = "::obs-check:: "


@dataclass(frozen=True)
class Result:
    """One check's verdict on one host."""

    host: str
    check: str
    status: str  # PASS | WARN | FAIL
    detail: str
    hint: str = ""  # how to fix what WARNs or FAILs
    # What fails, each as (the host it is about, a stable description): a check on the
    # observability server fails for targets and alerts of other hosts. Empty: the check
    # as a whole, about its own host.
    items: tuple[tuple[str, str], ...] = ()

    @property
    def failing_items(self) -> tuple[tuple[str, str], ...]:
        if self.status != FAIL:
            return ()
        return self.items or ((self.host, self.detail),)


Sections = dict[str, str]
# Judges the sections a host printed; describes a host whose script did not run.
Judge = Callable[[HostInfo, Sections], list[Result]]
ScriptFailure = Callable[[str, RemoteResult], Result]


@dataclass
class Report:
    """The results of one run of a command, and what the run repaired (None: not asked to)."""

    results: list[Result]
    fixed: list[str] | None = None  # one line per host

    @property
    def ok(self) -> bool:
        return not self.failing()

    def failing(self) -> list[Result]:
        return [result for result in self.results if result.status == FAIL]

    def counts(self) -> dict[str, int]:
        counted = Counter(result.status for result in self.results)
        return {status: counted[status] for status in STATUSES}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "counts": {status.lower(): count for status, count in self.counts().items()},
            "results": [asdict(result) for result in self.results],
        }
        if self.fixed is not None:
            data["fixed"] = self.fixed
        return data


def format_report(report: Report) -> str:
    """The results as a table, a summary line, what was repaired, then the failures."""
    # Results without hints (health's) get no empty hint column.
    columns = 5 if any(result.hint for result in report.results) else 4
    header = ("host", "check", "status", "detail", "hint")[:columns]
    rows = [(r.host, r.check, r.status, r.detail, r.hint)[:columns] for r in report.results]
    counts = report.counts()
    lines = [
        format_table(header, rows),
        "",
        f"{counts[PASS]} pass, {counts[WARN]} warn, {counts[FAIL]} fail",
    ]
    if report.fixed is not None:
        lines += [f"fixed: {line}" for line in report.fixed] or ["fixed: nothing to repair"]
    if report.failing():
        lines.append("failures:")
        lines += [f"  {r.host} {r.check}: {r.detail}" for r in report.failing()]
    return "\n".join(lines)


def section_script(commands: Mapping[str, str], prelude: str = "") -> str:
    """A bash script that runs ``prelude``, then prints each section: its name after
    ``SECTION_MARKER``, then its command's output."""
    parts = [prelude]
    for name, command in commands.items():
        # The newline ends a previous section's output that lacks one (an HTTP body).
        parts.append(f"printf '\\n%s\\n' {shlex.quote(SECTION_MARKER + name)}\n{command}\n")
    parts.append("exit 0\n")
    return "".join(parts)


def parse_sections(stdout: str) -> Sections:
    """Section name -> its output (stripped), from a section script's stdout."""
    sections: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(SECTION_MARKER):
            lines = sections.setdefault(line.removeprefix(SECTION_MARKER), [])
        else:
            lines.append(line)
    return {name: "\n".join(text).strip() for name, text in sections.items()}


def host_results(
    host: HostInfo, answer: RemoteResult, judge: Judge, script_failure: ScriptFailure
) -> list[Result]:
    """``judge``'s results of the sections ``host`` printed; ``script_failure``'s one FAIL
    when it could not be reached, or its script failed or printed no section."""
    if not answer.connected or not answer.ok or SECTION_MARKER not in answer.stdout:
        return [script_failure(host.name, answer)]
    return judge(host, parse_sections(answer.stdout))


def run_checks(
    inventory: str,
    hosts: Iterable[HostInfo],
    script: Callable[[HostInfo], str],
    judge: Judge,
    script_failure: ScriptFailure,
    timeout: int = 60,
) -> list[Result]:
    """Run each host's ``script`` on it, all hosts in parallel; the results of every host
    (``host_results``), in the order of ``hosts``."""
    hosts = list(hosts)
    answers = run_scripts(inventory, {host.name: script(host) for host in hosts}, timeout=timeout)
    return [
        result
        for host in hosts
        for result in host_results(host, answers[host.name], judge, script_failure)
    ]
