"""The schema of group and host data, checked before any host is touched.

Each key in ``group_data/*.py`` and in inventory host data is checked against ``SCHEMA``:
unknown keys (with a "did you mean"), wrong types, bad durations, ports, versions, sha256
values, e-mail addresses and placeholders left in. An error names the file, the key, the bad
value and what is expected.

Example::

    from obsstack.settings import check_group_data_dir
    check_group_data(Path("group_data"), Path("inventories/lab.py"))  # raises SettingsError
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from obsstack.catalog import AGENT_NEEDS, AGENTS, PROXY_LOCATIONS, RELEASE_ARCHIVES, running
from obsstack.serialize import CONTROL_CHARACTER

Check = Callable[[Any], str | None]

# Every pattern is matched against the whole value (fullmatch): "$" would let a trailing
# line break through into the file the value is written to.
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
VERSION = re.compile(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")
SHA256 = re.compile(r"[0-9a-f]{64}")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$)({LABEL}\.)*{LABEL}")
# A host's name in an inventory: it becomes the instance label of its metrics and alerts.
INVENTORY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")


def instance_label(host_name: str) -> str:
    """A host's ``instance`` label: its inventory name without a pyinfra connector's
    ``@connector/`` prefix (``@docker/web1`` is ``web1``)."""
    connector, _, name = host_name.partition("/")
    return name if connector.startswith("@") and name else host_name

# A plain address: no quotes, commas, backslashes or spaces that a mail header, a YAML
# scalar or Alertmanager's address parser could read as a second recipient.
EMAIL = re.compile(rf"[A-Za-z0-9._%+-]{{1,64}}@({LABEL}\.)+{LABEL}")
HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")
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
# Keys pyinfra itself reads from host data (connection settings, global arguments).
PYINFRA_KEY_PREFIXES = (
    "ssh_", "_", "winrm_", "docker_", "local_", "chroot_", "terraform_", "fake_"
)


DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``1h30m`` or ``15s``."""
    if not DURATION.fullmatch(text):
        raise SettingsError(f"{text!r} is not a Prometheus duration such as 30s, 5m, 15d")
    return sum(
        int(number) * DURATION_UNITS[unit]
        for number, unit in re.findall(r"(\d+)(ms|[smhdwy])", text)
    )


class SettingsError(Exception):
    """Bad input data; the message lists every problem found."""


@dataclass(frozen=True)
class Field:
    check: Check
    expected: str


def _is(kind: type | tuple[type, ...], expected: str) -> Field:
    return Field(lambda value: None if isinstance(value, kind) else "wrong type", expected)


def _match(pattern: re.Pattern, expected: str) -> Field:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and pattern.fullmatch(value) else "bad format"

    return Field(check, expected)


def _int_range(low: int, high: int, expected: str) -> Field:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "wrong type"
        return None if low <= value <= high else "out of range"

    return Field(check, expected)


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    return _placeholder(value) or (None if EMAIL.fullmatch(value) else "bad format")


def _placeholder(value: str) -> str | None:
    found = [marker for marker in PLACEHOLDERS if marker.lower() in value.lower()]
    return f"placeholder {found[0]!r} left in" if found else None


