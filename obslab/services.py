"""What deploys to the lab need besides its hosts: release mirror, mail relay, ACME CA, secrets.

The mail relay and the ACME CA (Debian's pebble, which issues real certificates over
HTTP-01 for ``machines.LAB_DOMAIN``) run in the background on the controller while the lab is up,
listening on ``machines.GATEWAY`` with a certificate from the lab's own CA (``ACME_CA_BUNDLE``).

Example::

    from obslab.services import MIRROR_DIR, mirror_releases
    mirror_releases(MIRROR_DIR, newest=True)
    # {'prometheus': {'version': '2.53.3', 'sha256': '...'}, ...}

    from obslab import services
    services.start_pebble()  # a no-op while it runs
    services.ACME_DIRECTORY_URL  # 'https://10.99.0.1:14000/dir', verified with ACME_CA_BUNDLE
    services.pebble_root()  # '-----BEGIN CERTIFICATE-----...': what issued certificates chain to
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from obslab import machines, provided, victoriametrics
from obslab.mailcatcher import MailCatcher, Spool, TlsIdentity, ensure_tls_identity
from obslab.mirror import STANDIN_BUILD, build_mirror
from obslab.webhookcatcher import WebhookCatcher, WebhookSpool
from obsstack import secrets
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.catalog.backup import BACKUP_SFTP_KEY
from obsstack.catalog.server import RECEIVER_SECRET
from obsstack.session import secret_stores
from obsstack.sshkey import public_key_line

MIRROR_DIR = machines.CACHE_DIR / "mirror"
SMTP_PORT = 2525
SMTP_IDENTITY_DIR = machines.STATE_DIR / "smtp"
SMTP_SPOOL_DIR = machines.STATE_DIR / "mail"
SMTP_USERNAME = "alertmanager"
SECRETS_DIR = machines.STATE_DIR / "secrets"
# The lab's webhook receiver (obslab/webhookcatcher.py), and the receivers of lab_settings
# that post to it: the one every alert goes to, and the heartbeat's.
WEBHOOK_PORT = 9465
WEBHOOK_SPOOL_DIR = machines.STATE_DIR / "webhooks"
WEBHOOK_RECEIVERS = ("lab-hook", "heartbeat")
LAB_INVENTORY = "inventories/lab.py"
PEBBLE_CONFIG = machines.STATE_DIR / "pebble" / "config.json"
PEBBLE_ROOT_FILE = machines.STATE_DIR / "pebble" / "root.pem"
ACME_PORT = 14000
ACME_MANAGEMENT_PORT = 15000
ACME_DIRECTORY_URL = f"https://{machines.GATEWAY}:{ACME_PORT}/dir"
# pebble serves its API with the relay's certificate, from the lab's own CA.
ACME_CA_BUNDLE = SMTP_IDENTITY_DIR / "ca.pem"
DAEMON_TIMEOUT = 15.0
PROJECT_DIR = Path(__file__).resolve().parent.parent


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split("."))


def mirror_releases(mirror: Path, newest: bool = True) -> dict[str, dict[str, str]] | str:
    """Pins for every component in the mirror: its newest (or oldest) version and sha256,
    and for Grafana's stand-in its build number (obslab/mirror.py).

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
        if RELEASE_ARCHIVES[component].needs_build:
            releases[component]["build"] = STANDIN_BUILD
    return releases


def prepare(progress: Callable[[str], None] = print) -> None:
    """Everything a deploy to the lab needs besides running hosts: mirror, relay, CA, secrets."""
    build_mirror(MIRROR_DIR, progress=progress)
    provided.build()
    provided.push()
    ensure_tls_identity(SMTP_IDENTITY_DIR, machines.GATEWAY)
    # The webhook receivers' URLs are the lab catcher's, not random values.
    for name in WEBHOOK_RECEIVERS:
        url = f"http://{machines.GATEWAY}:{WEBHOOK_PORT}/{name}"
        secrets.write(RECEIVER_SECRET.name_for(name), url, SECRETS_DIR)
    # The lab's relay is our own catcher, so even its "provided" secrets are generated.
    secrets.init(SECRETS_DIR, secret_stores(LAB_INVENTORY)[SECRETS_DIR], include_provided=True)
    prepare_backup_storage()
    victoriametrics.prepare(SECRETS_DIR)
    start_mail_relay()
    WEBHOOKS.start()
    start_pebble()
    progress(
        f"lab: mirror {MIRROR_DIR}, secrets {SECRETS_DIR}, "
        f"mail relay {machines.GATEWAY}:{SMTP_PORT} (spool {SMTP_SPOOL_DIR}), "
        f"webhooks {machines.GATEWAY}:{WEBHOOK_PORT} (spool {WEBHOOK_SPOOL_DIR}), "
        f"VictoriaMetrics {victoriametrics.write_url()}, "
        f"ACME CA {ACME_DIRECTORY_URL} for {machines.LAB_DOMAIN}"
    )


