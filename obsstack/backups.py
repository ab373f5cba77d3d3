"""The observability servers' backups from the controller: run one, list the snapshots,
rehearse a restore, restore (``invoke backup``, ``backups``, ``backup.drill``,
``restore``).

Every step runs the backup script on the server (deploys/backup.py puts it there); a run,
a check and a drill go through their systemd units, so that they run exactly as the
timers run them. Nothing here holds a secret: the script reads them from its files.

Example::

    from obsstack.backups import list_snapshots, run_job
    run_job("inventories/lab.py", "backup")["obs"].ok
    list_snapshots("inventories/lab.py")["obs"][0].parts   # ['prometheus', 'alertmanager', ...]
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from obsstack.catalog.backup import BACKUP_SCRIPT, PARTS
from obsstack.checks import Report
from obsstack.health import run_health
from obsstack.session import HostInfo, RemoteResult, describe_inventory, run_scripts
from obsstack.settings import parse_duration
from obsstack.worker import in_worker

JOBS = {"backup": "obs-backup", "check": "obs-backup-check", "drill": "obs-backup-drill"}
SNAPSHOT_ID = re.compile(r"latest|[0-9a-f]{8,64}")
# A backup of a large TSDB over a slow link takes a while; the unit has no timeout.
JOB_TIMEOUT = 6 * 3600
PART_TAG = "part-"
REFUSED = 3
HEALTH_POLL_SECONDS = 2


class BackupError(Exception):
    """No server backs up, a server could not be asked, or a request is malformed."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: str
    parts: list[str]
    size_bytes: int
    added_bytes: int
    files: int

    def as_dict(self) -> dict:
        return asdict(self)


def backed_up_servers(inventory: str, limit: Iterable[str] | None = None) -> list[HostInfo]:
    """The observability servers of ``inventory`` with a ``backup_repository``."""
    servers = [
        host
        for host in describe_inventory(inventory)
        if "observability" in host.groups and host.data.get("backup_repository")
    ]
    if limit is not None:
        servers = [host for host in servers if host.name in set(limit)]
    if not servers:
        raise BackupError(
            f"no observability server of {inventory} has backup_repository set: nothing "
            "is backed up (see the README's Backups section)"
        )
    return servers


def job_script(job: str) -> str:
    """Start the job's unit and wait for it; print what this run logged."""
    unit = f"{JOBS[job]}.service"
    return f"""
systemctl start {unit}; status=$?
invocation=$(systemctl show -p InvocationID --value {unit})
journalctl _SYSTEMD_INVOCATION_ID="$invocation" -o cat --no-pager | grep -v '^\\[' | tail -n 40
exit $status
"""


@in_worker
def run_job(inventory: str, job: str) -> dict[str, RemoteResult]:
    """Run the backup, check or drill now on each server; its output by server."""
    scripts = {host.name: job_script(job) for host in backed_up_servers(inventory)}
    return run_scripts(inventory, scripts, timeout=JOB_TIMEOUT)


def parse_snapshots(output: str) -> list[Snapshot]:
    """Newest first, from ``obs-backup snapshots``."""
    found = []
    for snapshot in json.loads(output):
        summary = snapshot.get("summary") or {}
        found.append(
            Snapshot(
                id=snapshot["short_id"],
                time=snapshot["time"][:19].replace("T", " "),
                parts=[
                    t[len(PART_TAG) :] for t in snapshot.get("tags", []) if t.startswith(PART_TAG)
                ],
                size_bytes=summary.get("total_bytes_processed", 0),
                added_bytes=summary.get("data_added", 0),
                files=summary.get("total_files_processed", 0),
            )
        )
    return sorted(found, key=lambda s: s.time, reverse=True)


@in_worker
def list_snapshots(inventory: str) -> dict[str, list[Snapshot]]:
    """Each server's snapshots, newest first; raises naming a server that could not say."""
    servers = [host.name for host in backed_up_servers(inventory)]
    results = run_scripts(inventory, dict.fromkeys(servers, f"{BACKUP_SCRIPT} snapshots"), 600)
    failed = {name: result for name, result in results.items() if not result.ok}
    if failed:
        raise BackupError(
            "cannot list the snapshots of "
            + "; ".join(f"{name}: {result.stderr.strip()}" for name, result in failed.items())
        )
    return {name: parse_snapshots(results[name].stdout) for name in servers}


def restore_arguments(snapshot: str, only: str | None, yes: bool) -> list[str]:
    """The script's arguments; BackupError for a snapshot or part of no form we take."""
    if not SNAPSHOT_ID.fullmatch(snapshot):
        raise BackupError(f"--snapshot {snapshot!r}: expected latest or a snapshot ID (hex)")
    arguments = ["restore", "--snapshot", snapshot]
    if only:
        unknown = [part for part in only.split(",") if part not in PARTS]
        if unknown:
            raise BackupError(
                f"--only {only!r}: unknown {unknown[0]!r}; expected some of {', '.join(PARTS)}"
            )
        arguments += ["--only", only]
    return arguments + (["--yes"] if yes else [])


@in_worker
def restore(
    inventory: str,
    server: str,
    snapshot: str = "latest",
    only: str | None = None,
    yes: bool = False,
) -> RemoteResult:
    """Restore ``server`` from its snapshot (the backup tools must be on it)."""
    arguments = restore_arguments(snapshot, only, yes)
    backed_up_servers(inventory, [server])
    command = " ".join(shlex.quote(word) for word in [BACKUP_SCRIPT, *arguments])
    return run_scripts(inventory, {server: command + " 2>&1"}, timeout=JOB_TIMEOUT)[server]


@in_worker
def health_after_restore(inventory: str, server: str) -> Report:
    """The server's health once its restarted daemons had their ``health_gate_timeout``
    to come back (Prometheus needs a scrape or two to see its targets up)."""
    (host,) = [host for host in describe_inventory(inventory) if host.name == server]
    deadline = time.monotonic() + parse_duration(host.data["health_gate_timeout"])
    while True:
        report = run_health(inventory, hosts=[server])
        if report.ok or time.monotonic() > deadline:
            return report
        time.sleep(HEALTH_POLL_SECONDS)
