"""PHP-FPM's pools, and the status-page lines the php_fpm agent keeps in their files.

The pool files belong to the user: the operation changes only our own lines (a marker
comment, ``pm.status_path`` and ``pm.status_listen``) and keeps the file's owner and mode;
FPM checks the result (``php-fpmX.Y -t`` on the whole configuration, with the candidate in
place) before it goes live, and the old file is kept as a backup.

Example (a deploy file)::

    from operations.php_fpm import PhpFpmPools, pool_status_lines
    for install in host.get_fact(PhpFpmPools):
        for pool in install.pools:
            print(install.php, pool.name, pool.listen, pool.status_path)
    pool_status_lines(
        name="Status page of pool www",
        path="/etc/php/8.4/fpm/pool.d/www.conf",
        php="8.4",
        pools=["www"],
    )
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.api.exceptions import FactProcessError
from pyinfra.facts.files import File
from typing_extensions import override

from obsstack.php_fpm import (
    POOLS_SCRIPT,
    PhpFpmInstall,
    PoolsReadError,
    edit_command,
    has_our_lines,
    layout_command,
    parse_pools,
)
from operations.config import (
    DEFAULT_KEEP_BACKUPS,
    backup_command,
    in_config_tree,
    replace_file,
)


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