def _email_list(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "wrong type"
    return next((problem for item in value if (problem := _email(item))), None)


def _smarthost(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    if placeholder := _placeholder(value):
        return placeholder
    if not HOST_PORT.fullmatch(value):
        return "bad format"
    if not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        return "port out of range"
    return _placeholder(value)


def _flags(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(flag, str) for flag in value):
        return "wrong type"
    return None if all(FLAG.fullmatch(flag) for flag in value) else "bad format"


def _optional_path(value: Any) -> str | None:
    return None if value is None or (isinstance(value, str) and value) else "wrong type"


def _domain(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    if placeholder := _placeholder(value):
        return placeholder
    return None if HOSTNAME.fullmatch(value) and "." in value else "bad format"


def _https_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    return None if HTTPS_URL.fullmatch(value) else "bad format"


def _agents(value: Any) -> str | None:
    if value == "auto":
        return None
    if not isinstance(value, list) or not all(isinstance(agent, str) for agent in value):
        return "wrong type"
    unknown = [agent for agent in value if agent not in AGENTS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], AGENTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown agent {unknown[0]!r}{hint}"
    for agent, needed in AGENT_NEEDS.items():
        if agent in value and needed not in value:
            return f"{agent!r} needs {needed!r} in the list too (it serves through it)"
    return None


# What the reverse proxy can let a user do (the locations of the catalog's entries). A
# location's name lets its users read (GET and HEAD, and Prometheus' query endpoints by
# POST); "alertmanager_write" also lets them create and expire silences and post alerts.
# Grafana's and Loki's are accepted before they are deployed, so proxy_users written for
# them stay valid (no location is served for them yet).
PLANNED_PROXY_LOCATIONS = ("grafana", "loki")
PROXY_LOCATION_NAMES = (*(location.name for location in PROXY_LOCATIONS), *PLANNED_PROXY_LOCATIONS)
PROXY_WRITE_PERMISSIONS = {
    location.write_permission: location.name
    for location in PROXY_LOCATIONS
    if location.write_permission
}
PROXY_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
PROXY_PERMISSIONS = (*PROXY_LOCATION_NAMES, *PROXY_WRITE_PERMISSIONS)


def _proxy_users(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "wrong type"
    for user, permissions in value.items():
        if not isinstance(user, str) or not PROXY_USER.fullmatch(user):
            return f"bad user name {user!r}"
        if not isinstance(permissions, list) or not permissions:
            return f"user {user!r} needs a non-empty list of locations"
        unknown = [item for item in permissions if item not in PROXY_PERMISSIONS]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), PROXY_PERMISSIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"user {user!r} has unknown location {unknown[0]!r}{hint}"
        for permission, needed in PROXY_WRITE_PERMISSIONS.items():
            if permission in permissions and needed not in permissions:
                return f"user {user!r}: {permission!r} needs {needed!r} in the list too"
    return None


FIREWALL_RULE_KEYS = {"port", "proto", "source", "comment"}


def _network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


def _firewall_rules(value: Any) -> str | None:
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
        if rule.get("source") is not None and not _network(rule["source"]):
            return f"{rule!r}: source must be an address or network such as 198.51.100.0/24"
        comment = rule.get("comment", "")
        if not isinstance(comment, str) or not FIREWALL_COMMENT.fullmatch(comment):
            return (
                f"{rule!r}: comment must be at most 100 letters, digits, spaces and _ . , : / "
                "( ) + -"
            )
    return None


def _host_address(value: Any) -> str | None:
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


def _release_target(value: Any) -> str | None:
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


def _pool_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pool, dict)
        and set(pool) == set(POOL_ENTRY)
        and all(isinstance(pool[k], str) and POOL_ENTRY[k].fullmatch(pool[k]) for k in pool)
        for pool in value
    )


def _per_host(value: Any, entry_ok: Callable[[Any], bool]) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value):
        return "wrong type"
    return None if all(entry_ok(entry) for entry in value.values()) else "bad format"


PORT = _int_range(1, 65535, "a TCP port number 1-65535")
DURATION_FIELD = _match(DURATION, "a Prometheus duration such as 30s, 5m, 15d")
VERSION_FIELD = _match(VERSION, "a version such as 2.53.3 (no leading v)")
SHA256_FIELD = _match(SHA256, "64 lowercase hex characters (sha256 of the release archive)")


@dataclass(frozen=True)
class Section:
    """A dict-valued key: every field must be present (group data replaces whole keys).

    In a ``partial`` section fields may be left out: ``missing_keys`` asks each host for
    those its roles need.
    """

    fields: Mapping[str, Field | Section]
    partial: bool = False


RELEASE = Section({"version": VERSION_FIELD, "sha256": SHA256_FIELD})

ALERTMANAGER_EMAIL = Section(
    {
        "smarthost": Field(_smarthost, "the SMTP relay as host:port, e.g. smtp.mailgun.org:587"),
        "sender": Field(_email, "the From address, e.g. alerts@yourdomain.tld"),
        "recipients": Field(_email_list, "a non-empty list of e-mail addresses"),
        "auth_username": Field(
            lambda v: None if v is None or (isinstance(v, str) and v) else "wrong type",
            "the SMTP login name, or None for a relay without authentication",
        ),
        "require_tls": _is(bool, "True or False (STARTTLS required)"),
        "ca_file": Field(_optional_path, "a controller path to the relay's CA bundle, or None"),
    }
)


def _number(low: float, high: float, expected: str) -> Field:
    def check(value: Any) -> str | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "wrong type"
        return None if low <= value <= high else "out of range"

    return Field(check, expected)


