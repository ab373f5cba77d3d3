"""A real SMTP relay for the lab: STARTTLS, login required, every message kept on disk.

Alertmanager in the lab sends to it exactly as it would to a team's mail relay: over
STARTTLS with a certificate from the lab's own CA, logging in with the password from the
secrets store. Each accepted message is written to ``<spool>/<n>.eml``.

Example::

    from pathlib import Path
    from obsstack.mailcatcher import MailCatcher, ensure_tls_identity
    identity = ensure_tls_identity(Path("/tmp/smtp"), "127.0.0.1")
    with MailCatcher(identity, "127.0.0.1", 2525, "am", lambda: "s3cret", Path("/tmp/mail")):
        ...  # send mail; read Path("/tmp/mail").glob("*.eml")
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import queue
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


class _SpoolHandler:
    def __init__(self, spool: Path, arrivals: queue.Queue[Path]) -> None:
        self.spool = spool
        self.arrivals = arrivals
        self.counter = itertools.count(len(list(spool.glob("*.eml"))) + 1)

    # The method name is fixed by aiosmtpd's handler protocol.
    async def handle_DATA(self, server, session, envelope) -> str:
        path = self.spool / f"{next(self.counter):05d}.eml"
        path.write_bytes(envelope.original_content or envelope.content)
        self.arrivals.put(path)
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
        self.spool = spool
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(identity.cert_file, identity.key_file)
        self.rejected_logins = 0
        self.arrivals: queue.Queue[Path] = queue.Queue()

        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (username, password())
            if not ok:
                self.rejected_logins += 1
            return AuthResult(success=ok)

        self._controller = Controller(
            _SpoolHandler(spool, self.arrivals),
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

    def messages(self) -> list[Message]:
        return [message_from_bytes(path.read_bytes()) for path in sorted(self.spool.glob("*.eml"))]

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float) -> Message | None:
        """The first message (already here or arriving within ``timeout``) that matches."""
        deadline = time.monotonic() + timeout
        for message in self.messages():
            if predicate(message):
                return message
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = message_from_bytes(self.arrivals.get(timeout=remaining).read_bytes())
            except queue.Empty:
                return None
            if predicate(message):
                return message
        return None

    def follow(self, out: TextIO) -> None:
        """Print a line per arriving message until interrupted."""
        while True:
            message = message_from_bytes(self.arrivals.get().read_bytes())
            out.write(f"{message['Date']}  to {message['To']}: {message['Subject']}\n")
            out.flush()
