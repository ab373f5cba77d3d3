"""Values in files written by a serializer, never pasted into a template by hand.

A value that passes validation can still break out of a hand-quoted YAML scalar (a quote, a
backslash escape that YAML decodes, a comma in a flow list). Files Prometheus, Alertmanager
and blackbox_exporter read are therefore dumped from Python data by PyYAML, which quotes
whatever needs quoting; the header comment is the only text added by hand. Arguments of a
systemd unit's command line are quoted the way systemd reads them (``systemd_word``).

Example::

    >>> from obsstack.serialize import yaml_file
    >>> print(yaml_file({"targets": ['a", "b']}, "Managed by observability-stack."), end="")
    # Managed by observability-stack.
    targets:
      - a", "b
"""

from __future__ import annotations

import re
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
