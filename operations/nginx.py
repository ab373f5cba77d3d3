"""conf.d files of ours inside the user's nginx: judged by ``nginx -t`` together with the
whole configuration before they go live, nginx reloaded after when it runs.

Example (a deploy file)::

    from operations.nginx import nginx_conf, remove_nginx_conf
    nginx_conf("/etc/nginx/conf.d/observability-stack-status.conf", text, keep_backups=10)
    remove_nginx_conf("/etc/nginx/conf.d/observability-stack-status.conf")
"""

from __future__ import annotations

from pyinfra.operations import files

from operations.config import in_config_tree, managed_config
from operations.service import reload_if_running

UNIT = "nginx.service"


def nginx_conf(dest: str, content: str, keep_backups: int) -> None:
    """``dest`` holds ``content`` once nginx accepts it; the user's sites are never edited,
    and a file nginx rejects never replaces a working one."""
    change = managed_config(
        name=f"nginx: {dest}",
        dest=dest,
        content=content,
        validate=in_config_tree(dest, "nginx -t -q"),
        mode="0644",
        keep_backups=keep_backups,
    )
    reload_if_running(UNIT, f"{dest} changed", change.did_change)


def remove_nginx_conf(dest: str) -> None:
    """No ``dest``; nginx reloaded if it was there."""
    change = files.file(name=f"Remove {dest}", path=dest, present=False)
    reload_if_running(UNIT, f"{dest} removed", change.did_change)
