"""A real SMTP relay for the lab: STARTTLS, login required, every message kept on disk.

Alertmanager in the lab sends to it exactly as it would to a team's mail relay: over
STARTTLS with a certificate from the lab's own CA, logging in with the password from the
secrets store. Each accepted message is written to ``<spool>/<time_ns>.eml``; ``Spool``
reads them, from any process.

Example::

    from pathlib import Path
    from obslab.mailcatcher import MailCatcher, Spool, ensure_tls_identity
    identity = ensure_tls_identity(Path("/tmp/smtp"), "127.0.0.1")
    with MailCatcher(identity, "127.0.0.1", 2525, "am", lambda: "s3cret", Path("/tmp/mail")):
        ...  # send mail
        Spool(Path("/tmp/mail")).wait_for(lambda message: True, timeout=10)
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsIdentity:
    ca_file: Path
    cert_file: Path
    key_file: Path


def ensure_tls_identity(directory: Path, address: str) -> TlsIdentity:
    """A CA and a server certificate for ``address``, created once in ``directory``."""
    identity = TlsIdentity(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if all(path.exists() for path in (identity.ca_file, identity.cert_file, identity.key_file)):
        return identity
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "observability-stack lab CA")])
    ca_cert = (
        _certificate_builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        _certificate_builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]),
            ca_name,
            server_key.public_key(),
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    identity.key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    identity.key_file.chmod(0o600)
    identity.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    identity.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return identity


def _certificate_builder(subject, issuer, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
    )


REJECTED_LOG = "rejected-logins.log"
POLL_SECONDS = 0.5


class _SpoolHandler:
    def __init__(self, spool: Path) -> None:
        self.spool = spool

    # The method name is fixed by aiosmtpd's handler protocol.
    async def handle_DATA(self, server, session, envelope) -> str:
        # Written under a temporary name and renamed, so a reader never sees half a message.
        path = self.spool / f"{time.time_ns()}.eml"
        partial = path.with_suffix(".partial")
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(path)
        return "250 Message accepted for delivery"


class MailCatcher:
    """Context manager running the relay in a background thread."""

    def __init__(
        self,
        identity: TlsIdentity,
        address: str,
        port: int,
        username: str,
        password: Callable[[], str],
        spool: Path,
    ) -> None:
        """``password`` is asked at each login, so a rotated secret applies at once."""
        spool.mkdir(parents=True, exist_ok=True)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(identity.cert_file, identity.key_file)

        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (username, password())
            if not ok:
                with (spool / REJECTED_LOG).open("a") as log:
                    log.write(f"{time.time():.0f} {session.peer}\n")
            return AuthResult(success=ok)

        self._controller = Controller(
            _SpoolHandler(spool),
            hostname=address,
            port=port,
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            authenticator=authenticate,
            # aiosmtpd's LOGIN prompts ("User Name") differ from what mail relays send
            # ("Username:"), which Alertmanager's LOGIN client expects; PLAIN is standard.
            auth_exclude_mechanism=["LOGIN"],
        )

    def __enter__(self) -> MailCatcher:
        self._controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._controller.stop()


class Spool:
    """Reads what a relay (possibly another process) accepted into its spool directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def paths(self, since_ns: int = 0) -> list[Path]:
        """Spooled messages received after ``since_ns`` (``time.time_ns()``), oldest first."""
        received = sorted(self.directory.glob("*.eml"), key=lambda path: int(path.stem))
        return [path for path in received if int(path.stem) > since_ns]

    def messages(self, since_ns: int = 0) -> list[Message]:
        return [message_from_bytes(path.read_bytes()) for path in self.paths(since_ns)]

    def rejected_logins(self) -> int:
        log = self.directory / REJECTED_LOG
        return len(log.read_text().splitlines()) if log.exists() else 0

    def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float, since_ns: int = 0
    ) -> Message | None:
        """The first message received after ``since_ns`` and within ``timeout`` that matches."""
        deadline = time.monotonic() + timeout
        while True:
            match = next((m for m in self.messages(since_ns) if predicate(m)), None)
            if match is not None or time.monotonic() > deadline:
                return match
            time.sleep(POLL_SECONDS)

    def follow(self, out: TextIO) -> None:
        """Print a line per message as it arrives, until interrupted."""
        seen: set[Path] = set()
        while True:
            for path in self.paths():
                if path not in seen:
                    seen.add(path)
                    message = message_from_bytes(path.read_bytes())
                    out.write(f"{message['Date']}  to {message['To']}: {message['Subject']}\n")
                    out.flush()
            time.sleep(POLL_SECONDS)
