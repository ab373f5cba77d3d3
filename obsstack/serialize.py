"""Values in files written by a serializer, never pasted into a template by hand.

A value that passes validation can still break out of a hand-quoted YAML scalar (a quote, a
backslash escape that YAML decodes, a comma in a flow list). Files Prometheus, Alertmanager
and blackbox_exporter read are therefore dumped from Python data by PyYAML, which quotes
whatever needs quoting; the header comment is the only text added by hand. Arguments of a
systemd unit's command line are quoted the way systemd reads them (``systemd_word``).
Grafana's INI has no quoting that every reader agrees on, so ``ini_file`` takes plain
values only and refuses the rest.

Example::

    >>> from obsstack.serialize import yaml_file
    >>> print(yaml_file({"targets": ['a", "b']}, "Managed by observability-stack."), end="")
    # Managed by observability-stack.
    targets:
      - a", "b
    >>> print(ini_file({"server": {"http_port": 3000, "enforce_domain": False}}, "Ours."), end="")
    ; Ours.
    [server]
    http_port = 3000
    enforce_domain = false
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MANAGED = "Managed by observability-stack: local edits are replaced on the next deploy."


class _Dumper(yaml.SafeDumper):
    """Block style with lists indented under their key, as Prometheus' own examples."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def yaml_file(document: Any, header: str) -> str:
    """``document`` as YAML after ``header`` (one comment line per line of it)."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    body = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=False
    )
    return comment + body


# Characters that end a line or a value early in any file format a value lands in.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_./:=,+@-]+")


def systemd_word(argument: str) -> str:
    """``argument`` as one word of a systemd ``ExecStart=`` line, meaning exactly itself.

    systemd splits on whitespace, reads quotes and backslash escapes, and expands ``%``
    specifiers and ``$`` variables: anything beyond a plain word is double-quoted with
    those characters escaped. A control character has no place in a unit: ValueError.
    """
    if CONTROL_CHARACTER.search(argument):
        raise ValueError(f"{argument!r}: control characters cannot go into a unit file")
    if SYSTEMD_PLAIN.fullmatch(argument):
        return argument
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


# What an INI value may hold: Grafana reads ``;`` and ``#`` after a space as a comment,
# unquotes a value that starts with a quote, and expands ``$__file{...}``, ``$__env{...}``
# and ``${VAR}`` anywhere in a value.
INI_NAME = re.compile(r"[a-z][a-z0-9_.]*")
INI_PLAIN = re.compile(r"[A-Za-z0-9_./:,+@=*-]([A-Za-z0-9 _./:,+@=*-]*[A-Za-z0-9_./:,+@=*-])?")


@dataclass(frozen=True)
class IniFileValue:
    """A value Grafana reads from a file at start (``$__file{path}``): a secret stays out of
    the INI file itself."""

    path: str


def ini_value(value: str | int | bool | IniFileValue) -> str:
    """``value`` as Grafana's INI reads it back unchanged; ValueError for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, IniFileValue):
        return f"$__file{{{ini_value(value.path)}}}"
    if isinstance(value, str) and (value == "" or INI_PLAIN.fullmatch(value)):
        return value
    raise ValueError(f"{value!r} cannot go into an INI file as a plain value")


def ini_file(sections: Mapping[str, Mapping[str, Any]], header: str) -> str:
    """``sections`` (``{section: {key: value}}``) as an INI file after ``header``."""
    lines = [f"; {line}" for line in header.splitlines()]
    for section, values in sections.items():
        if not INI_NAME.fullmatch(section):
            raise ValueError(f"{section!r} is not an INI section name")
        lines.append(f"[{section}]")
        for key, value in values.items():
            if not INI_NAME.fullmatch(key):
                raise ValueError(f"{key!r} is not an INI key")
            lines.append(f"{key} = {ini_value(value)}")
    return "\n".join(lines) + "\n"