PERCENT = _number(0, 100, "a percentage between 0 and 100")
ALERT_RULES = Section(
    {
        "instance_down_for": DURATION_FIELD,
        "filesystem_free_critical_percent": PERCENT,
        "filesystem_almost_full_for": DURATION_FIELD,
        "filesystem_free_warning_percent": PERCENT,
        "filesystem_fill_prediction_hours": _number(1, 24 * 365, "hours ahead, 1 or more"),
        "filesystem_filling_up_for": DURATION_FIELD,
        "memory_available_warning_percent": PERCENT,
        "memory_low_for": DURATION_FIELD,
        "load15_per_cpu_warning": _number(0.1, 1000, "a load per CPU such as 2"),
        "high_load_for": DURATION_FIELD,
        "clock_offset_warning_seconds": _number(0.001, 3600, "seconds such as 0.05"),
        "clock_skew_for": DURATION_FIELD,
        "systemd_unit_failed_for": DURATION_FIELD,
        "nginx_down_for": DURATION_FIELD,
        "nginx_dropped_connections_for": DURATION_FIELD,
        "mysql_down_for": DURATION_FIELD,
        "mysql_connections_warning_percent": PERCENT,
        "mysql_too_many_connections_for": DURATION_FIELD,
        "mysql_replication_stopped_for": DURATION_FIELD,
        "mysql_replication_lag_warning_seconds": _number(1, 7 * 86400, "seconds such as 300"),
        "mysql_replication_lag_for": DURATION_FIELD,
        "php_fpm_max_children_reached_for": DURATION_FIELD,
        "php_fpm_listen_queue_for": DURATION_FIELD,
        "fail2ban_down_for": DURATION_FIELD,
        "fail2ban_metrics_age_warning_seconds": _number(
            60, 7 * 86400, "seconds such as 900 (several runs of the fail2ban metrics timer)"
        ),
        "probe_failed_for": DURATION_FIELD,
        "tls_certificate_expiry_warning_days": _number(1, 365, "days such as 21"),
        "tls_certificate_expiry_critical_days": _number(1, 365, "days such as 7"),
    }
)

SCHEMA: dict[str, Field | Section] = {
    "environment": _match(ENVIRONMENT, "a lowercase name such as production"),
    "artifact_source": Field(
        lambda v: None if isinstance(v, str) and v else "wrong type",
        "'github', an http(s):// mirror URL or a local directory",
    ),
    "artifact_cache_dir": Field(_optional_path, "a controller directory for downloaded archives"),
    "secrets_dir": Field(_optional_path, "a controller directory holding secret files (0700)"),
    "releases": Section({name: RELEASE for name in RELEASE_ARCHIVES}, partial=True),
    "config_backups_kept": _int_range(1, 1000, "how many config backups to keep, 1-1000"),
    "releases_kept": _int_range(2, 1000, "how many releases to keep for rollback, 2-1000"),
    "node_exporter_port": PORT,
    "nginx_exporter_port": PORT,
    "mysqld_exporter_port": PORT,
    "blackbox_exporter_port": PORT,
    "blackbox_targets": Field(
        lambda v: (
            None
            if isinstance(v, list) and all(isinstance(u, str) and HTTP_URL.fullmatch(u) for u in v)
            else "bad format"
        ),
        "a list of http:// or https:// URLs to probe, e.g. ['https://www.yourcompany.tld/']",
    ),
    "blackbox_ca_file": Field(
        _optional_path, "a controller path to a CA bundle the probes trust, or None"
    ),
    "nginx_stub_status_port": PORT,
    "php_fpm_status_port": PORT,
    "prometheus_port": PORT,
    "alertmanager_port": PORT,
    "prometheus_retention_time": DURATION_FIELD,
    "prometheus_retention_size": _match(SIZE, "0 (no limit) or a size such as 10GB"),
    "prometheus_scrape_interval": DURATION_FIELD,
    "prometheus_evaluation_interval": DURATION_FIELD,
    "prometheus_extra_rule_files": Field(
        lambda v: (
            None if isinstance(v, list) and all(isinstance(p, str) for p in v) else "wrong type"
        ),
        "a list of controller paths to extra rule files",
    ),
    "alertmanager_email": ALERTMANAGER_EMAIL,
    "alertmanager_group_wait": DURATION_FIELD,
    "alertmanager_group_interval": DURATION_FIELD,
    "alertmanager_repeat_interval": DURATION_FIELD,
    "alert_rules": ALERT_RULES,
    "domain": Field(_domain, "the server's public DNS name, e.g. monitoring.yourcompany.tld"),
    "acme_email": Field(_email, "the address the ACME CA sends expiry warnings to"),
    "acme_directory_url": Field(
        _https_url, "an https:// ACME directory URL such as Let's Encrypt's production one"
    ),
    "acme_ca_bundle": Field(
        _optional_path, "a controller path to the ACME server's CA bundle, or None"
    ),
    "agents": Field(
        _agents, "'auto' (detect installed services) or a list from " + ", ".join(AGENTS)
    ),
    "detected_agents": Field(
        lambda v: _per_host(v, lambda found: isinstance(found, list) and set(found) <= set(AGENTS)),
        "{host: [agents]} (set by invoke deploy when agents is 'auto')",
    ),
    "php_fpm_pools": Field(
        lambda v: _per_host(v, _pool_list),
        "{host: [{'php': '8.4', 'pool': 'www'}]} (set by invoke deploy for php_fpm hosts)",
    ),
    "firewall_extra_rules": Field(
        _firewall_rules,
        "a list of {'port': 80, 'proto': 'tcp' (or 'udp'), 'source': None (anywhere) or an "
        "address/network, 'comment': '...'} allowed in besides SSH and the scrapes",
    ),
    "scrape_address": Field(
        lambda v: None if v is None else _host_address(v),
        "one IP address such as 203.0.113.7, the address the observability server's scrapes "
        "come from as monitored hosts see it (None: its ssh_hostname); a network would open "
        "the exporters to every address in it",
    ),
    "listen_address": Field(
        lambda v: None if v is None else _host_address(v),
        "one IP address of this host such as 10.0.0.5, where its exporters listen for the "
        "observability server's scrapes (None: the address it is scraped at)",
    ),
    "proxy_users": Field(
        _proxy_users,
        "a dict {user: [locations]}, locations from " + ", ".join(PROXY_LOCATION_NAMES),
    ),
    "health_gate_timeout": DURATION_FIELD,
    "node_exporter_extra_flags": Field(
        _flags, "a list of command-line flags such as ['--collector.processes']"
    ),
    "purge": _is(bool, "True or False (set by invoke uninstall --purge)"),
    "rollback_to": Field(
        _release_target,
        "'previous', a release id such as 20261127T012544Z-1a2b3c4d5e6f (or its run prefix "
        "20261127T012544Z), or {host: release id} (set by invoke rollback)",
    ),
}


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
    "_sudo": _is(bool, "True (log in as ssh_user, become root with passwordless sudo) or False"),
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
    if not isinstance(value, dict):
        keys = ", ".join(field.fields)
        return [f"{source}: {dotted} = {value!r}: wrong type; expected a dict with {keys}"]
    missing = [] if field.partial else [name for name in field.fields if name not in value]
    problems = [f"{source}: {dotted} is missing {', '.join(missing)}"] if missing else []
    for sub_key, sub_value in value.items():
        problems.extend(
            _check_value(field.fields, sub_key, sub_value, source, f"{dotted}.{sub_key}")
        )
    return problems


