"""Small typed facts the project's operations decide with.

Example::

    from pyinfra import host
    from operations.facts import InstalledVersion
    version = host.get_fact(InstalledVersion, binary="/usr/local/bin/prometheus")
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase, QuoteString, StringCommand
from typing_extensions import override

# Prometheus-family programs print "NAME, version 2.53.3 (branch: ...)"; Debian builds add
# "+ds1" build metadata, which semver says carries no version meaning, so it is dropped.
VERSION_PATTERN = re.compile(r"\bversion v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?:\+\S*)?")


def parse_version(output: str) -> str | None:
    """The version in a ``--version`` line, without build metadata; None when there is none."""
    match = VERSION_PATTERN.search(output)
    return match.group(1) if match else None


class InstalledVersion(FactBase[str | None]):
    """
    Returns the version an installed program reports with ``--version``, or ``None`` when
    the binary is missing or prints no version.

    + binary: absolute path of the program

    .. code:: python

        "2.53.3"
    """

    @override
    def command(self, binary: str) -> StringCommand:
        return StringCommand(
            "test -x", QuoteString(binary), "&&", QuoteString(binary), "--version 2>&1 | head -n 1",
            "|| true",
        )

    @override
    def process(self, output: list[str]) -> str | None:
        return parse_version(output[0]) if output else None


class FileNames(FactBase[list[str]]):
    """
    Returns the names of the regular files directly inside a directory (empty when the
    directory does not exist yet).

    + path: the directory

    .. code:: python

        ["node.rules.yml", "prometheus.rules.yml"]
    """

    default = list

    @override
    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "find", QuoteString(path), "-maxdepth 1 -type f -printf '%f\\n' 2>/dev/null || true"
        )

    @override
    def process(self, output: list[str]) -> list[str]:
        return sorted(line for line in output if line)
