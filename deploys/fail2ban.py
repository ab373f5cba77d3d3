"""fail2ban agent: jail and ban counts through node_exporter's textfile collector.

No exporter daemon: a root oneshot (fail2ban's socket is root's) runs every interval with
no network at all and writes ``fail2ban.prom``; node_exporter serves it. Without the agent,
its timer, units, script and metrics file are removed.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys.common import installation
from obsstack.catalog.host import TEXTFILE_DIR
from obsstack.render import TEMPLATES_DIR, render_template
from operations.config import managed_config

SCRIPT = "/usr/local/lib/observability-stack/fail2ban-metrics"
SERVICE = "obs-fail2ban-metrics.service"
TIMER = "obs-fail2ban-metrics.timer"
METRICS_FILE = f"{TEXTFILE_DIR}/fail2ban.prom"
INTERVAL = "30s"


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
    context = {
        "script": SCRIPT,
        "metrics_file": METRICS_FILE,
        "textfile_dir": TEXTFILE_DIR,
        "interval": INTERVAL,
    }
    units = [
        managed_config(
            name=f"Unit file /etc/systemd/system/{unit}",
            dest=f"/etc/systemd/system/{unit}",
            content=render_template(f"fail2ban/{unit}.j2", context),
            keep_backups=keep,
        )
        for unit in (SERVICE, TIMER)
    ]
    systemd.daemon_reload(
        name="Reload systemd units for the fail2ban agent",
        _if=lambda: any(unit.did_change() for unit in units),
    )
    # At once, so the metrics exist before the first timer tick.
    systemd.service(
        name=f"Run {SERVICE} (script or unit changed)",
        service=SERVICE,
        restarted=True,
        _if=lambda: any(op.did_change() for op in (script, *units)),
    )
    systemd.service(name=f"Enable and start {TIMER}", service=TIMER, running=True, enabled=True)


@deploy("Remove the fail2ban agent")
def remove() -> None:
    systemd.service(name=f"Stop and disable {TIMER}", service=TIMER, running=False, enabled=False)
    removed = [
        files.file(name=f"Remove {path}", path=path, present=False)
        for path in (f"/etc/systemd/system/{TIMER}", f"/etc/systemd/system/{SERVICE}")
    ]
    systemd.daemon_reload(
        name="Forget the fail2ban agent's units",
        _if=lambda: any(op.did_change() for op in removed),
    )
    for path in (SCRIPT, METRICS_FILE):
        files.file(name=f"Remove {path}", path=path, present=False)