@dataclass(frozen=True)
class Daemon:
    """A lab program running in the background on the controller, in its own session.

    Its pid file in ``machines.STATE_DIR`` says which process is ours. Any process with the same
    arguments is an instance of it, whatever path started the program, so one that an
    earlier lab left behind is found too.
    """

    name: str
    argv: tuple[str, ...]
    addresses: tuple[tuple[str, int], ...]  # it is ready once each accepts connections
    environment: tuple[tuple[str, str], ...] = ()
    # The arguments it had in earlier versions of this code, so that an instance an older
    # checkout started is found too.
    former_argvs: tuple[tuple[str, ...], ...] = ()

    @property
    def pid_file(self) -> Path:
        return machines.STATE_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return machines.STATE_DIR / f"{self.name}.log"

    def start(self) -> None:
        """Start it and wait until it listens; a no-op while ours runs."""
        running = self.processes()
        if self.recorded_pid() in running:
            return
        # One without our record belongs to a lab that was taken down under it: its state
        # directories are gone, so it is replaced.
        for pid in running:
            self._stop(pid)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                self.argv,
                cwd=PROJECT_DIR,
                env={**os.environ, **dict(self.environment)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid}\n")

        def ready() -> bool:
            if process.poll() is not None:  # a bad config or a port taken: say so at once
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
                raise machines.LabError(
                    f"the lab's {self.name} exited with status {process.returncode}; "
                    f"{self.log_file}:\n{tail}"
                )
            return all(_listening(address) for address in self.addresses)

        machines.wait_for(ready, DAEMON_TIMEOUT, f"the lab's {self.name} to listen")

    def stop(self) -> None:
        for pid in self.processes():
            self._stop(pid)
        self.pid_file.unlink(missing_ok=True)

    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def processes(self) -> set[int]:
        """PIDs of its running instances."""
        return {
            int(proc.name)
            for proc in Path("/proc").glob("[0-9]*")
            if self._is_instance(int(proc.name))
        }

    def _is_instance(self, pid: int) -> bool:
        argv = machines.process_argv(pid)  # empty once it ended, even as a zombie
        return bool(argv) and any(
            argv[1:] == list(known[1:]) for known in (self.argv, *self.former_argvs)
        )

    def _stop(self, pid: int) -> None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

        def stopped() -> bool:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # our own child must not linger as a zombie
            return not self._is_instance(pid)

        machines.wait_for(stopped, DAEMON_TIMEOUT, f"the lab's {self.name} to stop")


def _listening(address: tuple[str, int]) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(address) == 0


RELAY = Daemon(
    "mail-relay",
    (sys.executable, "-m", "obslab.services", "relay"),
    ((machines.GATEWAY, SMTP_PORT),),
    former_argvs=((sys.executable, "-m", "obsstack.labdata", "relay"),),
)
# Like the relay, always there while the lab is up: Alertmanager's webhooks must deliver.
WEBHOOKS = Daemon(
    "webhook-catcher",
    (sys.executable, "-m", "obslab.services", "webhooks"),
    ((machines.GATEWAY, WEBHOOK_PORT),),
)
PEBBLE = Daemon(
    "pebble",
    # -strict=false spelled out: pebble announces that its default will change to true.
    ("pebble", "-config", str(PEBBLE_CONFIG), "-strict=false"),
    ((machines.GATEWAY, ACME_PORT), (machines.GATEWAY, ACME_MANAGEMENT_PORT)),
    # Deterministic tests: no random waits before validations, no good nonce rejected, and
    # every order validated afresh instead of reusing an earlier valid authorization
    # (pebble's defaults: up to 15 s; 5% rejected; reuse half of the time), so each
    # issuance proves HTTP-01 through obs's web server.
    (("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_WFE_NONCEREJECT", "0"), ("PEBBLE_AUTHZREUSE", "0")),
)


def start_mail_relay() -> None:
    """Run the lab's mail relay in the background (a no-op while it runs).

    Alertmanager on ``obs`` must always be able to deliver: a relay that is only there
    during tests would leave it failing notifications, a critical alert, the rest of the time.
    """
    RELAY.start()


def stop_mail_relay() -> None:
    RELAY.stop()


