"""htpasswd files for nginx's basic auth, hashed on the controller.

Passwords never reach a host or a command line in clear: only these files do, written
0640 root:www-data. The salt is derived from the password itself (HMAC keyed with it), so
an unchanged password gives the same file on every deploy (no change reported) and a
rotated one gives a new salt as well as a new hash.

People's passwords are hashed with bcrypt at cost 10, slow to guess. Machine tokens (the
hosts' Loki push passwords: generated, 256 random bits) are checked by nginx on every push,
about one a second from every host: for them bcrypt's lowest cost (4, about a millisecond)
is enough, since no guessing reaches a random 256-bit value.

Example::

    from obsstack.htpasswd import htpasswd_file
    htpasswd_file({"admin": "s3cret"}, realm="monitoring.example.com")
    # 'admin:$2b$10$...\\n'
    htpasswd_file({"web1": "<43 random characters>"}, realm="...", cost=TOKEN_COST)
    # 'web1:$2b$04$...\\n'
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping

import bcrypt

# nginx checks the hash on every request, in its worker: cost 10 takes tens of
# milliseconds, slow for guessing, quick enough for a dashboard's bursts of requests.
BCRYPT_COST = 10
# For generated tokens only (see above): bcrypt's minimum.
TOKEN_COST = 4
# bcrypt's base64 alphabet; a salt is 22 of these characters.
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# The 22nd character carries only 2 bits of the 128-bit salt: it must be one of these.
BCRYPT_LAST_CHARS = ".Oeu"


def _salt_bytes(password: str, user: str, realm: str) -> bytes:
    """32 bytes that change with the password, user or realm."""
    digest = hmac.new(password.encode(), f"htpasswd\0{realm}\0{user}".encode(), hashlib.sha256)
    return digest.digest()


def stable_salt(password: str, user: str, realm: str) -> str:
    """A 22-character bcrypt salt that changes with the password, user or realm."""
    raw = _salt_bytes(password, user, realm)
    salt = "".join(BCRYPT_ALPHABET[byte % 64] for byte in raw[:21])
    return salt + BCRYPT_LAST_CHARS[raw[21] % 4]


# A user's line is the same in every password file of a realm; each costs a bcrypt hash.
@functools.cache
def htpasswd_line(user: str, password: str, realm: str, cost: int = BCRYPT_COST) -> str:
    salt = f"$2b${cost:02d}${stable_salt(password, user, realm)}"
    return f"{user}:{bcrypt.hashpw(password.encode(), salt.encode()).decode()}"


def htpasswd_file(passwords: Mapping[str, str], realm: str, cost: int = BCRYPT_COST) -> str:
    """The file's text for ``{user: password}``, users sorted (empty: nobody gets in)."""
    return "".join(
        f"{htpasswd_line(user, password, realm, cost)}\n"
        for user, password in sorted(passwords.items())
    )

