"""An ed25519 SSH key made from a secret's 32-byte seed: the private key file ssh reads,
and the public key line an ``authorized_keys`` file takes.

The private key is written in OpenSSH's own format, byte for byte the same for the same
seed (``ssh-keygen`` puts a random check number in it; here it comes from the seed), so
a second deploy finds the file unchanged.

Example::

    >>> from obsstack.sshkey import private_key_file, public_key_line
    >>> seed = "A" * 43
    >>> public_key_line(seed, "obs-backup").split()[0]
    'ssh-ed25519'
    >>> private_key_file(seed).splitlines()[0]
    '-----BEGIN OPENSSH PRIVATE KEY-----'
"""

from __future__ import annotations

import base64
import hashlib
import struct
import textwrap

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_TYPE = b"ssh-ed25519"


def seed_bytes(seed: str) -> bytes:
    """The 32 bytes of a base64url seed without padding (what secrets.init generates)."""
    raw = base64.urlsafe_b64decode(seed + "=")
    if len(raw) != 32:
        raise ValueError("an ed25519 seed is 32 bytes: 43 characters of base64url")
    return raw


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _public_bytes(seed: str) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(seed_bytes(seed))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_line(seed: str, comment: str) -> str:
    """``ssh-ed25519 AAAA... comment``: what the storage host authorizes."""
    blob = _string(KEY_TYPE) + _string(_public_bytes(seed))
    return f"{KEY_TYPE.decode()} {base64.b64encode(blob).decode()} {comment}"


def private_key_file(seed: str, comment: str = "") -> str:
    """The unencrypted private key in OpenSSH's format (PROTOCOL.key)."""
    public = _public_bytes(seed)
    public_blob = _string(KEY_TYPE) + _string(public)
    check = hashlib.sha256(b"openssh-check" + seed_bytes(seed)).digest()[:4]
    private = (
        check
        + check
        + _string(KEY_TYPE)
        + _string(public)
        + _string(seed_bytes(seed) + public)
        + _string(comment.encode())
    )
    private += bytes(range(1, 8 - len(private) % 8 + 1)) if len(private) % 8 else b""
    body = (
        b"openssh-key-v1\0"
        + _string(b"none")
        + _string(b"none")
        + _string(b"")
        + struct.pack(">I", 1)
        + _string(public_blob)
        + _string(private)
    )
    lines = textwrap.wrap(base64.b64encode(body).decode(), 70)
    return "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""]
    )
