"""Prometheus' scrape targets as file_sd target groups, checked before they are written.

Targets come from the inventory, from what detection found on the hosts (PHP-FPM pools),
and, for hosts a run did not look at (outside ``--limit``), from the server's own file_sd
files. Whatever the source, every group is checked here against the exact form this
project writes (address, label names, each label's values) before it goes into a file:
one odd value from a host must not make the whole fleet's scrape config unreadable.

Example::

    >>> from obsstack.targets import checked_group, target_group
    >>> checked_group(target_group("10.0.0.5:9100", {"instance": "web1"}), "node")
    {'targets': ['10.0.0.5:9100'], 'labels': {'instance': 'web1'}}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from obsstack.fields import ENVIRONMENT, POOL_ENTRY, is_address
from obsstack.settings import INVENTORY_NAME

LABEL_VALUES = {
    "instance": INVENTORY_NAME,
    "role": re.compile(r"observability|monitored"),
    "env": ENVIRONMENT,
    "pool": POOL_ENTRY["pool"],
    "php_version": POOL_ENTRY["php"],
    "__metrics_path__": re.compile(
        rf"/php{POOL_ENTRY['php'].pattern}/{POOL_ENTRY['pool'].pattern}"
    ),
}


class TargetError(Exception):
    """A target group that this project would not have written."""


def target_group(address: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"targets": [address], "labels": dict(labels)}


def checked_group(group: Any, job: str) -> dict[str, Any]:
    """``group`` if it is one target with labels of the known names and forms."""
    where = f"file_sd/{job}.yml"
    if not isinstance(group, dict) or set(group) != {"targets", "labels"}:
        raise TargetError(f"{where}: {group!r} is not a target group with targets and labels")
    targets, labels = group["targets"], group["labels"]
    if not (isinstance(targets, list) and len(targets) == 1 and isinstance(targets[0], str)):
        raise TargetError(f"{where}: {targets!r} is not one target")
    if not is_address(targets[0]):
        raise TargetError(f"{where}: {targets[0]!r} is not host:port")
    if not isinstance(labels, dict):
        raise TargetError(f"{where}: labels {labels!r} are not a mapping")
    for name, value in labels.items():
        pattern = LABEL_VALUES.get(name)
        if pattern is None or not isinstance(value, str) or not pattern.fullmatch(value):
            raise TargetError(f"{where}: label {name}={value!r} is not one this project writes")
    return {"targets": [targets[0]], "labels": dict(labels)}


def kept_groups(current: Iterable[Any], instances: set[str], job: str) -> list[dict[str, Any]]:
    """The groups of ``current`` (a file_sd file's content) for the hosts ``instances``."""
    return [
        checked_group(group, job)
        for group in current
        if isinstance(group, dict)
        and isinstance(group.get("labels"), dict)
        and group["labels"].get("instance") in instances
    ]
