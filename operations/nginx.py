"""conf.d files of ours inside the user's nginx: judged by ``nginx -t`` together with the
whole configuration before they go live, nginx reloaded after when it runs; and Debian's
default site, removed only while it is the package's own.

Example (a deploy file)::

    from operations.nginx import nginx_conf, remove_nginx_conf
    nginx_conf("/etc/nginx/conf.d/observability-stack-status.conf", text, keep_backups=10)
    remove_nginx_conf("/etc/nginx/conf.d/observability-stack-status.conf")
    remove_packaged_default_site(name="Default site", link="/etc/nginx/sites-enabled/default")
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from pyinfra.api.exceptions import FactProcessError
from pyinfra.operations import files
from typing_extensions import override

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


PACKAGED_DEFAULT_SITE = "/etc/nginx/sites-available/default"


class DefaultSiteState(FactBase[str]):
    """
    Returns what ``link`` (Debian's ``sites-enabled/default``) is: ``absent``,
    ``packaged`` (a link to the site the nginx package shipped, unmodified: its md5 is
    dpkg's record of the conffile) or ``changed`` (anything else: the user's own).

    + link: the enabled site's path

    .. code:: python

        "packaged"
    """

    @override
    def command(self, link: str) -> StringCommand:
        return StringCommand(
            "link=" + shlex.quote(link) + ";"
            ' if [ ! -e "$link" ] && [ ! -L "$link" ]; then echo absent; exit 0; fi;'
            f' if [ ! -L "$link" ] || [ "$(readlink -f "$link")" != {PACKAGED_DEFAULT_SITE} ];'
            " then echo changed; exit 0; fi;"
            f" sum=$(md5sum < {PACKAGED_DEFAULT_SITE} | cut -d' ' -f1);"
            " dpkg-query -W -f='${Conffiles}\\n' nginx nginx-common 2>/dev/null"
            f" | awk -v f={PACKAGED_DEFAULT_SITE} '$1 == f {{print $2}}' | grep -qx \"$sum\""
            " && echo packaged || echo changed"
        )

    @override
    def process(self, output: list[str]) -> str:
        state = output[-1].strip() if output else ""
        if state not in ("absent", "packaged", "changed"):
            raise FactProcessError(f"unexpected answer {state!r}")
        return state


@operation()
def remove_packaged_default_site(link: str):
    """
    Remove ``link`` while it enables the nginx package's own default site, unmodified.

    + link: ``/etc/nginx/sites-enabled/default``

    A default site the user changed (or replaced with a file of their own) is theirs: it
    stays, and keeps answering the names our site does not serve.
    """
    state = host.get_fact(DefaultSiteState, link=link)
    if state != "packaged":
        host.noop(f"{link} is {state}: left as it is")
        return
    yield StringCommand("rm", "-f", QuoteString(link))
