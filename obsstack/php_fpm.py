"""PHP-FPM pools as the php_fpm agent sees them: found on a host, and given a status page.

Each installed FPM (``/usr/sbin/php-fpmX.Y``, Debian's and Ubuntu's layout) describes its
pools with ``php-fpmX.Y -tt``: the effective configuration after includes and ``$pool``
expansion. ``POOLS_SCRIPT`` prints that together with the ``[pool]`` headers of the files
under ``/etc/php/X.Y/fpm/`` (which file opens which pool) and the files holding our status
line; ``parse_pools`` turns it into ``PhpFpmInstall`` records. The same script and parser
serve the host's own deploy (a fact) and the controller (the observability server's scrape
targets, before the deploy).

A pool without a status page gets one from a line in the file that opens its section, right
under the ``[pool]`` header, with a marker comment above it: the line goes wherever the pool
goes, so removing or renaming a pool never leaves FPM a stray section it would refuse to
start with (a separate drop-in file would).

Example::

    >>> from obsstack.php_fpm import with_status_lines
    >>> print(with_status_lines("[www]\\nuser = www-data\\n", ["www"]), end="")
    [www]
    ; observability-stack: the status page the php_fpm agent serves to Prometheus
    pm.status_path = /observability-stack-status
    user = www-data
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

# Where a pool without a status page of its own gets one (FPM answers it on the pool's own
# socket only, and nginx passes it only from the observability server).
STATUS_PATH = "/observability-stack-status"
MARKER = "; observability-stack: the status page the php_fpm agent serves to Prometheus"
STATUS_LINE = f"pm.status_path = {STATUS_PATH}"
# What nginx can carry in a location and a fastcgi_param without quoting.
SAFE_POOL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
SAFE_STATUS_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")

POOLS_SCRIPT = f"""\
for fpm in /usr/sbin/php-fpm[0-9]*; do
  [ -x "$fpm" ] || continue
  php=${{fpm#/usr/sbin/php-fpm}}
  echo "@php $php"
  "$fpm" -tt 2>&1
  echo "@test $?"
  for file in /etc/php/$php/fpm/php-fpm.conf /etc/php/$php/fpm/pool.d/*.conf; do
    [ -f "$file" ] || continue
    awk -v file="$file" -v marker={shlex.quote(MARKER)} '
      /^[ \\t]*\\[[^]]*\\][ \\t]*$/ {{ print "@section " file " " $0 }}
      $0 == marker {{ print "@marked " file }}' "$file"
  done
done
exit 0
"""

TT_POOL = re.compile(r"NOTICE: \[(?P<pool>[^\]]+)\]\s*$")
TT_SETTING = re.compile(r"NOTICE: \t(?P<key>[\w.]+) = (?P<value>.*)$")
TT_PROBLEM = re.compile(r"(?:ERROR|ALERT): (?P<message>.*)$")
SECTION_HEADER = re.compile(r"^\s*\[(?P<pool>[^\]]*)\]\s*$")


@dataclass(frozen=True)
class PhpFpmPool:
    """One pool of one installed FPM."""

    php: str  # the PHP version of its FPM, e.g. "8.4"
    name: str
    listen: str  # as FPM has it: a socket path, "port", "address:port" or "[v6]:port"
    status_path: str | None  # None: no status page
    file: str | None  # the file that opens its [name] section (None: outside /etc/php/X/fpm)

    @property
    def location(self) -> str:
        """The path the agent's nginx server answers this pool's status on."""
        return f"/php{self.php}/{self.name}"

    @property
    def fastcgi_address(self) -> str:
        """Where nginx reaches the pool: a wildcard listen address means loopback."""
        if self.listen.startswith("/"):
            return f"unix:{self.listen}"
        host, _, port = self.listen.rpartition(":")
        if host in ("", "0.0.0.0", "*"):  # noqa: S104 (FPM's notation, read not bound)
            return f"127.0.0.1:{port}"
        if host == "[::]":
            return f"[::1]:{port}"
        return self.listen

    @property
    def has_status_of_its_own(self) -> bool:
        return self.status_path not in (None, STATUS_PATH)


@dataclass(frozen=True)
class PhpFpmInstall:
    """An installed FPM: its pools, or why its configuration could not be read."""

    php: str
    pools: tuple[PhpFpmPool, ...] = ()
    marked_files: tuple[str, ...] = ()  # files holding our status line
    error: str | None = None

    @property
    def unit(self) -> str:
        return f"php{self.php}-fpm.service"


@dataclass
class _Reading:
    php: str
    tested: list[str] = field(default_factory=list)
    exit_status: int | None = None
    sections: dict[str, str] = field(default_factory=dict)
    marked: list[str] = field(default_factory=list)


def parse_pools(output: str) -> list[PhpFpmInstall]:
    """The FPMs ``POOLS_SCRIPT`` found, with their pools, in the order it printed them."""
    readings: list[_Reading] = []
    for line in output.splitlines():
        if line.startswith("@php "):
            readings.append(_Reading(php=line.removeprefix("@php ").strip()))
        elif not readings:
            continue
        elif line.startswith("@test "):
            readings[-1].exit_status = int(line.removeprefix("@test ").strip() or 1)
        elif line.startswith("@section "):
            file, _, header = line.removeprefix("@section ").partition(" ")
            match = SECTION_HEADER.match(header)
            if match:
                readings[-1].sections.setdefault(match["pool"], file)
        elif line.startswith("@marked "):
            readings[-1].marked.append(line.removeprefix("@marked ").strip())
        elif readings[-1].exit_status is None:
            readings[-1].tested.append(line)
    return [_install(reading) for reading in readings]


def _install(reading: _Reading) -> PhpFpmInstall:
    if reading.exit_status != 0:
        problems = [m["message"] for line in reading.tested if (m := TT_PROBLEM.search(line))]
        reason = problems[0] if problems else f"exit status {reading.exit_status}"
        return PhpFpmInstall(
            reading.php,
            marked_files=tuple(reading.marked),
            error=f"php-fpm{reading.php} -t rejects its configuration: {reason}",
        )
    settings: dict[str, dict[str, str]] = {}
    pool = None
    for line in reading.tested:
        if match := TT_POOL.search(line):
            pool = None if match["pool"] == "global" else match["pool"]
            if pool:
                settings[pool] = {}
        elif pool and (match := TT_SETTING.search(line)):
            settings[pool][match["key"]] = match["value"].strip()
    pools = tuple(
        PhpFpmPool(
            php=reading.php,
            name=name,
            listen=values.get("listen", ""),
            status_path=_defined(values.get("pm.status_path")),
            file=reading.sections.get(name),
        )
        for name, values in settings.items()
    )
    return PhpFpmInstall(reading.php, pools, tuple(reading.marked))


def _defined(value: str | None) -> str | None:
    return None if value in (None, "", "undefined") else value


def pool_problem(pool: PhpFpmPool) -> str | None:
    """Why the agent cannot serve this pool's status page, or None."""
    where = f"PHP-FPM {pool.php} pool {pool.name!r}"
    if not SAFE_POOL_NAME.match(pool.name):
        return f"{where}: the agent serves pools named with letters, digits, '.', '_', '-' only"
    if pool.status_path and not SAFE_STATUS_PATH.match(pool.status_path):
        return f"{where}: pm.status_path {pool.status_path!r} is not a plain /path"
    if pool.status_path is None and pool.file is None:
        return (
            f"{where} has no pm.status_path and no file under /etc/php/{pool.php}/fpm/ opens "
            f"its section: set pm.status_path = {STATUS_PATH} in it"
        )
    if not pool.listen:
        return f"{where}: php-fpm{pool.php} -tt shows no listen address"
    return None


def with_status_lines(text: str, pools: Iterable[str]) -> str:
    """``text`` with our status line (under its marker) right under the header of each of
    ``pools``, and nowhere else."""
    wanted = set(pools)
    lines = without_status_lines(text).splitlines(keepends=True)
    missing = set(wanted)
    for index, line in enumerate(lines):
        match = SECTION_HEADER.match(line)
        if match and match["pool"] in missing:
            missing.discard(match["pool"])
            newline = "" if line.endswith("\n") else "\n"
            lines[index] = f"{line}{newline}{MARKER}\n{STATUS_LINE}\n"
    if missing:
        raise ValueError(f"no [{sorted(missing)[0]}] section")
    return "".join(lines)


def without_status_lines(text: str) -> str:
    """``text`` without our markers and the status line under each."""
    lines = text.splitlines(keepends=True)
    kept = []
    index = 0
    while index < len(lines):
        if lines[index].rstrip("\n") == MARKER:
            index += 1
            if index < len(lines) and lines[index].strip() == STATUS_LINE:
                index += 1
            continue
        kept.append(lines[index])
        index += 1
    return "".join(kept)
