"""What deploys to the lab need besides its hosts: a release mirror, a mail relay, secrets.

Example::

    from obsstack.labdata import MIRROR_DIR, mirror_releases
    mirror_releases(MIRROR_DIR, newest=True)
    # {'prometheus': {'version': '2.53.3', 'sha256': '...'}, ...}
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from obsstack import debian, lab, secrets
from obsstack.mailcatcher import MailCatcher, Spool, ensure_tls_identity
from obsstack.mirror import build_mirror

MIRROR_DIR = lab.CACHE_DIR / "mirror"
SMTP_PORT = 2525
SMTP_IDENTITY_DIR = lab.STATE_DIR / "smtp"
SMTP_SPOOL_DIR = lab.STATE_DIR / "mail"
SMTP_USERNAME = "alertmanager"
SECRETS_DIR = lab.STATE_DIR / "secrets"
RELAY_PID = lab.STATE_DIR / "mail-relay.pid"
RELAY_LOG = lab.STATE_DIR / "mail-relay.log"
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
    start_mail_relay()
    progress(
        f"lab: mirror {MIRROR_DIR}, secrets {SECRETS_DIR}, "
        f"mail relay {lab.GATEWAY}:{SMTP_PORT} (spool {SMTP_SPOOL_DIR})"
    )


def start_mail_relay() -> None:
    """Run the lab's mail relay in the background (a no-op while it runs).

    Alertmanager on ``obs`` must always be able to deliver: a relay that is only there
    during tests would leave it failing notifications, a critical alert, the rest of the time.
    """
    running = relay_processes()
    recorded = recorded_relay_pid()
    if recorded in running:
        return
    # A relay without our record belongs to a lab that was taken down under it: its spool
    # and secrets directories are gone, so it is replaced.
    for pid in running:
        _stop(pid)
    RELAY_LOG.parent.mkdir(parents=True, exist_ok=True)
    with RELAY_LOG.open("ab") as log:
        relay = subprocess.Popen(
            [sys.executable, "-m", "obsstack.labdata", "relay"],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    RELAY_PID.write_text(f"{relay.pid}\n")
    lab.wait_for(_relay_listening, 15, "the lab's mail relay to listen")


def stop_mail_relay() -> None:
    for pid in relay_processes():
        _stop(pid)
    RELAY_PID.unlink(missing_ok=True)


def _stop(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)

    def stopped() -> bool:
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child must not linger as a zombie
        return pid not in relay_processes()

    lab.wait_for(stopped, 15, "the lab's mail relay to stop")


def recorded_relay_pid() -> int | None:
    try:
        return int(RELAY_PID.read_text())
    except (OSError, ValueError):
        return None


def relay_processes() -> set[int]:
    """PIDs of running lab relays (``python -m obsstack.labdata relay``)."""
    pids = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # ended while we looked
        if b"obsstack.labdata" in argv and b"relay" in argv:
            pids.add(int(cmdline.parent.name))
    return pids


def _relay_listening() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((lab.GATEWAY, SMTP_PORT)) == 0


def mail_spool() -> Spool:
    return Spool(SMTP_SPOOL_DIR)


def _serve_relay() -> None:
    relay = MailCatcher(
        ensure_tls_identity(SMTP_IDENTITY_DIR, lab.GATEWAY),
        lab.GATEWAY,
        SMTP_PORT,
        SMTP_USERNAME,
        lambda: secrets.read("smtp_password", SECRETS_DIR),
        SMTP_SPOOL_DIR,
    )
    with relay:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__" and sys.argv[1:] == ["relay"]:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    _serve_relay()


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
