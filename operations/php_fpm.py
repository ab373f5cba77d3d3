"""PHP-FPM's pools, and the status-page line the php_fpm agent keeps in their files.

The pool files belong to the user: the operation changes only our own two lines (a marker
comment and ``pm.status_path``) and keeps the file's owner and mode; FPM checks the result
(``php-fpmX.Y -t`` on the whole configuration, with the candidate in place) before it goes
live, and the old file is kept as a backup.

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

from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import FactBase, operation
from pyinfra.facts.files import File, FileContents
from typing_extensions import override

from obsstack.php_fpm import POOLS_SCRIPT, PhpFpmInstall, parse_pools, with_status_lines
from operations.config import DEFAULT_KEEP_BACKUPS, in_config_tree, managed_config


class PhpFpmPools(FactBase[list[PhpFpmInstall]]):
    """
    Returns the installed PHP-FPMs (``/usr/sbin/php-fpmX.Y``) with their pools as
    ``php-fpmX.Y -tt`` shows them, or the reason their configuration cannot be read.

    .. code:: python

        [PhpFpmInstall(php="8.4", pools=(PhpFpmPool(php="8.4", name="www",
            listen="/run/php/php8.4-fpm.sock", status_path=None,
            file="/etc/php/8.4/fpm/pool.d/www.conf"),), marked_files=(), error=None)]
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
        return parse_pools("\n".join(output))


@operation()
def pool_status_lines(
    path: str, php: str, pools: Sequence[str], keep_backups: int = DEFAULT_KEEP_BACKUPS
):
    """
    Keep our status line under the ``[pool]`` header of each of ``pools`` in ``path``, and
    nowhere else in it.

    + path: a file PHP-FPM ``php`` reads its pools from
    + php: the PHP version of that FPM, e.g. ``"8.4"``
    + pools: the pools opened in ``path`` that get our status page (empty: none, so any
      line of ours is removed)
    + keep_backups: how many copies of the replaced file to keep
    """
    lines = host.get_fact(FileContents, path=path)
    if lines is None:
        host.noop(f"{path} does not exist")
        return
    current = "".join(f"{line}\n" for line in lines)
    desired = with_status_lines(current, pools)
    if desired == current:
        host.noop(f"{path} has the status lines it needs")
        return
    live = host.get_fact(File, path=path)
    yield from managed_config._inner(
        dest=path,
        content=desired,
        validate=in_config_tree(path, f"/usr/sbin/php-fpm{php} -t"),
        user=live["user"],
        group=live["group"],
        mode=f"{live['mode']:04d}",
        keep_backups=keep_backups,
    )
