"""Small typed facts the project's operations decide with.

Example::

    from pyinfra import host
    from operations.facts import InstalledVersion
    version = host.get_fact(InstalledVersion, binary="/usr/local/bin/prometheus")
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml
from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.exceptions import FactProcessError
from typing_extensions import override

# Prometheus-family programs (and nginx-prometheus-exporter since 1.0) print "NAME, version
# 2.53.3 (branch: ...)"; Debian builds add "+ds1" build metadata, which semver says carries no
# version meaning, so it is dropped.
VERSION_PATTERN = re.compile(r"\bversion v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)(?:\+\S*)?")
# nginx-prometheus-exporter before 1.0 printed "NGINX Prometheus Exporter version=0.11.0 commit=
# ...". Debian's build put its package version there ("0.11.0-1+b4"), and those upstream
# releases had no pre-releases, so whatever follows X.Y.Z is Debian's revision.
NGINX_0_PREFIX = "NGINX Prometheus Exporter version="
NGINX_0_PATTERN = re.compile(rf"^{NGINX_0_PREFIX}(\d+\.\d+\.\d+)")


def parse_version(output: str) -> str | None:
    """The version in a ``--version`` line, without build metadata; None when there is none."""
    match = NGINX_0_PATTERN.match(output) or VERSION_PATTERN.search(output)
    return match.group(1) if match else None


def version_line_regex(version: str) -> str:
    """A ``grep -E`` pattern for a ``--version`` line that ``parse_version`` reads as ``version``.

    For checks that run on the host, where the Python parser is not available.
    """
    # Versions are digits, letters, dots and hyphens (obsstack.fields): only "." is special.
    escaped = version.replace(".", r"\.")
    pattern = rf"version v?{escaped}([+ ]|$)"
    if "-" not in version:  # the pre-1.0 nginx form only ever gives X.Y.Z (NGINX_0_PATTERN)
        pattern += rf"|^{NGINX_0_PREFIX}{escaped}([-+ ]|$)"
    return pattern


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


class FileSdGroups(FactBase[dict[str, list[Any]]]):
    """
    Returns the target groups of each Prometheus file_sd file (``*.yml``) in a directory,
    by the file's name without ``.yml`` (the job); empty when there are none.

    + directory: the file_sd directory

    A file that is not valid YAML fails the fact: a deploy never rewrites targets it
    could not read.

    .. code:: python

        {"node": [{"targets": ["10.0.0.5:9100"], "labels": {"instance": "web1"}}]}
    """

    default = dict

    @override
    def command(self, directory: str) -> str:
        return (
            f"for f in {shlex.quote(directory)}/*.yml;"
            ' do [ -f "$f" ] || continue; echo "@file ${f##*/}"; cat "$f"; echo; done'
        )

    @override
    def process(self, output: list[str]) -> dict[str, list[Any]]:
        files: dict[str, list[str]] = {}
        lines: list[str] = []
        for line in output:
            if line.startswith("@file "):
                lines = files.setdefault(line.removeprefix("@file ").removesuffix(".yml"), [])
            else:
                lines.append(line)
        groups = {}
        for job, text in files.items():
            try:
                document = yaml.safe_load("\n".join(text)) or []
            except yaml.YAMLError as error:
                raise FactProcessError(f"file_sd/{job}.yml is not YAML: {error}") from error
            if not isinstance(document, list):
                raise FactProcessError(f"file_sd/{job}.yml is not a list of target groups")
            groups[job] = document
        return groups
