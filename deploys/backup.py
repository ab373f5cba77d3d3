"""Backups of the observability server: restic, its repository's keys, three timers.

The backup script (templates/backup/obs-backup.py) does the work on the server; this
module puts it there with what it reads: backup.json (what to back up and how), the
repository's address and password, an SFTP repository's key and known host, an S3
bucket's keys. Each of those is a file only root reads; restic gets them through its
environment (RESTIC_REPOSITORY_FILE, RESTIC_PASSWORD_FILE), never its arguments. The
timers: a backup (``backup_schedule``), a repository check (``backup_check_schedule``),
a restore drill (``backup_drill_schedule``).

Example (a deploy file)::

    from deploys import backup
    backup.install()      # where backup_repository is set
    backup.remove()       # where it is not
"""

from __future__ import annotations

import json

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploys.common import installation
from obsstack import secrets
from obsstack.catalog.backup import (
    BACKED_UP_DAEMONS,
    BACKUP,
    BACKUP_CONFIG_DIR,
    BACKUP_PASSWORD,
    BACKUP_S3_SECRET_KEY,
    BACKUP_SCRIPT,
    BACKUP_SFTP_KEY,
    BACKUP_STATE_DIR,
    repository_kind,
)
from obsstack.catalog.host import STATE_DIR, TEXTFILE_DIR
from obsstack.catalog.server import (
    ALERTMANAGER_CONFIG_DIR,
    GRAFANA,
    GRAFANA_CONFIG_DIR,
    HTPASSWD_DIR,
    LOKI_CONFIG_DIR,
    PROMETHEUS,
    PROMETHEUS_CONFIG_DIR,
    PROMETHEUS_DATA_DIR,
)
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR
from obsstack.sshkey import private_key_file
from operations.archive import BIN_DIR
from operations.config import managed_config
from operations.packages import deb_packages
from operations.scheduled import ScheduledJob, remove_scheduled_job, scheduled_job

CONFIG_FILE = f"{BACKUP_CONFIG_DIR}/backup.json"
REPOSITORY_FILE = f"{BACKUP_CONFIG_DIR}/repository"
KNOWN_HOSTS_FILE = f"{BACKUP_CONFIG_DIR}/known_hosts"
CACHE_DIR = "/var/cache/obs-backup"
LETSENCRYPT_DIR = "/etc/letsencrypt"
# The configs a backup keeps for reading; a restore puts them here, not over the deploy's.
RESTORED_CONFIG_DIR = f"{BACKUP_STATE_DIR}/restored-config"
# Each timer's unit, what it does, the script's command, its schedule's setting, and what
# it writes besides the script's state (the backup removes the Prometheus snapshot it took).
JOBS = (
    (
        "obs-backup",
        "Back up the observability server with restic",
        "run",
        "backup_schedule",
        (PROMETHEUS_DATA_DIR,),
    ),
    (
        "obs-backup-check",
        "Check the backup repository and read back part of its data",
        "check",
        "backup_check_schedule",
        (),
    ),
    (
        "obs-backup-drill",
        "Restore the latest backup into scratch space and query it",
        "drill",
        "backup_drill_schedule",
        (),
    ),
)
# Root for every file and snapshot; the jobs write only what each needs.
SANDBOX = (
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "read-only"),
    ("PrivateTmp", "yes"),
    ("Nice", "10"),
    ("IOSchedulingClass", "idle"),
)


def jobs(settings: dict) -> tuple[ScheduledJob, ...]:
    """The backup, the repository check and the restore drill, on their schedules."""
    writable = (BACKUP_STATE_DIR, CACHE_DIR, f"-{TEXTFILE_DIR}")
    return tuple(
        ScheduledJob(
            unit,
            description,
            command=(BACKUP_SCRIPT, command),
            on_calendar=settings[schedule],
            randomized_delay=settings["backup_randomized_delay"],
            service=(*SANDBOX, ("ReadWritePaths", " ".join((*writable, *also_writable)))),
        )
        for unit, description, command, schedule, also_writable in JOBS
    )


def parts(settings: dict) -> dict[str, dict]:
    """What the script backs up, part by part: the server's daemons (each while it runs:
    the script looks), its certificate, its release history and its configs.

    Every daemon is listed whether this server runs it or not, so that the file does not
    change with what runs: a rollback to a release with Grafana, say, leaves it as it is.
    """
    found: dict[str, dict] = {}
    for daemon in BACKED_UP_DAEMONS:
        found[daemon.name] = {
            "url": f"http://127.0.0.1:{daemon.listen.number(settings)}{daemon.route_prefix}",
            "ready": daemon.health.ready_path,
            "data": daemon.account.home,
            "user": daemon.account.user,
            "unit": daemon.unit.name,
        }
    # The drill starts a throwaway Prometheus of the installed version.
    found[PROMETHEUS.name]["binary"] = f"{BIN_DIR}/prometheus"
    found[GRAFANA.name]["database"] = "grafana.db"
    found["letsencrypt"] = {"paths": [LETSENCRYPT_DIR]}
    found["history"] = {"paths": [f"{STATE_DIR}/releases", f"{STATE_DIR}/current"]}
    found["config"] = {
        "paths": [
            PROMETHEUS_CONFIG_DIR,
            ALERTMANAGER_CONFIG_DIR,
            LOKI_CONFIG_DIR,
            GRAFANA_CONFIG_DIR,
            HTPASSWD_DIR,
        ],
        "beside": RESTORED_CONFIG_DIR,
    }
    return found


