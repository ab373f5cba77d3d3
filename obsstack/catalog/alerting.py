"""What Alertmanager's settings may hold: receivers, the routing tree, inhibitions, time
intervals and the heartbeat, each checked in full before any host is touched.

Receivers are named; each has a ``type`` (``RECEIVER_TYPES``) and the fields of that type.
A receiver's credential (a webhook URL, a routing key, a bot token) is never a setting: it
is the secret ``alertmanager_receiver_<name>``, written to a file Alertmanager reads
through the type's ``*_file`` field. The receiver ``email`` mails the recipients of
``alertmanager_email``. Matchers are Alertmanager's: ``label="value"``, ``=~``, ``!=``,
``!~``, the value in double quotes.

Example::

    >>> from obsstack.catalog.alerting import check_receivers, check_routes
    >>> check_receivers({"chat": {"type": "slack", "channel": "#alerts"}}) is None
    True
    >>> check_receivers({"chat": {"type": "sms"}}).split(" (")[0]
    "receiver 'chat': unknown type 'sms'"
    >>> check_routes([{"receiver": "chat", "matchers": ["severity=critical"]}]).split(" (")[0]
    "route 1: bad matcher 'severity=critical'"
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from obsstack.fields import DURATION, EMAIL, LABEL_NAME

RECEIVER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# A Slack channel or user: #channel or @user, as Slack names them.
SLACK_CHANNEL = re.compile(r"[#@][a-z0-9][a-z0-9._-]{0,79}")
# The receiver that drops what it gets, and the one that mails alertmanager_email's list.
NOWHERE = "blackhole"
EMAIL_RECEIVER = "email"
RESERVED_NAMES = (NOWHERE, EMAIL_RECEIVER)


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _emails(value: Any) -> str | None:
    if (
        isinstance(value, list)
        and value
        and all(isinstance(item, str) and EMAIL.fullmatch(item) for item in value)
    ):
        return None
    return "a non-empty list of e-mail addresses"


def _channel(value: Any) -> str | None:
    if isinstance(value, str) and SLACK_CHANNEL.fullmatch(value):
        return None
    return "a channel such as #alerts or a user such as @alice"


def _chat_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value != 0:
        return None
    return "the chat's numeric ID, such as -1001234567890"


def _max_alerts(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000:
        return None
    return "the most alerts in one payload, 0 for all"


ReceiverCheck = Callable[[Any], str | None]
# The fields of each receiver type besides ``type`` and ``send_resolved``: (required,
# check). Every type but e-mail also has its secret (README: Alerting says which).
RECEIVER_TYPES: dict[str, dict[str, tuple[bool, ReceiverCheck]]] = {
    "email": {"to": (True, _emails)},
    "webhook": {"max_alerts": (False, _max_alerts)},
    "slack": {"channel": (False, _channel)},
    "pagerduty": {},
    "teams": {},
    "telegram": {"chat_id": (True, _chat_id)},
    "discord": {},
}


def has_secret(receiver: Any) -> bool:
    """Whether a receiver's settings call for its secret (every type but e-mail)."""
    kind = receiver.get("type") if isinstance(receiver, Mapping) else None
    return kind in RECEIVER_TYPES and kind != EMAIL_RECEIVER


