"""What deploys to the lab need besides its hosts: a release mirror, a mail relay, secrets.

Example::

    from obsstack.labdata import MIRROR_DIR, mirror_releases
    mirror_releases(MIRROR_DIR, newest=True)
    # {'prometheus': {'version': '2.53.3', 'sha256': '...'}, ...}
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from obsstack import debian, lab, secrets
from obsstack.mailcatcher import MailCatcher, ensure_tls_identity
from obsstack.mirror import build_mirror

MIRROR_DIR = lab.CACHE_DIR / "mirror"
SMTP_PORT = 2525
SMTP_IDENTITY_DIR = lab.STATE_DIR / "smtp"
SMTP_SPOOL_DIR = lab.STATE_DIR / "mail"
SMTP_USERNAME = "alertmanager"
SECRETS_DIR = lab.STATE_DIR / "secrets"
ALERTMANAGER_TEMPLATES = "/usr/share/prometheus/alertmanager"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split("."))


def mirror_releases(mirror: Path, newest: bool = True) -> dict[str, dict[str, str]] | str:
    """Pins for every component in the mirror: its newest (or oldest) version and sha256.

    pyinfra loads every group data file for every inventory, so a missing mirror must not
    raise here; the explanation returned instead is shown by the settings check if a lab
    deploy actually needs it.
    """
    pins_file = mirror / "pins.json"
    if not pins_file.exists():
        return f"not available: {pins_file} is missing; run `invoke lab.up` to build the mirror"
    pins = json.loads(pins_file.read_text())
    releases = {}
    for component, versions in pins.items():
        version = sorted(versions, key=_version_key)[-1 if newest else 0]
        releases[component] = {"version": version, "sha256": versions[version]}
    return releases


def prepare(progress: Callable[[str], None] = print) -> None:
    """Everything a deploy to the lab needs besides running hosts: mirror, relay CA, secrets."""
    build_mirror(MIRROR_DIR, progress=progress)
    install_debian_alertmanager_templates()
    ensure_tls_identity(SMTP_IDENTITY_DIR, lab.GATEWAY)
    # The lab's relay is our own catcher, so even its "provided" secrets are generated.
    secrets.init(SECRETS_DIR, include_provided=True)
    progress(f"lab: mirror {MIRROR_DIR}, relay CA {SMTP_IDENTITY_DIR}, secrets {SECRETS_DIR}")


def mail_catcher() -> MailCatcher:
    """The lab's mail relay, accepting Alertmanager's login with the lab's smtp_password."""
    return MailCatcher(
        ensure_tls_identity(SMTP_IDENTITY_DIR, lab.GATEWAY),
        lab.GATEWAY,
        SMTP_PORT,
        SMTP_USERNAME,
        lambda: secrets.read("smtp_password", SECRETS_DIR),
        SMTP_SPOOL_DIR,
    )


def install_debian_alertmanager_templates() -> None:
    """Put Debian's Alertmanager templates where Debian's Alertmanager builds look for them.

    Upstream archives embed the default notification templates in the binary; Debian's
    builds (which the lab's mirror repackages) read them from
    /usr/share/prometheus/alertmanager/ and exit at start without them. Only the lab needs
    this, because only the lab runs Debian's builds from release-shaped archives.
    """
    source = debian.release_dir("trixie") / "root" / ALERTMANAGER_TEMPLATES.lstrip("/")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(source, arcname=".")
    for host in lab.HOSTS:
        if "observability" in host.groups:
            subprocess.run(
                lab.ssh_argv(
                    host.name,
                    f"mkdir -p {ALERTMANAGER_TEMPLATES} && tar -x -C {ALERTMANAGER_TEMPLATES}",
                ),
                input=archive.getvalue(),
                check=True,
                capture_output=True,
            )
