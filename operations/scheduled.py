"""Scheduled jobs: a root oneshot service and the timer that starts it.

The fail2ban agent's metrics and the server's backups, checks and restore drills are such
jobs. The unit files are managed configs (validated, the old one kept); a timer's calendar
is read by the host's own ``systemd-analyze calendar`` before the file goes live.

Example (a deploy file)::

    from operations.scheduled import ScheduledJob, remove_scheduled_job, scheduled_job
    job = ScheduledJob(
        "obs-backup", "Back up the observability server",
        command=("/usr/local/lib/observability-stack/obs-backup", "run"),
        on_calendar="daily", randomized_delay="1h",
    )
    scheduled_job(job, keep_backups=10)
    remove_scheduled_job("obs-backup")          # or take it away again
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd

from obsstack.render import render_template
from obsstack.serialize import systemd_word
from operations.config import managed_config

UNIT_DIR = "/etc/systemd/system"


@dataclass(frozen=True)
class ScheduledJob:
    """A command run as root by a timer: on a calendar, or every interval after boot."""

    unit: str  # the units' name without suffix, e.g. obs-backup
    description: str
    command: tuple[str, ...]
    on_calendar: str | None = None  # systemd.time(7), e.g. daily
    every: str | None = None  # an interval, e.g. 30s (from boot, then after each run)
    randomized_delay: str | None = None
    after: str | None = None  # a unit it runs after, when both start
    # Further [Service] directives, e.g. its sandbox: (("PrivateNetwork", "yes"), ...).
    service: tuple[tuple[str, str], ...] = ()
    # Run it once whenever its units (or the operations given to scheduled_job) change, so
    # that its results exist before the timer's first tick.
    run_on_change: bool = False

    def __post_init__(self) -> None:
        assert (self.on_calendar is None) != (self.every is None), "a calendar or an interval"

    @property
    def service_unit(self) -> str:
        return f"{self.unit}.service"

    @property
    def timer_unit(self) -> str:
        return f"{self.unit}.timer"


def service_text(job: ScheduledJob) -> str:
    """The oneshot service that runs ``job.command`` as root."""
    return render_template(
        "systemd/job.service.j2",
        {
            "description": job.description,
            "after": job.after,
            "exec_start": " ".join(systemd_word(word) for word in job.command),
            "service": job.service,
        },
    )


def timer_text(job: ScheduledJob) -> str:
    """The timer that starts the service."""
    return render_template(
        "systemd/job.timer.j2",
        {
            "description": job.description,
            "on_calendar": job.on_calendar,
            "every": job.every,
            "randomized_delay": job.randomized_delay,
        },
    )


@deploy("Scheduled job")
def scheduled_job(
    job: ScheduledJob, keep_backups: int, changed_with: Sequence[OperationMeta] = ()
) -> None:
    """
    Install ``job``'s service and timer, and start the timer.

    + job: what runs, when, and how it is confined
    + keep_backups: how many copies of replaced unit files to keep
    + changed_with: operations (its script, its config) whose change runs the job at once,
      when ``job.run_on_change``
    """
    calendar_check = (
        f"systemd-analyze calendar --iterations=1 {shlex.quote(job.on_calendar)} >/dev/null"
        if job.on_calendar
        else None
    )
    units = [
        managed_config(
            name=f"Unit file {UNIT_DIR}/{job.service_unit}",
            dest=f"{UNIT_DIR}/{job.service_unit}",
            content=service_text(job),
            keep_backups=keep_backups,
        ),
        managed_config(
            name=f"Unit file {UNIT_DIR}/{job.timer_unit}",
            dest=f"{UNIT_DIR}/{job.timer_unit}",
            content=timer_text(job),
            validate=calendar_check,
            keep_backups=keep_backups,
        ),
    ]
    systemd.daemon_reload(
        name=f"Reload systemd units for {job.unit}",
        _if=lambda: any(unit.did_change() for unit in units),
    )
    if job.run_on_change:
        systemd.service(
            name=f"Run {job.service_unit} (its units or files changed)",
            service=job.service_unit,
            restarted=True,
            _if=lambda: any(op.did_change() for op in (*units, *changed_with)),
        )
    systemd.service(
        name=f"Enable and start {job.timer_unit}",
        service=job.timer_unit,
        running=True,
        enabled=True,
    )


@deploy("Remove a scheduled job")
def remove_scheduled_job(unit: str) -> None:
    """Stop and disable ``unit``'s timer and remove its unit files."""
    systemd.service(
        name=f"Stop and disable {unit}.timer", service=f"{unit}.timer", running=False, enabled=False
    )
    removed = [
        files.file(name=f"Remove {UNIT_DIR}/{name}", path=f"{UNIT_DIR}/{name}", present=False)
        for name in (f"{unit}.timer", f"{unit}.service")
    ]
    systemd.daemon_reload(
        name=f"Forget {unit}'s units", _if=lambda: any(op.did_change() for op in removed)
    )
