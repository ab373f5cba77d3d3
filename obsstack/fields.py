"""What a valid setting value looks like: patterns and checks, each naming what it expects.

A ``Field`` checks one value and says what is expected; a ``Section`` checks a dict of them.
Every pattern is matched against the whole value (fullmatch): "$" would let a trailing line
break through into the file the value is written to. The catalog's entries declare their
settings with these (``obsstack.catalog``); ``obsstack.settings`` applies them.

Example::

    >>> from obsstack.fields import PORT, DURATION_FIELD
    >>> PORT.check(70000), PORT.expected
    ('out of range', 'a TCP port number 1-65535')
    >>> DURATION_FIELD.check("5m") is None
    True
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Check = Callable[[Any], str | None]

DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
SHA256 = re.compile(r"[0-9a-f]{64}")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$)({LABEL}\.)*{LABEL}")

# A plain address: no quotes, commas, backslashes or spaces that a mail header, a YAML
# scalar or Alertmanager's address parser could read as a second recipient.
EMAIL = re.compile(rf"[A-Za-z0-9._%+-]{{1,64}}@({LABEL}\.)+{LABEL}")
HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")
# A Prometheus label name.
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FLAG = re.compile(r"--[A-Za-z0-9][A-Za-z0-9._-]*(=[^\s]+)?")
# URL paths and queries: RFC 3986's unreserved, sub-delims (but ',' and quotes) and '%'.
URL_TAIL = r"(/[A-Za-z0-9._~!$&()*+;=:@%/-]*)?(\?[A-Za-z0-9._~!$&()*+;=:@%/?-]*)?"
HTTP_URL = re.compile(rf"https?://[A-Za-z0-9.-]+(:\d{{1,5}})?{URL_TAIL}")
HTTPS_URL = re.compile(rf"https://[A-Za-z0-9.-]+(:\d{{1,5}})?{URL_TAIL}")
SIZE = re.compile(r"0|\d+(B|KB|MB|GB|TB|PB|EB)")
# What a release id looks like (operations/history.py): the run's start, a fingerprint.
RELEASE_ID = re.compile(r"\d{8}T\d{6}Z(-[0-9a-f]{12})?")
FIREWALL_COMMENT = re.compile(r"[A-Za-z0-9 _.,:/()+-]{0,100}")
ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,62}")
PLACEHOLDERS = ("CHANGE_ME", "example.com", "example.org")


@dataclass(frozen=True)
class Field:
    check: Check
    expected: str


def is_a(kind: type | tuple[type, ...], expected: str) -> Field:
    return Field(lambda value: None if isinstance(value, kind) else "wrong type", expected)


def matching(pattern: re.Pattern, expected: str) -> Field:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and pattern.fullmatch(value) else "bad format"

    return Field(check, expected)


def int_range(low: int, high: int, expected: str) -> Field:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "wrong type"
        return None if low <= value <= high else "out of range"

    return Field(check, expected)


def check_email(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    return placeholder_in(value) or (None if EMAIL.fullmatch(value) else "bad format")


def placeholder_in(value: str) -> str | None:
    found = [marker for marker in PLACEHOLDERS if marker.lower() in value.lower()]
    return f"placeholder {found[0]!r} left in" if found else None


def check_email_list(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "wrong type"
    return next((problem for item in value if (problem := check_email(item))), None)


def check_smarthost(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    if found := placeholder_in(value):
        return found
    if not HOST_PORT.fullmatch(value):
        return "bad format"
    if not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        return "port out of range"
    return placeholder_in(value)


def check_flags(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(flag, str) for flag in value):
        return "wrong type"
    return None if all(FLAG.fullmatch(flag) for flag in value) else "bad format"


def check_optional_path(value: Any) -> str | None:
    return None if value is None or (isinstance(value, str) and value) else "wrong type"


def check_domain(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    if found := placeholder_in(value):
        return found
    return None if HOSTNAME.fullmatch(value) and "." in value else "bad format"


def check_https_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    return None if HTTPS_URL.fullmatch(value) else "bad format"


FIREWALL_RULE_KEYS = {"port", "proto", "source", "comment"}


def is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def check_firewall_rules(value: Any) -> str | None:
    if not isinstance(value, list):
        return "wrong type"
    for rule in value:
        if not isinstance(rule, dict) or "port" not in rule:
            return f"{rule!r} is not a dict with a port"
        unknown = set(rule) - FIREWALL_RULE_KEYS
        if unknown:
            return f"{rule!r} has unknown key {sorted(unknown)[0]!r}"
        port = rule["port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            return f"{rule!r}: port must be 1-65535"
        if rule.get("proto", "tcp") not in ("tcp", "udp"):
            return f"{rule!r}: proto must be tcp or udp"
        if rule.get("source") is not None and not is_network(rule["source"]):
            return f"{rule!r}: source must be an address or network such as 198.51.100.0/24"
        comment = rule.get("comment", "")
        if not isinstance(comment, str) or not FIREWALL_COMMENT.fullmatch(comment):
            return (
                f"{rule!r}: comment must be at most 100 letters, digits, spaces and _ . , : / "
                "( ) + -"
            )
    return None


def is_address(text: str) -> bool:
    """``host:port`` (a DNS name or IPv4 address) or ``[IPv6]:port``."""
    host, _, port = text.rpartition(":")
    if not re.fullmatch(r"\d{1,5}", port) or not 1 <= int(port) <= 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    return bool(HOSTNAME.fullmatch(host))


def check_host_address(value: Any) -> str | None:
    """None for one usable IP address (a /32 or /128 network counts as one)."""
    if not isinstance(value, str):
        return "wrong type"
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "bad format"
    if network.num_addresses != 1:
        return f"{value} is a network of {network.num_addresses} addresses, not one host"
    if network.network_address.is_unspecified or network.network_address.is_multicast:
        return f"{value} is not the address of a host"
    return None


def check_release_target(value: Any) -> str | None:
    def is_release(text: Any) -> bool:
        return isinstance(text, str) and (text == "previous" or bool(RELEASE_ID.fullmatch(text)))

    if isinstance(value, dict):
        return None if all(is_release(item) for item in value.values()) else "bad format"
    return None if is_release(value) else "bad format"


# What detection may hand the deploy for a pool: what operations.fpm_pools reads from a host.
# A PHP version as Debian names its FPM (php-fpm8.4), and a pool name that is safe in a
# path, a label and a file_sd file.
PHP_VERSION = re.compile(r"\d{1,2}\.\d{1,2}")
SAFE_POOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
POOL_ENTRY = {"php": PHP_VERSION, "pool": SAFE_POOL_NAME}


def is_pool_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pool, dict)
        and set(pool) == set(POOL_ENTRY)
        and all(isinstance(pool[k], str) and POOL_ENTRY[k].fullmatch(pool[k]) for k in pool)
        for pool in value
    )


def check_per_host(value: Any, entry_ok: Callable[[Any], bool]) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value):
        return "wrong type"
    return None if all(entry_ok(entry) for entry in value.values()) else "bad format"


def instance_label(host_name: str) -> str:
    """A host's ``instance`` label: its inventory name without a pyinfra connector's
    ``@connector/`` prefix (``@docker/web1`` is ``web1``)."""
    connector, _, name = host_name.partition("/")
    return name if connector.startswith("@") and name else host_name


PORT = int_range(1, 65535, "a TCP port number 1-65535")
DURATION_FIELD = matching(DURATION, "a Prometheus duration such as 30s, 5m, 15d")
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """Seconds in a duration that matches ``DURATION``, such as ``1h30m``."""
    return sum(
        int(number) * DURATION_UNITS[unit]
        for number, unit in re.findall(r"(\d+)(ms|[smhdwy])", text)
    )


def duration_at_least(seconds: float, expected: str) -> Field:
    """A Prometheus duration of at least ``seconds``."""

    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not DURATION.fullmatch(value):
            return "bad format"
        return None if duration_seconds(value) >= seconds else "too short"

    return Field(check, expected)


VERSION_FIELD = matching(VERSION, "a version such as 2.53.3 (no leading v)")
SHA256_FIELD = matching(SHA256, "64 lowercase hex characters (sha256 of the release archive)")


@dataclass(frozen=True)
class Section:
    """A dict-valued key: every field must be present (group data replaces whole keys).

    In a ``partial`` section fields may be left out (``releases``: a host needs the pins of
    what it runs).
    """

    fields: Mapping[str, Field | Section]
    partial: bool = False
    optional: bool = False  # None stands for "not used"


RELEASE = Section({"version": VERSION_FIELD, "sha256": SHA256_FIELD})
BUILD_FIELD = matching(
    re.compile(r"[0-9]{1,20}"), "the release's build number in its archive's name, e.g. 36482603486"
)
# A release whose archive's name carries a build number (Grafana's).
RELEASE_WITH_BUILD = Section({**RELEASE.fields, "build": BUILD_FIELD})


def number(low: float, high: float, expected: str) -> Field:
    def check(value: Any) -> str | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "wrong type"
        return None if low <= value <= high else "out of range"

    return Field(check, expected)


PERCENT = number(0, 100, "a percentage between 0 and 100")
