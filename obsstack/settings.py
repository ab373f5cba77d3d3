"""The settings of group and host data, checked before any host is touched.

Every key in ``group_data/*.py`` and in inventory host data is checked against ``SCHEMA``,
the catalog's settings (``obsstack.catalog``: each with its check, default and the roles
that need it): unknown keys (with a "did you mean"), wrong types, bad durations, ports,
versions, sha256 values, e-mail addresses and placeholders left in. An error names the
file, the key, the bad value and what is expected.

Example::

    >>> from obsstack.settings import check_data
    >>> check_data({"prometheus_port": 70000}, "group_data/all.py")
    ['group_data/all.py: prometheus_port = 70000: out of range; expected a TCP port number 1-65535']
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from obsstack.catalog import AGREEMENTS, required_settings, running, settings_schema
from obsstack.fields import (
    DURATION,
    HOSTNAME,
    PORT,
    Field,
    Section,
    duration_seconds,
    is_a,
)
from obsstack.serialize import CONTROL_CHARACTER

# A host's name in an inventory: it becomes the instance label of its metrics and alerts.
INVENTORY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")


# Keys pyinfra itself reads from host data (connection settings, global arguments).
PYINFRA_KEY_PREFIXES = (
    "ssh_", "_", "winrm_", "docker_", "local_", "chroot_", "terraform_", "fake_"
)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``1h30m`` or ``15s``."""
    if not DURATION.fullmatch(text):
        raise SettingsError(f"{text!r} is not a Prometheus duration such as 30s, 5m, 15d")
    return duration_seconds(text)


class SettingsError(Exception):
    """Bad input data; the message lists every problem found."""


SCHEMA: dict[str, Field | Section] = settings_schema()


def _address(value: Any) -> str | None:
    """An IP address, or a DNS name (letters, digits, hyphens, dots)."""
    if not isinstance(value, str):
        return "wrong type"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        looks_numeric = all(part.isdigit() for part in value.split("."))
        return "bad format" if looks_numeric or not HOSTNAME.fullmatch(value) else None
    return None


# pyinfra's own connection keys that we check before pyinfra tries to use them.
CONNECTION_SCHEMA: dict[str, Field] = {
    "ssh_hostname": Field(_address, "an IP address such as 203.0.113.7 or a DNS name"),
    "ssh_port": PORT,
}


# How the deploy gets root on a host: it logs in as root, or as a user with passwordless
# sudo (``_sudo``: True). pyinfra's other ways are refused before any host is touched: a
# sudo or su password travels in a command's environment, and the others are untested.
PRIVILEGE_KEYS: dict[str, Field] = {
    "_sudo": is_a(bool, "True (log in as ssh_user, become root with passwordless sudo) or False"),
    "_sudo_user": Field(
        lambda v: None if v in (None, "root") else "not supported",
        "None or 'root': the deploy needs root on every host",
    ),
}
REFUSED_PRIVILEGE_KEYS = (
    "_sudo_password",
    "_use_sudo_login",
    "_preserve_sudo_env",
    "_su_user",
    "_use_su_login",
    "_preserve_su_env",
    "_su_shell",
    "_su_password",
    "_doas",
    "_doas_user",
    "_dzdo",
    "_dzdo_user",
)


def _has_control_character(value: Any) -> bool:
    if isinstance(value, str):
        return bool(CONTROL_CHARACTER.search(value))
    if isinstance(value, dict):
        return any(_has_control_character(k) or _has_control_character(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_control_character(item) for item in value)
    return False


def check_data(data: Mapping[str, Any], source: str) -> list[str]:
    """Problems in one mapping of settings (a group_data file or a host's data)."""
    problems: list[str] = []
    for key, value in data.items():
        if _has_control_character(key) or _has_control_character(value):
            problems.append(
                f"{source}: {key!r} holds a control character (a line break?); every value "
                "ends up in a file on a host, where it would start a new line"
            )
            continue
        if key in PRIVILEGE_KEYS:
            problems.extend(_check_value(PRIVILEGE_KEYS, key, value, source, key))
            continue
        if key in REFUSED_PRIVILEGE_KEYS and value not in (None, False):
            problems.append(
                f"{source}: {key} = {value!r}: not supported; expected ssh_user 'root', or a "
                "user with passwordless sudo and _sudo = True"
            )
            continue
        if key in CONNECTION_SCHEMA:
            problems.extend(_check_value(CONNECTION_SCHEMA, key, value, source, key))
            continue
        if key.startswith(PYINFRA_KEY_PREFIXES):
            continue
        problems.extend(_check_value(SCHEMA, key, value, source, key))
    return problems


def _check_value(
    schema: Mapping[str, Field | Section], key: str, value: Any, source: str, dotted: str
) -> list[str]:
    if key not in schema:
        close = difflib.get_close_matches(key, list(schema), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(schema)}"
        return [f"{source}: unknown key {dotted!r}{hint}"]
    field = schema[key]
    if isinstance(field, Field):
        problem = field.check(value)
        if problem:
            return [f"{source}: {dotted} = {value!r}: {problem}; expected {field.expected}"]
        return []
    if value is None and field.optional:
        return []
    if not isinstance(value, dict):
        keys = ", ".join(field.fields) + (", or None" if field.optional else "")
        return [f"{source}: {dotted} = {value!r}: wrong type; expected a dict with {keys}"]
    missing = [] if field.partial else [name for name in field.fields if name not in value]
    problems = [f"{source}: {dotted} is missing {', '.join(missing)}"] if missing else []
    for sub_key, sub_value in value.items():
        problems.extend(
            _check_value(field.fields, sub_key, sub_value, source, f"{dotted}.{sub_key}")
        )
    return problems


def missing_keys(name: str, groups: set[str], data: Mapping[str, Any]) -> list[str]:
    """Problems for settings a host's roles need but its data lacks."""
    missing = sorted(set(required_settings(groups)) - set(data))
    releases = data.get("releases")
    # Pins for what every host of its roles runs, whatever its settings, and for the agents
    # it lists: a component added to the catalog later does not invalidate a `releases`
    # written before, unless the host asks for it.
    listed = data.get("agents")
    agents = [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []
    if isinstance(releases, dict):
        missing += [
            f"releases.{component.name}"
            for component in running(groups, {}, agents)
            if component.archive and component.name not in releases
        ]
    if not missing:
        return []
    return [
        f"data of host {name}: missing {', '.join(missing)} (group_data/all.py loads every "
        "default of the catalog; see README: Settings)"
    ]


def raise_for(problems: list[str]) -> None:
    """Raise one SettingsError listing every distinct problem, if there are any."""
    if problems:
        unique = list(dict.fromkeys(problems))
        raise SettingsError("invalid settings:\n  " + "\n  ".join(unique))


def check_host_data(name: str, groups: set[str], data: Mapping[str, Any]) -> None:
    """Check a host's merged data: every key valid, every key its roles need present, and
    the keys that name each other agreeing."""
    problems = check_data(data, f"data of host {name}") + missing_keys(name, groups, data)
    raise_for(
        problems
        or [f"data of host {name}: {problem}" for agree in AGREEMENTS for problem in agree(data)]
    )
