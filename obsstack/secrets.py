"""Secret values: read on the controller from a private directory or the environment.

A secret named ``smtp_password`` comes from ``$OBS_SECRET_SMTP_PASSWORD`` when that is set,
otherwise from ``<secrets_dir>/smtp_password``. The directory must be 0700 and its files
0600 (owner only): a readable-by-others secret is refused rather than used. Values never
pass through a command line: deploys write them into 0600/0640 files on the hosts.

Example::

    from pathlib import Path
    from obsstack import secrets
    store = Path("secrets")
    secrets.init(store, ["smtp_password"])  # generates what can be generated, reports the rest
    value = secrets.read("smtp_password", store)
"""

from __future__ import annotations

import os
import re
import secrets as token_source
import stat
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from obsstack.catalog import SECRETS
from obsstack.catalog.schema import Secret
from obsstack.serialize import CONTROL_CHARACTER

ENV_PREFIX = "OBS_SECRET_"
# A password we generate is 43 characters of URL-safe base64 (256 bits). One of the same
# kind supplied from elsewhere (an environment variable filled from a CI secret) must be
# at least this long and this varied, or it is refused as a placeholder or a guessable word.
MIN_GENERATED_LENGTH = 16
MIN_DISTINCT_CHARACTERS = 8


def spec_for(name: str) -> Secret:
    """What secret ``name`` is for (its catalog entry's); SecretError for a name the project
    never reads."""
    if name in SECRETS and not _keyed(SECRETS[name]):
        return SECRETS[name]
    for secret in SECRETS.values():
        key = name.removeprefix(secret.name)
        if _keyed(secret) and name.startswith(secret.name) and key:
            return replace(secret, name=name, purpose=secret.purpose.format(key=key))
    known = [
        *sorted(secret.name for secret in SECRETS.values() if not _keyed(secret)),
        *(f"{secret.name}<{secret.key_name}>" for secret in SECRETS.values() if _keyed(secret)),
    ]
    raise SecretError(f"unknown secret {name!r}; known: {', '.join(known)}")


def _keyed(secret: Secret) -> bool:
    """Whether ``secret`` is a family of secrets, one per key (a user, a host)."""
    return bool(secret.one_per or secret.per_host)


class SecretError(Exception):
    """A secret is missing, unknown or stored unsafely. Messages never contain a value."""


def env_name(name: str) -> str:
    """The variable a secret may come from: what a shell or a CI secret can be named, so
    a host's or a user's name keeps only letters and digits (``web1.example.com``:
    ``OBS_SECRET_LOKI_PUSH_PASSWORD_WEB1_EXAMPLE_COM``)."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def read(name: str, store: Path) -> str:
    """The value of secret ``name`` from the environment or ``store``; never logged.

    A value that is empty or only whitespace, holds a control character, or (for a kind
    we generate) is too short to be a password, is an error naming where it came from:
    an unset CI secret arrives as an empty variable and must never become a login.
    """
    spec = spec_for(name)
    if env_name(name) in os.environ:
        return checked(spec, os.environ[env_name(name)].strip(), f"${env_name(name)}")
    path = store / name
    if not path.exists():
        raise SecretError(
            f"secret {name!r} ({spec.purpose}) is missing: write it to {path} "
            f"(mode 0600) or set {env_name(name)}"
            + ("" if not spec.generated else "; `invoke secrets.init` generates it")
        )
    _check_private(store, 0o700)
    _check_private(path, 0o600)
    return checked(spec, path.read_text().strip(), str(path))


def checked(spec: Secret, value: str, source: str) -> str:
    """``value`` if it can serve as secret ``spec``; SecretError naming ``source`` otherwise."""
    where = f"secret {spec.name!r} from {source}"
    if not value:
        raise SecretError(
            f"{where} is empty: set it to the value "
            + ("(`invoke secrets.rotate` makes one)" if spec.generated else "you were given")
        )
    if CONTROL_CHARACTER.search(value):
        raise SecretError(f"{where} contains a control character (a line break?)")
    if spec.charset and not spec.charset.fullmatch(value):
        raise SecretError(f"{where} may only use {spec.charset_text}")
    if spec.generated and (
        len(value) < MIN_GENERATED_LENGTH or len(set(value)) < MIN_DISTINCT_CHARACTERS
    ):
        raise SecretError(
            f"{where} is too weak: at least {MIN_GENERATED_LENGTH} characters with "
            f"{MIN_DISTINCT_CHARACTERS} different ones (`invoke secrets.rotate {spec.name}` "
            "generates one)"
        )
    return value


def write(name: str, value: str, store: Path) -> Path:
    """Store ``value`` as secret ``name``, creating the directory 0700 and the file 0600.

    The new file replaces the old one with a rename, so a deploy reading it meanwhile sees
    either the old value or the new one, never a partly written file.
    """
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(store, 0o700)
    path = store / name
    partial = store / f".{name}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(value)
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path


def init(store: Path, names: Iterable[str], include_provided: bool = False) -> dict[str, str]:
    """Generate every missing generated secret of ``names``; report the state of each one.

    ``include_provided`` also generates secrets that normally come from elsewhere, for a
    lab whose SMTP relay is our own catcher. Returns ``{name: what happened}``.
    """
    report = {}
    for spec in (spec_for(name) for name in sorted(set(names))):
        if env_name(spec.name) in os.environ:
            try:
                read(spec.name, store)
                report[spec.name] = f"from ${env_name(spec.name)}"
            except SecretError as error:
                report[spec.name] = f"refused: {error}"
        elif (store / spec.name).exists():
            report[spec.name] = "present"
        elif spec.generated or include_provided:
            write(spec.name, generate(), store)
            report[spec.name] = "generated"
        else:
            report[spec.name] = (
                f"missing: write your value to {store / spec.name} or set {env_name(spec.name)}"
            )
    return report


def rotate(name: str, store: Path, include_provided: bool = False) -> Path:
    """Replace secret ``name`` with a new random value; the next deploy applies it.

    A provided secret (issued by someone else, such as a mail relay password) cannot be
    generated here: the error says how to store the new value instead.
    """
    spec = spec_for(name)
    if not (spec.generated or include_provided):
        raise SecretError(
            f"secret {name!r} ({spec.purpose}) is issued elsewhere: change it there, then "
            f"store the new value with `invoke secrets.set {name}` (reads it from stdin)"
        )
    if env_name(name) in os.environ:
        raise SecretError(
            f"secret {name!r} comes from ${env_name(name)}: change that variable instead"
        )
    return write(name, generate(), store)


def set_value(name: str, value: str, store: Path) -> Path:
    """Store a value someone gave us (e.g. a new relay password) as secret ``name``."""
    spec = spec_for(name)
    value = value.strip()
    if not value:
        raise SecretError(f"no value given for secret {name!r}; nothing was changed")
    checked(spec, value, "the value given")
    if env_name(name) in os.environ:
        raise SecretError(f"secret {name!r} comes from ${env_name(name)}: set that instead")
    return write(name, value, store)


def generate() -> str:
    return token_source.token_urlsafe(32)


def _check_private(path: Path, wanted: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"{path} is mode {mode:04o}: other users can read it; run chmod {wanted:04o} {path}"
        )
