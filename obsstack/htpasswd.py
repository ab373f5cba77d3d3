"""htpasswd files for nginx's basic auth, hashed on the controller with bcrypt.

Passwords never reach a host or a command line in clear: only these files do, written
0640 root:www-data. The bcrypt salt is derived from the password itself (HMAC keyed with
it), so an unchanged password gives the same file on every deploy (no change reported)
and a rotated one gives a new salt as well as a new hash.

Example::

    from obsstack.htpasswd import htpasswd_file
    htpasswd_file({"admin": "s3cret"}, realm="monitoring.example.com")
    # 'admin:$2b$10$...\\n'
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
# bcrypt's base64 alphabet; a salt is 22 of these characters.
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# The 22nd character carries only 2 bits of the 128-bit salt: it must be one of these.
BCRYPT_LAST_CHARS = ".Oeu"


def stable_salt(password: str, user: str, realm: str) -> str:
    """A 22-character bcrypt salt that changes with the password, user or realm."""
    digest = hmac.new(password.encode(), f"htpasswd\0{realm}\0{user}".encode(), hashlib.sha256)
    raw = digest.digest()
    salt = "".join(BCRYPT_ALPHABET[byte % 64] for byte in raw[:21])
    return salt + BCRYPT_LAST_CHARS[raw[21] % 4]


# A user's line is the same in every password file of a realm; each costs a bcrypt hash.
@functools.cache
def htpasswd_line(user: str, password: str, realm: str) -> str:
    salt = f"$2b${BCRYPT_COST:02d}${stable_salt(password, user, realm)}"
    return f"{user}:{bcrypt.hashpw(password.encode(), salt.encode()).decode()}"


def htpasswd_file(passwords: Mapping[str, str], realm: str) -> str:
    """The file's text for ``{user: password}``, users sorted (empty: nobody gets in)."""
    return "".join(
        f"{htpasswd_line(user, password, realm)}\n" for user, password in sorted(passwords.items())
    )
