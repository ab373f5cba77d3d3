"""fail2ban agent: jail and ban counts through node_exporter's textfile collector.

No exporter daemon: a root oneshot (fail2ban's socket is root's) runs every interval with
no network at all and writes ``fail2ban.prom``; node_exporter serves it. Without the agent,
its timer, units, script and metrics file are removed.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from deploys.common import installation
from obsstack.catalog.host import TEXTFILE_DIR
from obsstack.render import TEMPLATES_DIR
from operations.config import managed_config
from operations.scheduled import ScheduledJob, remove_scheduled_job, scheduled_job

SCRIPT = "/usr/local/lib/observability-stack/fail2ban-metrics"
METRICS_FILE = f"{TEXTFILE_DIR}/fail2ban.prom"
JOB = ScheduledJob(
    "obs-fail2ban-metrics",
    "Write fail2ban's jail metrics for node_exporter",
    command=(SCRIPT, METRICS_FILE),
    every="30s",
    after="fail2ban.service",
    # Root only to reach fail2ban's socket; no network, nothing writable but the textfile dir.
    service=(
        ("PrivateNetwork", "yes"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", TEXTFILE_DIR),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ),
    # At once, so the metrics exist before the first timer tick.
    run_on_change=True,
)


@deploy("fail2ban agent")
def install() -> None:
    keep = installation().keep_backups
    files.directory(name="Create /usr/local/lib/observability-stack", path=SCRIPT.rsplit("/", 1)[0])
    script = managed_config(
        name=f"fail2ban agent: {SCRIPT}",
        dest=SCRIPT,
        content=(TEMPLATES_DIR / "fail2ban" / "fail2ban-metrics.py").read_text(),
        mode="0755",
        keep_backups=keep,
    )
    scheduled_job(JOB, keep_backups=keep, changed_with=[script])


@deploy("Remove the fail2ban agent")
def remove() -> None:
    remove_scheduled_job(JOB.unit)
    for path in (SCRIPT, METRICS_FILE):
        files.file(name=f"Remove {path}", path=path, present=False)
