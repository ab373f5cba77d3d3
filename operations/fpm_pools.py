"""PHP-FPM pools as the php_fpm agent sees them: found on a host, and given a status page.

Each installed FPM (``/usr/sbin/php-fpmX.Y``, Debian's and Ubuntu's layout) describes its
pools with ``php-fpmX.Y -tt``: the effective configuration after includes and ``$pool``
expansion. ``POOLS_SCRIPT`` prints that together with the ``[pool]`` headers of the files
under ``/etc/php/X.Y/fpm/`` (which file opens which pool) and the files holding our status
line; ``parse_pools`` turns it into ``PhpFpmInstall`` records. The same script and parser
serve the host's own deploy (a fact) and the controller (the observability server's scrape
targets, before the deploy).

A pool without a status page gets one from two lines in the file that opens its section,
right under the ``[pool]`` header, with a marker comment above them: the lines go wherever
the pool goes, so removing or renaming a pool never leaves FPM a stray section it would
refuse to start with (a separate drop-in file would).

FPM answers its status path on every socket of the pool, so a site that hands any URI to
FPM (a front controller) would serve the page to the Internet. Ours contains a ``/./``
segment, which nginx removes from every URI before a site sees it: no request through a
site can name it. FPM also answers it on a socket of its own (``pm.status_listen``), which
our status server uses, so the page answers even while every worker of the pool is busy.

Only what the agent needs leaves the host: the script filters ``-tt`` on the host to pool
names, listen addresses and status settings (a pool's ``env[...]`` and ``php_admin_value``
lines often hold application passwords), and every value is checked before use.

A pool file itself holds the user's secrets too: awk reads and edits it on the host
(``edit_command``), and only its section headers and our own lines are shown to the
controller (``layout_command``).

The pool files belong to the user: ``pool_status_lines`` changes only our own lines (a
marker comment, ``pm.status_path`` and ``pm.status_listen``) and keeps the file's owner and
mode; FPM checks the result (``php-fpmX.Y -t`` on the whole configuration, with the
candidate in place) before it goes live, and the old file is kept as a backup.

Example (a deploy file)::

    from operations.fpm_pools import PhpFpmPools, pool_status_lines
    for install in host.get_fact(PhpFpmPools):
        for pool in install.pools:
            print(install.php, pool.name, pool.listen, pool.status_path)
    pool_status_lines(
        name="Status page of pool www",
        path="/etc/php/8.4/fpm/pool.d/www.conf",
        php="8.4",
        pools=["www"],
    )

On a host, as root, the edit itself::

    from operations.fpm_pools import edit_command
    edit_command("/etc/php/8.4/fpm/pool.d/www.conf", "/tmp/www.conf", ["www"], "8.4")
    # [www]
    # ; observability-stack: the status page the php_fpm agent serves to Prometheus
    # pm.status_path = /observability-stack/./status
    # pm.status_listen = /run/php/observability-stack-php8.4-www.sock
    # user = www-data ...
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.api.exceptions import FactProcessError
from pyinfra.facts.files import File
from typing_extensions import override

from obsstack.fields import PHP_VERSION, SAFE_POOL_NAME
from operations.config import (
    DEFAULT_KEEP_BACKUPS,
    backup_command,
    in_config_tree,
    replace_file,
)

# Where a pool without a status page of its own gets one: a path no URI through a site can
# become (nginx removes "/./"), on a socket of its own (nginx passes it from the
# observability server only).
STATUS_PATH = "/observability-stack/./status"
LEGACY_STATUS_PATH = "/observability-stack-status"  # what earlier versions added
MARKER = "; observability-stack: the status page the php_fpm agent serves to Prometheus"
STATUS_LINE = f"pm.status_path = {STATUS_PATH}"
# What nginx can carry in a location and a fastcgi_param without quoting, and what the
# observability server's scrape config and our nginx server may contain from a host.
SAFE_STATUS_PATH = re.compile(r"/[A-Za-z0-9_./~-]{0,200}")
SOCKET_PATH = re.compile(r"/[A-Za-z0-9_./-]{1,200}")
TCP_LISTEN = re.compile(r"((\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:.]+\]|\*)?:?\d{1,5}")


# -tt prints the whole effective configuration; only these lines leave the host.
KEPT_LINES = (
    r"NOTICE: \[[^]]+\][[:space:]]*$"
    r"|NOTICE: [[:space:]]+(listen|pm\.status_path|pm\.status_listen) = "
    r"|(ERROR|ALERT): "
)
POOLS_SCRIPT = f"""\
for fpm in /usr/sbin/php-fpm[0-9]*; do
  [ -x "$fpm" ] || continue
  php=${{fpm#/usr/sbin/php-fpm}}
  echo "@php $php"
  "$fpm" -tt 2>&1 | grep -E {shlex.quote(KEPT_LINES)}
  echo "@test ${{PIPESTATUS[0]}}"
  for file in /etc/php/$php/fpm/php-fpm.conf /etc/php/$php/fpm/pool.d/*.conf; do
    [ -f "$file" ] || continue
    awk -v file="$file" -v marker={shlex.quote(MARKER)} '
      /^[ \\t]*\\[[^]]*\\][ \\t]*$/ {{ print "@section " file " " $0 }}
      $0 == marker {{ print "@marked " file }}' "$file"
  done
done
echo "@end"
"""

TT_POOL = re.compile(r"NOTICE: \[(?P<pool>[^\]]+)\]\s*$")
TT_SETTING = re.compile(r"NOTICE: \t(?P<key>[\w.]+) = (?P<value>.*)$")
TT_PROBLEM = re.compile(r"(?:ERROR|ALERT): (?P<message>.*)$")
SECTION_HEADER = re.compile(r"\s*\[(?P<pool>[^\]]*)\]\s*")


class PoolsReadError(Exception):
    """The pools script's output is cut short or not what it prints."""


@dataclass(frozen=True)
class PhpFpmPool:
    """One pool of one installed FPM."""

    php: str  # the PHP version of its FPM, e.g. "8.4"
    name: str
    listen: str  # as FPM has it: a socket path, "port", "address:port" or "[v6]:port"
    status_path: str | None  # None: no status page
    file: str | None  # the file that opens its [name] section (None: outside /etc/php/X/fpm)
    status_listen: str | None = None  # the status page's own socket (pm.status_listen)

    @property
    def location(self) -> str:
        """The path the agent's nginx server answers this pool's status on."""
        return f"/php{self.php}/{self.name}"

    @property
    def status_address(self) -> str:
        """Where nginx asks for the status page: its own socket if it has one."""
        return fastcgi_address(self.status_listen or self.listen)

    @property
    def has_status_of_its_own(self) -> bool:
        return self.status_path not in (None, STATUS_PATH, LEGACY_STATUS_PATH)

    @property
    def served_status_path(self) -> str:
        """The path the agent asks for: the pool's own, or ours."""
        return self.status_path if self.has_status_of_its_own else STATUS_PATH

    @property
    def served_status_address(self) -> str:
        """Where the agent asks for it once our lines are in place: the pool's own status
        socket or listen address, or the socket our lines give it."""
        if self.has_status_of_its_own:
            return self.status_address
        return fastcgi_address(status_socket(self.php, self.name))


def fastcgi_address(listen: str) -> str:
    """nginx's address for an FPM listen setting: a wildcard address means loopback."""
    if listen.startswith("/"):
        return f"unix:{listen}"
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "*"):  # noqa: S104 (FPM's notation, read not bound)
        return f"127.0.0.1:{port}"
    if host == "[::]":
        return f"[::1]:{port}"
    return listen


def is_listen_setting(value: str) -> bool:
    """A socket path or a TCP listen as FPM accepts them, and nothing else."""
    return bool(SOCKET_PATH.fullmatch(value) or TCP_LISTEN.fullmatch(value))


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
    """The FPMs ``POOLS_SCRIPT`` found, with their pools, in the order it printed them.

    PoolsReadError when the output is cut short (no ``@end``) or names an FPM oddly: the
    agent never acts on half an answer.
    """
    if "@end" not in output.splitlines():
        raise PoolsReadError("the PHP-FPM pool listing ended early (no @end)")
    readings: list[_Reading] = []
    for line in output.splitlines():
        if line.startswith("@php "):
            php = line.removeprefix("@php ").strip()
            if not PHP_VERSION.fullmatch(php):
                raise PoolsReadError(f"/usr/sbin/php-fpm{php!r} is not named php-fpmX.Y")
            readings.append(_Reading(php=php))
        elif not readings:
            continue
        elif line.startswith("@test "):
            readings[-1].exit_status = int(line.removeprefix("@test ").strip() or 1)
        elif line.startswith("@section "):
            file, _, header = line.removeprefix("@section ").partition(" ")
            match = SECTION_HEADER.fullmatch(header)
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
            status_listen=_defined(values.get("pm.status_listen")),
        )
        for name, values in settings.items()
    )
    return PhpFpmInstall(reading.php, pools, tuple(reading.marked))


def _defined(value: str | None) -> str | None:
    return None if value in (None, "", "undefined") else value


def pool_problem(pool: PhpFpmPool) -> str | None:
    """Why the agent cannot serve this pool's status page, or None."""
    where = f"PHP-FPM {pool.php} pool {pool.name!r}"
    if not SAFE_POOL_NAME.fullmatch(pool.name):
        return f"{where}: the agent serves pools named with letters, digits, '.', '_', '-' only"
    if pool.status_path and not SAFE_STATUS_PATH.fullmatch(pool.status_path):
        return f"{where}: pm.status_path {pool.status_path!r} is not a plain /path"
    if pool.status_path is None and pool.file is None:
        return (
            f"{where} has no pm.status_path and no file under /etc/php/{pool.php}/fpm/ opens "
            f"its section: set pm.status_path = {STATUS_PATH} in it"
        )
    if not pool.listen:
        return f"{where}: php-fpm{pool.php} -tt shows no listen address"
    for setting, value in (("listen", pool.listen), ("pm.status_listen", pool.status_listen)):
        if value is not None and not is_listen_setting(value):
            return f"{where}: {setting} {value!r} is not a socket path or [address:]port"
    return None


def status_socket(php: str, pool: str) -> str:
    """The socket our status lines give a pool's status page (``pm.status_listen``)."""
    return f"/run/php/observability-stack-php{php}-{pool}.sock"


# A pool file holds the user's secrets (env[...], php_admin_value[...]): it is read and
# edited on the host by awk, and only its section headers and our own lines are shown.
HEADER_ERE = r"^[ \t]*\[[^]]*\][ \t\r]*$"
OURS_ERE = (
    r"^[ \t]*pm\.status_(path = /observability-stack(-status|/\./status)"
    r"|listen = /run/php/observability-stack-php[0-9.]+-[A-Za-z0-9_.-]+\.sock)[ \t\r]*$"
)
# As awk regex literals, whose slashes need escaping.
HEADER = "/" + HEADER_ERE.replace("/", "\\/") + "/"
OURS = "/" + OURS_ERE.replace("/", "\\/") + "/"
LAYOUT_AWK = f'$0 ~ {HEADER} || $0 == marker || $0 ~ {OURS} {{ print NR ":" $0 }}'
# Drops our marker and the lines of ours under it, then puts them back under the first
# header of each pool in `pools`; exits 3 naming a pool the file does not open.
EDIT_AWK = rf"""BEGIN {{
  n = split(pools, wanted, " "); for (i = 1; i <= n; i++) want[wanted[i]] = 1
}}
skipping && $0 ~ {OURS} {{ next }}
{{ skipping = 0 }}
$0 == marker {{ skipping = 1; next }}
{{ print }}
$0 ~ {HEADER} {{
  name = $0; sub(/^[ \t]*\[/, "", name); sub(/\][ \t\r]*$/, "", name)
  if ((name in want) && !(name in done)) {{
    done[name] = 1
    print marker
    print "{STATUS_LINE}"
    print "pm.status_listen = /run/php/observability-stack-php" php "-" name ".sock"
  }}
}}
END {{
  for (name in want)
    if (!(name in done)) {{ print "no [" name "] section" > "/dev/stderr"; exit 3 }}
}}
"""


def layout_command(path: str) -> str:
    """Shell printing ``N:line`` for each section header and line of ours in ``path``."""
    return f"awk -v marker={shlex.quote(MARKER)} {shlex.quote(LAYOUT_AWK)} {shlex.quote(path)}"


def edit_command(path: str, candidate: str, pools: Iterable[str], php: str) -> str:
    """Shell writing ``path`` with our lines under the headers of ``pools`` to ``candidate``."""
    return (
        f"awk -v marker={shlex.quote(MARKER)} -v pools={shlex.quote(' '.join(pools))}"
        f" -v php={shlex.quote(php)} {shlex.quote(EDIT_AWK)} {shlex.quote(path)}"
        f" > {shlex.quote(candidate)}"
    )


def has_our_lines(layout: list[str], pools: Iterable[str], php: str) -> bool:
    """Whether a file's layout (``layout_command``'s lines) has our lines right under the
    first header of each of ``pools``, and none anywhere else."""
    headers: dict[str, int] = {}
    ours: set[tuple[int, str]] = set()
    for line in layout:
        number, _, text = line.partition(":")
        match = SECTION_HEADER.fullmatch(text.rstrip("\r"))
        if match:
            headers.setdefault(match["pool"], int(number))
        else:
            ours.add((int(number), text))
    expected = set()
    for pool in pools:
        if pool not in headers:
            return False
        first = headers[pool]
        expected |= {
            (first + 1, MARKER),
            (first + 2, STATUS_LINE),
            (first + 3, f"pm.status_listen = {status_socket(php, pool)}"),
        }
    return ours == expected


class PhpFpmPools(FactBase[list[PhpFpmInstall]]):
    """
    Returns the installed PHP-FPMs (``/usr/sbin/php-fpmX.Y``) with their pools as
    ``php-fpmX.Y -tt`` shows them, or the reason their configuration cannot be read. Only
    pool names, listen addresses and status settings leave the host.

    .. code:: python

        [PhpFpmInstall(php="8.4", pools=(PhpFpmPool(php="8.4", name="www",
            listen="/run/php/php8.4-fpm.sock", status_path=None,
            file="/etc/php/8.4/fpm/pool.d/www.conf", status_listen=None),),
            marked_files=(), error=None)]
    """

    shell_executable = "bash"

    @override
    @staticmethod
    def default() -> list[PhpFpmInstall]:
        return []

    @override
    def command(self) -> str:
        return POOLS_SCRIPT

    @override
    def process(self, output: list[str]) -> list[PhpFpmInstall]:
        try:
            return parse_pools("\n".join(output))
        except PoolsReadError as error:
            raise FactProcessError(str(error)) from error


class PoolFileLayout(FactBase[list[str] | None]):
    """
    Returns a pool file's section headers and our own status lines, each as
    ``"NUMBER:TEXT"``, or ``None`` when the file does not exist. Nothing else of the file
    is shown: pool files hold applications' passwords (``env[...]``).

    + path: the pool file

    .. code:: python

        ["2:[www]", "3:; observability-stack: ...", "4:pm.status_path = ...", "10:[admin]"]
    """

    @override
    def command(self, path: str) -> str:
        missing = f"test -f {shlex.quote(path)} || {{ echo '@missing'; exit 0; }}"
        return f"{missing}; {layout_command(path)}"

    @override
    def process(self, output: list[str]) -> list[str] | None:
        return None if output == ["@missing"] else list(output)

    @staticmethod
    def default() -> list[str]:
        return []


@operation()
def pool_status_lines(
    path: str, php: str, pools: Sequence[str], keep_backups: int = DEFAULT_KEEP_BACKUPS
):
    """
    Keep our status lines under the ``[pool]`` header of each of ``pools`` in ``path``, and
    nowhere else in it.

    + path: a file PHP-FPM ``php`` reads its pools from
    + php: the PHP version of that FPM, e.g. ``"8.4"``
    + pools: the pools opened in ``path`` that get our status page (empty: none, so any
      line of ours is removed)
    + keep_backups: how many copies of the replaced file to keep

    The file is edited on the host (awk), so its content never reaches the controller or
    pyinfra's output.
    """
    layout = host.get_fact(PoolFileLayout, path=path)
    if layout is None:
        host.noop(f"{path} does not exist")
        return
    if has_our_lines(layout, pools, php):
        host.noop(f"{path} has the status lines it needs")
        return
    live = host.get_fact(File, path=path)
    yield from replace_file(
        path,
        lambda candidate: [StringCommand(edit_command(path, candidate, pools, php))],
        in_config_tree(path, f"/usr/sbin/php-fpm{php} -t"),
        live["user"],
        live["group"],
        f"{live['mode']:04d}",
        backup_command(path, keep_backups),
    )
