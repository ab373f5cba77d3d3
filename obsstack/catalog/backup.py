"""Backups of the observability server: restic, to a repository the user names.

No daemon: root oneshots run by timers back the server up (``obs-backup``), check the
repository (``obs-backup-check``) and rehearse a restore (``obs-backup-drill``), each
writing its metrics through node_exporter's textfile collector. They run where
``backup_repository`` is set. The repository's password is generated; an SFTP
repository's SSH key is generated too (its public half is what the storage host
authorizes: ``invoke backup.public-key``); S3 credentials are given.

Example::

    >>> from obsstack.catalog.backup import repository_kind
    >>> repository_kind("sftp:obs-backup@vault.example.net:/srv/restic/obs")
    'sftp'
    >>> repository_kind("/mnt/backup-disk/restic") , repository_kind("s3:https://s3.example.net/b")
    ('local', 's3')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from obsstack.catalog.schema import Component, Directory, Hooks, Secret, Setting
from obsstack.catalog.server import ALERTMANAGER, GRAFANA, LOKI, PROMETHEUS
from obsstack.fields import (
    DURATION_FIELD,
    Field,
    check_optional_path,
    int_range,
    matching,
)

SERVER = ("observability",)
BACKUP_CONFIG_DIR = "/etc/observability-stack/backup"
BACKUP_STATE_DIR = "/var/lib/observability-stack/backup"
BACKUP_SCRIPT = "/usr/local/lib/observability-stack/obs-backup"
# What a backup holds, part by part: the daemons' data (each while it runs), then the
# certificate, the release history and our configs.
BACKED_UP_DAEMONS = (PROMETHEUS, ALERTMANAGER, LOKI, GRAFANA)
PARTS = (*(daemon.name for daemon in BACKED_UP_DAEMONS), "letsencrypt", "history", "config")
# Root-owned and root-only, like every file in it: it holds the repository's keys.
BACKUP_GROUP = "root"
HOSTNAME = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
REPOSITORY_PATH = r"/[A-Za-z0-9._/-]*[A-Za-z0-9._-]"
REPOSITORIES = {
    "local": re.compile(REPOSITORY_PATH),
    "sftp": re.compile(rf"sftp:[a-z_][a-z0-9_-]{{0,31}}@{HOSTNAME}:{REPOSITORY_PATH}"),
    "s3": re.compile(
        rf"s3:https://{HOSTNAME}(:\d{{1,5}})?/[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9](/[A-Za-z0-9._/-]+)?"
    ),
}
REPOSITORY_FORMS = (
    "None (no backups), a local path such as /mnt/backup-disk/restic, "
    "sftp:USER@HOST:/PATH, or s3:https://ENDPOINT/BUCKET[/PREFIX]"
)
# systemd.time(7) calendar events, in characters that need no quoting anywhere: the deploy
# also asks the host's systemd-analyze whether it reads the value.
CALENDAR = re.compile(r"[A-Za-z0-9*,.:/~ -]{1,64}")
CALENDAR_FORM = "a systemd OnCalendar value such as daily, weekly, or *-*-* 03:30"
READ_SUBSET = re.compile(r"(100|[1-9]?[0-9](\.[0-9]{1,2})?)%")
# An ed25519 private key's 32-byte seed, base64url without padding: what secrets.init
# generates (token_urlsafe(32)) and what the deploy turns into the key file ssh reads.
SSH_KEY_SEED = re.compile(r"[A-Za-z0-9_-]{43}")

BACKUP_PASSWORD = Secret(
    "backup_password",
    "password of the restic repository the server is backed up to (keep a copy off the "
    "server: without it no backup can be read)",
    generated=True,
    kept_in=f"{BACKUP_CONFIG_DIR}/password",
)
BACKUP_SFTP_KEY = Secret(
    "backup_sftp_key",
    "the SSH key the server logs in to the SFTP backup repository with (the seed of an "
    "ed25519 key; `invoke backup.public-key` prints what the storage host authorizes)",
    generated=True,
    kept_in=f"{BACKUP_CONFIG_DIR}/sftp_key",
    charset=SSH_KEY_SEED,
    charset_text="43 characters of base64url (what `invoke secrets.rotate` generates)",
    needed_when="backup_sftp_known_hosts",
)
BACKUP_S3_SECRET_KEY = Secret(
    "backup_s3_secret_access_key",
    "secret access key of the S3 bucket the server is backed up to",
    generated=False,
    kept_in=f"{BACKUP_CONFIG_DIR}/s3.env",
    needed_when="backup_s3_access_key_id",
)


# The setting a kind of repository needs (and no other kind may have), and its form.
KIND_SETTINGS = {
    "sftp": (
        "backup_sftp_known_hosts",
        "a controller path to a known_hosts file with the storage host's key (ssh-keyscan HOST)",
    ),
    "s3": (
        "backup_s3_access_key_id",
        "the bucket's access key ID (its secret is the secret backup_s3_secret_access_key)",
    ),
}


def repository_kind(repository: str) -> str | None:
    """``local``, ``sftp`` or ``s3``; None for a value of no form we take."""
    return next((kind for kind, form in REPOSITORIES.items() if form.fullmatch(repository)), None)


def check_repository(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "wrong type"
    return None if repository_kind(value) else "bad format"


def backup_problems(data: Mapping[str, Any]) -> list[str]:
    """Settings a repository of its kind needs, or must not have."""
    repository = data.get("backup_repository")
    kind = repository_kind(repository) if isinstance(repository, str) else None
    problems = []
    for needed_by, (key, expected) in KIND_SETTINGS.items():
        value = data.get(key)
        if kind == needed_by and not value:
            problems.append(f"{key}: an {kind}: repository needs it; expected {expected}")
        if value and kind != needed_by:
            problems.append(
                f"{key}: set, but backup_repository is no {needed_by}: repository; expected None"
            )
    return problems


def _optional_text(pattern: re.Pattern, expected: str) -> Field:
    return Field(
        lambda v: (
            None if v is None or (isinstance(v, str) and pattern.fullmatch(v)) else "bad format"
        ),
        expected,
    )


def _keep(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"daily", "weekly", "monthly"}:
        return "wrong type"
    for period, count in value.items():
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1000:
            return f"{period}: {count!r} is no count 0-1000"
    if not any(value.values()):
        return "keeps nothing"
    return None


BACKUP = Component(
    name="backup",
    summary="encrypted restic backups of the server's data, checked and restored in a drill",
    roles=SERVER,
    packages=("restic", "openssh-client"),
    enabled_by="backup_repository",
    directories=(Directory(BACKUP_CONFIG_DIR, group=BACKUP_GROUP),),
    secrets=(BACKUP_PASSWORD, BACKUP_SFTP_KEY, BACKUP_S3_SECRET_KEY),
    rules="backup",
    hooks=Hooks(after="deploys.backup:install", remove="deploys.backup:remove"),
    settings=(
        Setting(
            "backup_repository",
            Field(check_repository, REPOSITORY_FORMS),
            "the restic repository the server is backed up to (None: no backups); the "
            "password is the generated secret backup_password",
            None,
        ),
        Setting(
            "backup_sftp_known_hosts",
            Field(check_optional_path, "a controller path to a known_hosts file, or None"),
            "for an sftp: repository, the storage host's SSH host key (ssh-keyscan's "
            "output): the server trusts no other; the key it logs in with is the secret "
            "backup_sftp_key",
            None,
        ),
        Setting(
            "backup_s3_access_key_id",
            _optional_text(re.compile(r"[A-Za-z0-9+/=._-]{1,128}"), "an access key ID, or None"),
            "for an s3: repository, the bucket's access key ID; its secret key is the secret "
            "backup_s3_secret_access_key",
            None,
        ),
        Setting(
            "backup_schedule",
            matching(CALENDAR, CALENDAR_FORM),
            "when the server is backed up (plus a random delay)",
            "daily",
        ),
        Setting(
            "backup_randomized_delay",
            DURATION_FIELD,
            "a random delay added to each scheduled run, so that servers do not all back up "
            "at once",
            "1h",
        ),
        Setting(
            "backup_keep",
            Field(_keep, "a dict {daily: 7, weekly: 4, monthly: 6} of counts 0-1000"),
            "how many of the last daily, weekly and monthly snapshots are kept; the rest "
            "are pruned after each backup",
            {"daily": 7, "weekly": 4, "monthly": 6},
        ),
        Setting(
            "backup_check_schedule",
            matching(CALENDAR, CALENDAR_FORM),
            "when restic checks the repository's structure and reads a subset of its data",
            "weekly",
        ),
        Setting(
            "backup_check_read_subset",
            matching(READ_SUBSET, "a percentage such as 5%"),
            "how much of the repository's data each check reads back and verifies",
            "5%",
        ),
        Setting(
            "backup_drill_schedule",
            matching(CALENDAR, CALENDAR_FORM),
            "when the latest snapshot is restored into scratch space and queried (the "
            "restore drill)",
            "weekly",
        ),
        Setting(
            "backup_drill_port",
            int_range(1024, 65535, "a TCP port number 1024-65535"),
            "the loopback port of the drill's throwaway Prometheus",
            9190,
        ),
    ),
    alert_thresholds=(
        Setting(
            "backup_max_age_seconds",
            int_range(3600, 365 * 86400, "seconds such as 129600 (36h)"),
            "BackupTooOld (warning): no successful backup for longer than this",
            129600,
        ),
        Setting(
            "backup_check_max_age_seconds",
            int_range(3600, 365 * 86400, "seconds such as 691200 (8 days)"),
            "BackupCheckMissing (warning): no successful repository check for longer than this",
            691200,
        ),
        Setting(
            "backup_drill_max_age_seconds",
            int_range(3600, 365 * 86400, "seconds such as 691200 (8 days)"),
            "RestoreDrillMissing (warning): no successful restore drill for longer than this",
            691200,
        ),
    ),
)

ENTRIES = (BACKUP,)