OPTIONAL_KEYS = frozenset(
    {
        "artifact_cache_dir",
        "prometheus_extra_rule_files",
        "rollback_to",
        "purge",
        "scrape_address",
        "listen_address",
        "detected_agents",
        "php_fpm_pools",
    }
)
OBSERVABILITY_KEYS = frozenset(
    key
    for key in SCHEMA
    if key.startswith(("prometheus_", "alertmanager_", "acme_", "blackbox_"))
    or key in ("domain", "proxy_users")
)


def missing_keys(name: str, groups: set[str], data: Mapping[str, Any]) -> list[str]:
    """Problems for settings a host's roles need but its data lacks."""
    needed = set(SCHEMA) - OPTIONAL_KEYS
    if "observability" not in groups:
        needed -= OBSERVABILITY_KEYS
    missing = sorted(needed - set(data))
    releases = data.get("releases")
    # Pins only for what every host of its roles runs, whatever its settings and agents: a
    # component added to the catalog later does not invalidate a `releases` written before.
    if isinstance(releases, dict):
        missing += [
            f"releases.{component.name}"
            for component in running(groups, {}, agents=())
            if component.archive and component.name not in releases
        ]
    if not missing:
        return []
    return [f"data of host {name}: missing {', '.join(missing)} (group_data/all.py defines them)"]


def raise_for(problems: list[str]) -> None:
    """Raise one SettingsError listing every distinct problem, if there are any."""
    if problems:
        unique = list(dict.fromkeys(problems))
        raise SettingsError("invalid settings:\n  " + "\n  ".join(unique))


def check_host_data(name: str, groups: set[str], data: Mapping[str, Any]) -> None:
    """Check a host's merged data: every key valid, every key its roles need present."""
    raise_for(check_data(data, f"data of host {name}") + missing_keys(name, groups, data))
