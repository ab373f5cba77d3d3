"""Keyed digests of secret files: whether one must change, decided without showing it.

pyinfra prints every fact's output at ``-vvv``; a plain sha256 of a password file there is
a hash anyone holding the log can test guesses against. Each host keeps a random key
(``KEY_FILE``, 0600 root) that only it and the controller know, and the fact prints
``sha256(key + file)``, which says nothing without the key. The controller reads the key
with a command whose output pyinfra does not print; a host without one (the first deploy)
gets it from ``digest_key_file``, and its secret files are written as if they differed.

Example (a deploy file)::

    from operations.digest import KeyedSha256File, digest_key_file, keyed_sha256
    digest_key_file(name="Key for the digests of secret files")
    changed = host.get_fact(KeyedSha256File, path="/etc/x/secret") != keyed_sha256(text)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from io import StringIO
from weakref import WeakKeyDictionary

from pyinfra import host
from pyinfra.api import FactBase, Host, QuoteString, StringCommand, operation
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host
from typing_extensions import override

from obsstack.catalog.host import STATE_DIR
from operations.upload import private_upload, sudo_arguments

KEY_FILE = f"{STATE_DIR}/digest.key"
KEY = re.compile(r"[0-9a-f]{64}")
# Each host's key, read once per run (or made, for a host that has none yet).
_keys: WeakKeyDictionary[Host, tuple[str, bool]] = WeakKeyDictionary()


def _host_key() -> tuple[str, bool]:
    """``(key, installed)``: the host's key, and whether the host has it already."""
    run = ctx_host.get()  # this run's host itself, not pyinfra's proxy of the current one
    if run not in _keys:
        ok, output = host.run_shell_command(
            StringCommand("cat", KEY_FILE, "2>/dev/null", "||", "true"),
            print_output=False,
            print_input=False,
            **sudo_arguments(),
        )
        if not ok:
            raise PyinfraError(f"{host.name}: cannot read {KEY_FILE}: {output.stderr}")
        found = output.stdout.strip()
        _keys[run] = (found, True) if KEY.fullmatch(found) else (secrets.token_hex(32), False)
    return _keys[run]


def keyed_sha256(content: str) -> str:
    """What ``KeyedSha256File`` shows for a file holding ``content`` on this host (never
    what it shows while the host has no key: the file is then written anew)."""
    key, installed = _host_key()
    if not installed:
        return "no key on the host yet"
    return hashlib.sha256(key.encode() + content.encode()).hexdigest()


class KeyedSha256File(FactBase[str | None]):
    """
    Returns ``sha256(host key + content)`` of a file, or ``None`` when the file or the
    host's key is missing.

    + path: the file

    .. code:: python

        "3f7a...e1"
    """

    @override
    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "test -s", KEY_FILE, "&&", "test -f", QuoteString(path), "&&",
            "cat", KEY_FILE, QuoteString(path), "| sha256sum | cut -c1-64", "|| true",
        )

    @override
    def process(self, output: list[str]) -> str | None:
        return output[0].strip() if output and output[0].strip() else None


@operation()
def digest_key_file():
    """
    Give the host its key for the digests of secret files, unless it has one.

    The key is made on the controller from the operating system's random source and
    travels only inside the uploaded file (0600 root).
    """
    key, installed = _host_key()
    if installed:
        host.noop(f"{KEY_FILE} exists")
        return
    yield StringCommand(f"install -d -m 0755 {STATE_DIR} && install -m 0600 /dev/null {KEY_FILE}")
    yield from private_upload(StringIO(key), KEY_FILE)