def start_pebble() -> None:
    """Run the lab's ACME CA in the background (a no-op while it runs).

    It resolves names with the controller's resolver, so ``machines.LAB_DOMAIN`` (in the
    controller's /etc/hosts while the lab is up) leads its HTTP-01 validation to ``obs``.
    """
    PEBBLE_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    config = pebble_config(ensure_tls_identity(SMTP_IDENTITY_DIR, machines.GATEWAY))
    PEBBLE_CONFIG.write_text(json.dumps(config, indent=2) + "\n")
    PEBBLE.start()
    # For what must trust pebble's certificates from a file (the lab's blackbox probes).
    PEBBLE_ROOT_FILE.write_text(pebble_root())


def stop_daemons() -> None:
    """Stop everything ``prepare`` started in the background."""
    stop_mail_relay()
    WEBHOOKS.stop()
    stop_pebble()


def stop_pebble() -> None:
    PEBBLE.stop()


def pebble_config(identity: TlsIdentity) -> dict[str, dict[str, object]]:
    """pebble's config file: its API on the gateway, served with the lab's TLS identity."""
    return {
        "pebble": {
            "listenAddress": f"{machines.GATEWAY}:{ACME_PORT}",
            "managementListenAddress": f"{machines.GATEWAY}:{ACME_MANAGEMENT_PORT}",
            "certificate": str(identity.cert_file),
            "privateKey": str(identity.key_file),
            # Where it validates: the standard ports, on which obs answers like a real server.
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }


def pebble_root() -> str:
    """PEM of the root that pebble's certificates chain to; it makes a new one at every start."""
    tls = ssl.create_default_context(cafile=ACME_CA_BUNDLE)
    # The lab's address is local: a user's proxy settings must not send the request away.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=tls)
    )
    url = f"https://{machines.GATEWAY}:{ACME_MANAGEMENT_PORT}/roots/0"
    with opener.open(url, timeout=DAEMON_TIMEOUT) as response:
        return response.read().decode()


def mail_spool() -> Spool:
    return Spool(SMTP_SPOOL_DIR)


def webhook_spool() -> WebhookSpool:
    return WebhookSpool(WEBHOOK_SPOOL_DIR)


def _serve_relay() -> None:
    relay = MailCatcher(
        ensure_tls_identity(SMTP_IDENTITY_DIR, machines.GATEWAY),
        machines.GATEWAY,
        SMTP_PORT,
        SMTP_USERNAME,
        lambda: secrets.read("smtp_password", SECRETS_DIR),
        SMTP_SPOOL_DIR,
    )
    with relay:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


def _serve_webhooks() -> None:
    with WebhookCatcher(machines.GATEWAY, WEBHOOK_PORT, WEBHOOK_SPOOL_DIR):
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__" and sys.argv[1:] in (["relay"], ["webhooks"]):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    if sys.argv[1] == "relay":
        _serve_relay()
    else:
        _serve_webhooks()


BACKUP_STORAGE_HOST = "outsider"
BACKUP_STORAGE_USER = "obs-backup"
BACKUP_STORAGE_DIR = "/srv/restic"


def backup_repository() -> str:
    """The lab's backup repository: SFTP on outsider, a host that is not the server (the
    disaster-recovery test destroys the server and restores from here)."""
    address = machines.lab_host(BACKUP_STORAGE_HOST).address
    return f"sftp:{BACKUP_STORAGE_USER}@{address}:{BACKUP_STORAGE_DIR}/obs"


def prepare_backup_storage() -> None:
    """An SFTP-only account on outsider that the server's backup key may log in to.

    Done on every ``lab.up``: a rebuilt outsider has lost it (and a rebuilt server keeps its
    key, which comes from the lab's secrets).
    """
    public_key = public_key_line(secrets.read(BACKUP_SFTP_KEY.name, SECRETS_DIR), "obs-backup")
    script = f"""set -e
id {BACKUP_STORAGE_USER} >/dev/null 2>&1 || useradd --system --home-dir {BACKUP_STORAGE_DIR} \
    --shell /bin/sh {BACKUP_STORAGE_USER}
install -d -o {BACKUP_STORAGE_USER} -g {BACKUP_STORAGE_USER} -m 0700 {BACKUP_STORAGE_DIR} \
    {BACKUP_STORAGE_DIR}/.ssh
cat > {BACKUP_STORAGE_DIR}/.ssh/authorized_keys
chown {BACKUP_STORAGE_USER}: {BACKUP_STORAGE_DIR}/.ssh/authorized_keys
chmod 0600 {BACKUP_STORAGE_DIR}/.ssh/authorized_keys
"""
    subprocess.run(
        machines.ssh_argv(BACKUP_STORAGE_HOST, script),
        input=f"restrict {public_key}\n".encode(),
        check=True,
        capture_output=True,
    )
