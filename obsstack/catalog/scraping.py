"""What Prometheus' own additions may hold: the user's scrape jobs, remote-write endpoints
and external labels, each checked in full before any host is touched.

A job or endpoint that logs in names only its user (``auth``); its password or bearer token
is the secret ``prometheus_scrape_<job>`` or ``prometheus_remote_write_<name>``, written to
a file Prometheus reads (``password_file``, ``credentials_file``). Relabeling rules are
Prometheus' own, checked here for their keys and forms and by promtool on the server.

Example::

    >>> from obsstack.catalog.scraping import check_scrape_jobs
    >>> check_scrape_jobs([{"job": "app", "static_targets": ["10.0.0.5:8080"]}]) is None
    True
    >>> check_scrape_jobs([{"job": "app", "static_targets": ["10.0.0.5"]}])
    "job 'app': static_targets: '10.0.0.5' is not host:port"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from obsstack.fields import (
    DURATION,
    HOSTNAME,
    HTTP_URL,
    LABEL_NAME,
    check_optional_path,
    is_address,
)

Check = Callable[[Any], str | None]
JOB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
ENDPOINT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
METRICS_PATH = re.compile(r"/[A-Za-z0-9._~!$&()*+;=:@%/-]*")
# A relabeling target_label may use the regex's groups ($1, ${name}).
TARGET_LABEL = re.compile(r"[A-Za-z_$][A-Za-z0-9_${}]*")
RELABEL_ACTIONS = (
    "replace", "keep", "drop", "keepequal", "dropequal", "hashmod",
    "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
)  # fmt: skip
AUTH_TYPES = ("basic", "bearer")


def _labels_problem(value: Any, what: str) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and LABEL_NAME.fullmatch(k) and isinstance(v, str)
        for k, v in value.items()
    ):
        return f"{what} must be a dict of label names to strings"
    reserved = [name for name in value if name.startswith("__")]
    return f"{what}: {reserved[0]!r} is reserved (labels starting with __)" if reserved else None


def _relabel_problem(value: Any, what: str) -> str | None:
    if not isinstance(value, list):
        return f"{what} must be a list of relabeling rules"
    for number, rule in enumerate(value, 1):
        here = f"{what} {number}"
        if not isinstance(rule, dict):
            return f"{here} is not a dict"
        if problem := keys_problem(rule, RELABEL_KEYS):
            return f"{here}: {problem}"
    return None


def keys_problem(item: Mapping[str, Any], checks: Mapping[str, Check], named: str = "") -> str:
    """The first problem of ``item``'s keys by their ``checks``, or "" (``named``: the key
    that names the item, which its caller checks)."""
    for key, value in item.items():
        if key == named:
            continue
        if key not in checks:
            allowed = ", ".join([named, *checks] if named else checks)
            return f"unknown key {key!r} (allowed: {allowed})"
        if problem := checks[key](value):
            return problem
    return ""


def named_items_problem(
    value: Any,
    named: str,
    pattern: re.Pattern,
    what: str,
    checks: Mapping[str, Check],
    required: Callable[[Mapping[str, Any]], str],
) -> str | None:
    """The first problem of a list setting whose items ``named`` names once each (``what``
    they are, ``pattern`` their names' form), ``required`` says what an item lacks, and
    ``checks`` check their other keys."""
    if not isinstance(value, list):
        return "wrong type"
    seen: set[str] = set()
    for item in value:
        name = item.get(named) if isinstance(item, dict) else None
        if not isinstance(name, str) or not pattern.fullmatch(name):
            return f"each {what} needs {NAME_FORMS[what]}: {item!r}"
        if name in seen:
            return f"{what} {name!r} is defined twice"
        seen.add(name)
        if problem := required(item) or keys_problem(item, checks, named):
            return f"{what} {name!r}: {problem}"
    return None


NAME_FORMS = {
    "job": "a job name (letters, digits, _ and -)",
    "endpoint": "a name (lowercase letters, digits, _ and -)",
}


def _regex_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "regex must be a string"
    try:
        re.compile(value)
    except re.error as error:
        return f"bad regex {value!r}: {error}"
    return None


RELABEL_KEYS: dict[str, Check] = {
    "source_labels": lambda v: (
        None
        if isinstance(v, list) and all(isinstance(n, str) and LABEL_NAME.fullmatch(n) for n in v)
        else "source_labels must be a list of label names"
    ),
    "separator": lambda v: None if isinstance(v, str) else "separator must be a string",
    "regex": _regex_problem,
    "target_label": lambda v: (
        None
        if isinstance(v, str) and TARGET_LABEL.fullmatch(v)
        else "target_label must be a label name (or use $1, ${name})"
    ),
    "replacement": lambda v: None if isinstance(v, str) else "replacement must be a string",
    "action": lambda v: (
        None if v in RELABEL_ACTIONS else f"action must be one of {', '.join(RELABEL_ACTIONS)}"
    ),
    "modulus": lambda v: (
        None if isinstance(v, int) and not isinstance(v, bool) and v > 0 else "modulus > 0"
    ),
}


def _auth_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in AUTH_TYPES:
        return "auth must be {'type': 'basic', 'username': NAME} or {'type': 'bearer'}"
    if value["type"] == "basic":
        username = value.get("username")
        if set(value) != {"type", "username"} or not isinstance(username, str) or not username:
            return "basic auth needs exactly a username (the password is a secret)"
    elif set(value) != {"type"}:
        return "bearer auth takes no other key (the token is a secret)"
    return None


def _tls_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "tls must be a dict of ca_file, server_name, insecure_skip_verify"
    for key, item in value.items():
        if key == "ca_file":
            problem = check_optional_path(item) and "ca_file must be a controller path"
        elif key == "server_name":
            problem = (
                None
                if isinstance(item, str) and HOSTNAME.fullmatch(item)
                else ("server_name must be a host name")
            )
        elif key == "insecure_skip_verify":
            problem = None if isinstance(item, bool) else "insecure_skip_verify: True or False"
        else:
            allowed = "ca_file, server_name, insecure_skip_verify"
            problem = f"tls: unknown key {key!r} (allowed: {allowed})"
        if problem:
            return problem
    return None


def _duration(key: str) -> Check:
    return lambda v: (
        None if isinstance(v, str) and DURATION.fullmatch(v) else f"{key} must be a duration"
    )


def _targets_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "static_targets must be a non-empty list of host:port"
    for target in value:
        if not isinstance(target, str) or not is_address(target):
            return f"static_targets: {target!r} is not host:port"
    return None


SCRAPE_JOB_KEYS: dict[str, Check] = {
    "static_targets": _targets_problem,
    "file_sd": lambda v: (
        None if isinstance(v, str) and v else "file_sd must be a controller path to a targets file"
    ),
    "labels": lambda v: _labels_problem(v, "labels"),
    "scheme": lambda v: None if v in ("http", "https") else "scheme must be http or https",
    "metrics_path": lambda v: (
        None if isinstance(v, str) and METRICS_PATH.fullmatch(v) else "metrics_path: a URL path"
    ),
    "scrape_interval": _duration("scrape_interval"),
    "scrape_timeout": _duration("scrape_timeout"),
    "honor_labels": lambda v: None if isinstance(v, bool) else "honor_labels: True or False",
    "auth": _auth_problem,
    "tls": _tls_problem,
    "relabel_configs": lambda v: _relabel_problem(v, "relabel_configs"),
    "metric_relabel_configs": lambda v: _relabel_problem(v, "metric_relabel_configs"),
}


def check_scrape_jobs(value: Any) -> str | None:
    return named_items_problem(
        value,
        "job",
        JOB_NAME,
        "job",
        SCRAPE_JOB_KEYS,
        lambda job: (
            ""
            if {"static_targets", "file_sd"} & set(job)
            else "needs static_targets or file_sd (or both)"
        ),
    )


def _positive(key: str) -> Check:
    return lambda v: (
        None
        if isinstance(v, int) and not isinstance(v, bool) and v > 0
        else f"{key} must be a positive number"
    )


QUEUE_KEYS: dict[str, Check] = {
    **{key: _positive(key) for key in ("capacity", "max_shards", "min_shards")},
    "max_samples_per_send": _positive("max_samples_per_send"),
    **{key: _duration(key) for key in ("batch_send_deadline", "min_backoff", "max_backoff")},
}


def _queue_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "queue must be a dict"
    problem = keys_problem(value, QUEUE_KEYS)
    return f"queue: {problem}" if problem else None


REMOTE_WRITE_KEYS: dict[str, Check] = {
    "url": lambda v: (
        None
        if isinstance(v, str) and HTTP_URL.fullmatch(v)
        else f"url {v!r} is not an http(s) URL such as https://vm.example.net/api/v1/write"
    ),
    "auth": _auth_problem,
    "tls": _tls_problem,
    "queue": _queue_problem,
    "remote_timeout": _duration("remote_timeout"),
    "write_relabel_configs": lambda v: _relabel_problem(v, "write_relabel_configs"),
}


def check_remote_write(value: Any) -> str | None:
    return named_items_problem(
        value,
        "name",
        ENDPOINT_NAME,
        "endpoint",
        REMOTE_WRITE_KEYS,
        lambda endpoint: "" if "url" in endpoint else "needs a url",
    )


def check_external_labels(value: Any) -> str | None:
    if problem := _labels_problem(value, "external labels"):
        return problem
    if "env" in value:
        return "'env' is the environment setting's; name another label"
    return None


def logs_in(item: Any) -> bool:
    """Whether a job's or an endpoint's settings call for its secret."""
    return isinstance(item, Mapping) and bool(item.get("auth"))


class TargetsFileError(ValueError):
    """A file_sd file that is not a list of target groups."""


def user_target_groups(text: str) -> list[dict[str, Any]]:
    """The target groups of a user's file_sd file (YAML or JSON), each checked: a non-empty
    list of host:port targets and labels of strings."""
    try:
        groups = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TargetsFileError(f"not YAML: {error}") from error
    if not isinstance(groups, list):
        raise TargetsFileError("not a list of target groups")
    checked = []
    for group in groups:
        if not isinstance(group, dict) or not set(group) <= {"targets", "labels"}:
            raise TargetsFileError(f"{group!r} is not a group of targets and labels")
        if problem := _targets_problem(group.get("targets")):
            raise TargetsFileError(problem.replace("static_targets", "targets"))
        labels = group.get("labels", {})
        if problem := _labels_problem(labels, "labels"):
            raise TargetsFileError(problem)
        checked.append({"targets": list(group["targets"]), "labels": dict(labels)})
    return checked


def scraping_problems(data: Mapping[str, Any], own_jobs: frozenset[str]) -> list[str]:
    """A user job named like one of ours, and file_sd files that are missing or not target
    groups: read on the controller, before any host is touched."""
    from obsstack.inventory import repo_path

    problems = []
    for job in data.get("prometheus_scrape_jobs") or []:
        if job["job"] in own_jobs:
            problems.append(
                f"prometheus_scrape_jobs: job {job['job']!r} is one of the stack's own jobs "
                f"({', '.join(sorted(own_jobs))}); name it differently"
            )
        if "file_sd" in job:
            path = repo_path(job["file_sd"])
            try:
                user_target_groups(path.read_text())
            except (OSError, TargetsFileError) as error:
                problems.append(
                    f"prometheus_scrape_jobs: job {job['job']!r}: file_sd {path}: {error}; "
                    "expected a YAML list of {targets: [host:port, ...], labels: {...}}"
                )
    return problems
