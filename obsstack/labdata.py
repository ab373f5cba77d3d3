"""What deploys to the lab need besides its hosts: a release mirror, a mail relay, secrets.

Example::

    from obsstack.labdata import MIRROR_DIR, mirror_releases
    mirror_releases(MIRROR_DIR, newest=True)
    # {'prometheus': {'version': '2.53.3', 'sha256': '...'}, ...}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from obsstack import lab, secrets
from obsstack.mailcatcher import MailCatcher, ensure_tls_identity
from obsstack.mirror import build_mirror

MIRROR_DIR = lab.CACHE_DIR / "mirror"
SMTP_PORT = 2525
SMTP_IDENTITY_DIR = lab.STATE_DIR / "smtp"
SMTP_SPOOL_DIR = lab.STATE_DIR / "mail"
SMTP_USERNAME = "alertmanager"
SECRETS_DIR = lab.STATE_DIR / "secrets"


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
