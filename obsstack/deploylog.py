"""After each deploy: an append-only log line and textfile metrics on every host.

``/var/log/observability-stack/deploy.log`` gets one JSON line per deploy (who, when,
commit, release, result). ``/var/lib/node_exporter/obs_deploy.prom`` (read by node_exporter's
textfile collector) carries the last success, failure and rollback times, the duration and
the release with its versions, so Prometheus can alert on a failed deploy.

Example::

    from obsstack.deploylog import DeployRecord, write_records
    write_records("inventories/lab.py", {"obs": DeployRecord(...)})
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field

from obsstack.catalog.host import TEXTFILE_DIR
from obsstack.session import RemoteResult, run_scripts
from obsstack.textfile import replace_command
from obsstack.worker import in_worker

LOG_FILE = "/var/log/observability-stack/deploy.log"
METRICS_FILE = f"{TEXTFILE_DIR}/obs_deploy.prom"


@dataclass(frozen=True)
class DeployRecord:
    time: float  # unix seconds when the deploy finished
    deployer: str
    commit: str
    success: bool
    duration_seconds: float
    release: str | None  # current release after the deploy (and any rollback)
    versions: dict[str, str] = field(default_factory=dict)
    rolled_back_to: str | None = None
    detail: str = ""


# Unix times of the last deploy with each outcome; a rolled-back deploy is also a failure.
OUTCOMES = ("success", "failure", "rollback")


def metrics_text(record: DeployRecord, previous: dict[str, float]) -> str:
    """The textfile; keeps the other outcomes' last timestamps from ``previous``."""
    last = {
        f"obs_deploy_last_{outcome}_timestamp_seconds": previous.get(
            f"obs_deploy_last_{outcome}_timestamp_seconds", 0
        )
        for outcome in OUTCOMES
    }
    outcome = "success" if record.success else "failure"
    last[f"obs_deploy_last_{outcome}_timestamp_seconds"] = record.time
    if record.rolled_back_to:
        last["obs_deploy_last_rollback_timestamp_seconds"] = record.time
    labels = {
        "release": record.release or "",
        **{f"{k}_version": v for k, v in record.versions.items()},
    }
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    lines = []
    for name, value in last.items():
        lines += [
            f"# HELP {name} Unix time of the last deploy with that outcome.",
            f"# TYPE {name} gauge",
            f"{name} {value:.3f}",
        ]
    lines += [
        "# HELP obs_deploy_last_success 1 if the last deploy succeeded (after any rollback).",
        "# TYPE obs_deploy_last_success gauge",
        f"obs_deploy_last_success {int(record.success)}",
        "# HELP obs_deploy_duration_seconds Wall time of the last deploy.",
        "# TYPE obs_deploy_duration_seconds gauge",
        f"obs_deploy_duration_seconds {record.duration_seconds:.3f}",
        "# HELP obs_deploy_info The current release and component versions.",
        "# TYPE obs_deploy_info gauge",
        f"obs_deploy_info{{{label_text}}} 1",
    ]
    return "\n".join(lines) + "\n"


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


@in_worker
def write_records(inventory: str, records: dict[str, DeployRecord]) -> dict[str, RemoteResult]:
    """Append the log line and rewrite the metrics file on each host (two short runs)."""
    current = run_scripts(
        inventory, dict.fromkeys(records, f"cat {METRICS_FILE} 2>/dev/null; true")
    )
    scripts = {
        name: _write_script(record, parse_metrics(current[name].stdout) if current[name].ok else {})
        for name, record in records.items()
    }
    return run_scripts(inventory, scripts)


def _write_script(record: DeployRecord, previous: dict[str, float]) -> str:
    line = shlex.quote(json.dumps(asdict(record), sort_keys=True))
    return (
        f"install -d -m 0750 {LOG_FILE.rsplit('/', 1)[0]}"
        f" && printf '%s\\n' {line} >> {LOG_FILE} && chmod 0640 {LOG_FILE}"
        f" && {replace_command(METRICS_FILE, metrics_text(record, previous))}"
    )