def script_config(settings: dict, name: str) -> dict:
    """backup.json: everything the script reads, none of it secret."""
    kind = repository_kind(settings["backup_repository"])
    return {
        "host": name,
        "repository_file": REPOSITORY_FILE,
        "password_file": BACKUP_PASSWORD.kept_in,
        "sftp_key": BACKUP_SFTP_KEY.kept_in if kind == "sftp" else None,
        "known_hosts": KNOWN_HOSTS_FILE if kind == "sftp" else None,
        "s3_env": BACKUP_S3_SECRET_KEY.kept_in if kind == "s3" else None,
        "state_dir": BACKUP_STATE_DIR,
        "cache_dir": CACHE_DIR,
        "textfile_dir": TEXTFILE_DIR,
        "keep": settings["backup_keep"],
        "read_subset": settings["backup_check_read_subset"],
        "drill_port": settings["backup_drill_port"],
        "parts": parts(settings),
    }


def _secret(name: str) -> str:
    return secrets.read(name, repo_path(host.data.secrets_dir))


@deploy("Backups")
def install() -> None:
    settings = host.data.dict()
    keep = installation().keep_backups
    kind = repository_kind(settings["backup_repository"])
    deb_packages(name="Install restic and ssh for the backups", packages=list(BACKUP.packages))
    for path in (BACKUP_CONFIG_DIR, BACKUP_STATE_DIR, CACHE_DIR):
        files.directory(name=f"Create {path}", path=path, user="root", group="root", mode="0700")
    files.directory(
        name="Create /usr/local/lib/observability-stack",
        path=BACKUP_SCRIPT.rsplit("/", 1)[0],
    )

    def config(path: str, content: str, secret: bool = False):
        return managed_config(
            name=f"Backups: {path}",
            dest=path,
            content=content,
            mode="0600",
            secret=secret,
            keep_backups=keep,
        )

    changed = [
        managed_config(
            name=f"Backups: {BACKUP_SCRIPT}",
            dest=BACKUP_SCRIPT,
            content=(TEMPLATES_DIR / "backup" / "obs-backup.py").read_text(),
            mode="0755",
            keep_backups=keep,
        ),
        config(
            CONFIG_FILE,
            json.dumps(script_config(settings, host.name), indent=2) + "\n",
        ),
        config(REPOSITORY_FILE, settings["backup_repository"] + "\n"),
    ]
    if kind == "sftp":
        key = private_key_file(_secret(BACKUP_SFTP_KEY.name))
        changed += [
            config(BACKUP_SFTP_KEY.kept_in, key, secret=True),
            config(KNOWN_HOSTS_FILE, repo_path(settings["backup_sftp_known_hosts"]).read_text()),
        ]
    if kind == "s3":
        variables = (
            f"AWS_ACCESS_KEY_ID={settings['backup_s3_access_key_id']}\n"
            f"AWS_SECRET_ACCESS_KEY={_secret(BACKUP_S3_SECRET_KEY.name)}\n"
        )
        changed.append(config(BACKUP_S3_SECRET_KEY.kept_in, variables, secret=True))
    # Last: a new password goes live only once the repository opens with it (the script
    # adds it as a key and removes the old one), which needs the repository's keys above.
    changed.append(
        managed_config(
            name=f"Backups: {BACKUP_PASSWORD.kept_in}",
            dest=BACKUP_PASSWORD.kept_in,
            content=_secret(BACKUP_PASSWORD.name) + "\n",
            validate=f"{BACKUP_SCRIPT} adopt-password --path {{path}}",
            mode="0600",
            secret=True,
            keep_backups=keep,
        )
    )
    for path, wanted in (
        (BACKUP_SFTP_KEY.kept_in, kind == "sftp"),
        (KNOWN_HOSTS_FILE, kind == "sftp"),
        (BACKUP_S3_SECRET_KEY.kept_in, kind == "s3"),
    ):
        if not wanted:
            files.file(name=f"Remove {path} (not this repository's kind)", path=path, present=False)
    for job in jobs(settings):
        scheduled_job(job, keep_backups=keep)
    # The metrics say from now on that backups are set up (the alerts count from then).
    server.shell(
        name="Write the backup metrics",
        commands=[f"{BACKUP_SCRIPT} metrics"],
        _if=lambda: any(op.did_change() for op in changed),
    )


@deploy("Remove the backups")
def remove() -> None:
    for unit, *_ in JOBS:
        remove_scheduled_job(unit)
    for path in (BACKUP_CONFIG_DIR, BACKUP_STATE_DIR, CACHE_DIR):
        files.directory(name=f"Remove {path}", path=path, present=False)
    files.file(name=f"Remove {BACKUP_SCRIPT}", path=BACKUP_SCRIPT, present=False)
    for job in ("backup", "check", "drill"):
        path = f"{TEXTFILE_DIR}/obs_backup_{job}.prom"
        files.file(name=f"Remove {path}", path=path, present=False)