def check_receivers(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "wrong type"
    for name, receiver in value.items():
        if not isinstance(name, str) or not RECEIVER_NAME.fullmatch(name):
            return f"bad receiver name {name!r} (lowercase letters, digits, _ and -)"
        if name in RESERVED_NAMES:
            return f"receiver name {name!r} is taken by the stack ({', '.join(RESERVED_NAMES)})"
        if problem := _receiver_problem(receiver):
            return f"receiver {name!r}: {problem}"
    return None


def _receiver_problem(receiver: Any) -> str | None:
    if not isinstance(receiver, dict) or "type" not in receiver:
        return "needs a dict with a type"
    kind = receiver["type"]
    if kind not in RECEIVER_TYPES:
        return f"unknown type {kind!r} (one of {', '.join(RECEIVER_TYPES)})"
    fields = RECEIVER_TYPES[kind]
    for key, item in receiver.items():
        if key == "type":
            continue
        if key == "send_resolved":
            problem = _is_bool(item)
        elif key in fields:
            problem = fields[key][1](item)
        else:
            allowed = ", ".join(["type", *fields, "send_resolved"])
            return f"unknown key {key!r} for type {kind} (allowed: {allowed})"
        if problem:
            return f"{key} = {item!r}: expected {problem}"
    missing = [key for key, (required, _) in fields.items() if required and key not in receiver]
    return f"type {kind} needs {', '.join(missing)}" if missing else None


def matcher_problem(text: Any) -> str | None:
    """None for one of Alertmanager's matchers whose regex (if any) compiles."""
    match = MATCHER.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return f'bad matcher {text!r} (expected label="value", with =, !=, =~ or !~)'
    if match.group(2) in ("=~", "!~"):
        try:
            re.compile(match.group(3))
        except re.error as error:
            return f"bad regular expression in matcher {text!r}: {error}"
    return None


def _matchers_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return "matchers must be a list of strings such as 'severity=\"critical\"'"
    return next((problem for item in value if (problem := matcher_problem(item))), None)


def _label_list_problem(value: Any, what: str) -> str | None:
    if isinstance(value, list) and all(
        isinstance(item, str) and LABEL_NAME.fullmatch(item) for item in value
    ):
        return None
    return f"{what} must be a list of label names such as ['alertname', 'instance']"


def _group_by_problem(value: Any) -> str | None:
    return None if value == ["..."] else _label_list_problem(value, "group_by")


ROUTE_DURATIONS = ("group_wait", "group_interval", "repeat_interval")
ROUTE_KEYS = (
    "receiver",
    "matchers",
    "group_by",
    "continue",
    *ROUTE_DURATIONS,
    "mute_time_intervals",
    "active_time_intervals",
    "routes",
)
MAX_ROUTE_DEPTH = 4


def check_routes(value: Any, where: str = "route", depth: int = 1) -> str | None:
    if not isinstance(value, list):
        return "wrong type"
    if depth > MAX_ROUTE_DEPTH:
        return f"{where}: routes nest at most {MAX_ROUTE_DEPTH} deep"
    for number, route in enumerate(value, 1):
        here = f"{where} {number}"
        if not isinstance(route, dict) or not isinstance(route.get("receiver"), str):
            return f"{here}: needs a dict with a receiver"
        for key, item in route.items():
            problem = _route_key_problem(key, item, here, depth)
            if problem:
                return f"{here}: {problem}" if not problem.startswith(here) else problem
    return None


def _route_key_problem(key: str, item: Any, here: str, depth: int) -> str | None:
    if key == "receiver":
        return None
    if key == "matchers":
        return _matchers_problem(item)
    if key == "group_by":
        return _group_by_problem(item)
    if key == "continue":
        return None if isinstance(item, bool) else "continue must be True or False"
    if key in ROUTE_DURATIONS:
        ok = isinstance(item, str) and DURATION.fullmatch(item)
        return None if ok else f"{key} must be a duration such as 30s, 5m, 4h"
    if key in ("mute_time_intervals", "active_time_intervals"):
        names_ok = isinstance(item, list) and all(isinstance(name, str) for name in item)
        return None if names_ok else f"{key} must be a list of time interval names"
    if key == "routes":
        return check_routes(item, f"{here}.route", depth + 1)
    return f"unknown key {key!r} (allowed: {', '.join(ROUTE_KEYS)})"


WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _range_problem(value: Any, what: str, one: Callable[[str], int | None]) -> str | None:
    """None when ``value`` is a list of items or ``first:last`` ranges ``one`` reads."""
    if not isinstance(value, list) or not value:
        return f"{what} must be a non-empty list"
    for item in value:
        parts = str(item).split(":") if isinstance(item, (str, int)) else []
        numbers = [one(part) for part in parts]
        if not 1 <= len(parts) <= 2 or None in numbers:
            return f"bad {what} entry {item!r}"
        if len(numbers) == 2 and numbers[0] > numbers[1]:  # type: ignore[operator]
            return f"{what} range {item!r} ends before it starts"
    return None


def _weekday(text: str) -> int | None:
    return WEEKDAYS.index(text) if text in WEEKDAYS else None


def _month(text: str) -> int | None:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    return int(text) if text.isdigit() and 1 <= int(text) <= 12 else None


def _day_of_month(text: str) -> int | None:
    number = int(text) if re.fullmatch(r"-?\d{1,2}", text) else 0
    return number if 1 <= abs(number) <= 31 else None


def _year(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{4}", text) else None


@cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _times_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "times must be a non-empty list of {start_time: 'HH:MM', end_time: 'HH:MM'}"
    for span in value:
        if (
            not isinstance(span, dict)
            or set(span) != {"start_time", "end_time"}
            or not all(isinstance(t, str) and CLOCK.fullmatch(t) for t in span.values())
        ):
            return f"bad times entry {span!r} (expected {{start_time: '09:00', end_time: '17:00'}})"
        if _minutes(span["start_time"]) >= _minutes(span["end_time"]):
            return f"times entry {span!r} ends before it starts"
    return None


def _location_problem(value: Any) -> str | None:
    if isinstance(value, str) and (value in ("UTC", "Local") or value in time_zones()):
        return None
    return f"bad location {value!r} (a time zone such as Europe/Berlin)"


TIME_INTERVAL_KEYS: dict[str, Callable[[Any], str | None]] = {
    "times": _times_problem,
    "weekdays": lambda v: _range_problem(v, "weekdays", _weekday),
    "days_of_month": lambda v: _range_problem(v, "days_of_month", _day_of_month),
    "months": lambda v: _range_problem(v, "months", _month),
    "years": lambda v: _range_problem(v, "years", _year),
    "location": _location_problem,
}


def check_time_intervals(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "wrong type"
    for name, spans in value.items():
        if not isinstance(name, str) or not RECEIVER_NAME.fullmatch(name):
            return f"bad time interval name {name!r} (lowercase letters, digits, _ and -)"
        if not isinstance(spans, list) or not spans:
            return f"time interval {name!r} needs a non-empty list of periods"
        for span in spans:
            if not isinstance(span, dict) or not span:
                return f"time interval {name!r}: each period is a non-empty dict"
            for key, item in span.items():
                if key not in TIME_INTERVAL_KEYS:
                    allowed = ", ".join(TIME_INTERVAL_KEYS)
                    return f"time interval {name!r}: unknown key {key!r} (allowed: {allowed})"
                if problem := TIME_INTERVAL_KEYS[key](item):
                    return f"time interval {name!r}: {problem}"
    return None


def check_inhibit_rules(value: Any) -> str | None:
    if not isinstance(value, list):
        return "wrong type"
    for number, rule in enumerate(value, 1):
        if not isinstance(rule, dict) or not {"source_matchers", "target_matchers"} <= set(rule):
            return f"inhibit rule {number}: needs source_matchers and target_matchers"
        unknown = set(rule) - {"source_matchers", "target_matchers", "equal"}
        if unknown:
            return f"inhibit rule {number}: unknown key {sorted(unknown)[0]!r}"
        problem = (
            _matchers_problem(rule["source_matchers"])
            or _matchers_problem(rule["target_matchers"])
            or (_label_list_problem(rule["equal"], "equal") if "equal" in rule else None)
        )
        if problem:
            return f"inhibit rule {number}: {problem}"
    return None


def check_heartbeat(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"receiver", "interval"}:
        return "wrong type"
    if not isinstance(value["receiver"], str):
        return "receiver must be a receiver's name"
    if not isinstance(value["interval"], str) or not DURATION.fullmatch(value["interval"]):
        return "interval must be a duration such as 1m"
    return None


# The inhibitions a team wants from the start: a target that is down silences its host's
# other alerts (they follow from it), and a critical alert the warning of the same alert.
DEFAULT_INHIBIT_RULES = [
    {
        "source_matchers": ['alertname="InstanceDown"'],
        "target_matchers": ['alertname!~"InstanceDown|Watchdog"'],
        "equal": ["instance"],
    },
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "instance"],
    },
]


def _routes_in(routes: Any) -> list[dict]:
    """Every route of a tree, depth first."""
    found = []
    for route in routes if isinstance(routes, list) else ():
        found.append(route)
        found += _routes_in(route.get("routes"))
    return found


def alerting_problems(data: Mapping[str, Any]) -> list[str]:
    """Problems between Alertmanager's settings: names that must refer to each other."""
    if "alertmanager_email" not in data:  # not an observability server's data
        return []
    receivers = dict(data.get("alertmanager_receivers") or {})
    email = data.get("alertmanager_email")
    known = [*receivers, *([EMAIL_RECEIVER] if email else [])]
    intervals = set(data.get("alertmanager_time_intervals") or {})
    problems = []

    def unknown_receiver(key: str, name: Any) -> str:
        if name == EMAIL_RECEIVER and not email:
            return (
                f"{key} = {name!r}: the receiver 'email' needs alertmanager_email (the relay "
                "and the recipients)"
            )
        return (
            f"{key} = {name!r}: no such receiver; expected one of alertmanager_receivers "
            f"({', '.join(known) or 'none defined'})"
        )

    default = data.get("alertmanager_default_receiver")
    if default not in known:
        problems.append(unknown_receiver("alertmanager_default_receiver", default))
    for route in _routes_in(data.get("alertmanager_routes")):
        if route["receiver"] not in known:
            problems.append(unknown_receiver("alertmanager_routes: receiver", route["receiver"]))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for name in route.get(key, []):
                if name not in intervals:
                    problems.append(
                        f"alertmanager_routes: {key} names {name!r}, which is not in "
                        f"alertmanager_time_intervals ({', '.join(sorted(intervals)) or 'empty'})"
                    )
    for name, receiver in receivers.items():
        if receiver["type"] == "email" and not email:
            problems.append(
                f"alertmanager_receivers.{name}: an e-mail receiver needs the relay of "
                "alertmanager_email"
            )
    heartbeat = data.get("alertmanager_heartbeat")
    if heartbeat:
        target = receivers.get(heartbeat["receiver"])
        if not target or target["type"] != "webhook":
            problems.append(
                f"alertmanager_heartbeat.receiver = {heartbeat['receiver']!r}: expected the "
                "name of a webhook receiver (its URL is the heartbeat service's)"
            )
    return problems
