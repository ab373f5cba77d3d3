"""PHP-FPM agent: each pool's own status page, in OpenMetrics form, straight to Prometheus.

FPM (8.1+) renders its status page as OpenMetrics (``?openmetrics``), with every series the
alerts need, so no exporter runs. A server of ours in nginx (a conf.d file on
``php_fpm_status_port``) answers ``/php<version>/<pool>`` by asking that pool's status
socket (or its own socket) for its page, for the observability server only (nginx's allow
list, and UFW). A pool without a status page gets one that no site can reach
(``operations.fpm_pools``): FPM reloads once for that.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from deploys.common import exporter_address, installation
from deploys.firewall import scrape_sources
from obsstack.catalog.agents import PHP_FPM
from obsstack.render import render_template
from operations.fpm_pools import PhpFpmInstall, PhpFpmPools, pool_problem, pool_status_lines
from operations.nginx import nginx_conf, remove_nginx_conf
from operations.service import reload_if_running

STATUS_SERVER_CONFIG = "/etc/nginx/conf.d/observability-stack-php-fpm.conf"


@deploy("PHP-FPM agent")
def apply() -> None:
    """Every pool's status page, served to the observability server."""
    installs = host.get_fact(PhpFpmPools)
    pools = [pool for install in installs for pool in install.pools]
    problems = [install.error for install in installs if install.error]
    problems += [problem for pool in pools if (problem := pool_problem(pool))]
    if not pools and not problems:
        problems.append("no PHP-FPM pool found (/usr/sbin/php-fpmX.Y -tt)")
    if problems:
        raise PyinfraError(f"{host.name}: php_fpm agent: " + "; ".join(problems))
    for install in host.loop(installs):
        _status_lines(install, serve=True)
    nginx_conf(
        STATUS_SERVER_CONFIG,
        render_template(
            "nginx/php_fpm_status.conf.j2",
            {
                "listen": exporter_address(PHP_FPM.listen.number(host.data.dict())),
                "sources": scrape_sources(),
                "pools": [
                    {
                        "location": pool.location,
                        "status_path": pool.served_status_path,
                        "fastcgi_address": pool.served_status_address,
                    }
                    for pool in pools
                ],
            },
        ),
        keep_backups=installation().keep_backups,
    )


@deploy("Remove the PHP-FPM agent")
def remove() -> None:
    """No status server, and no status line of ours in any pool file."""
    for install in host.loop(host.get_fact(PhpFpmPools)):
        _status_lines(install, serve=False)
    remove_nginx_conf(STATUS_SERVER_CONFIG)


def _status_lines(install: PhpFpmInstall, serve: bool) -> None:
    """With ``serve``, our status line for each pool of ``install`` without a status page
    of its own; without, none; FPM reloaded when a file changed."""
    wanted: dict[str, list[str]] = {path: [] for path in install.marked_files}
    for pool in install.pools:
        if pool.file:
            wanted.setdefault(pool.file, [])
            if serve and not pool.has_status_of_its_own:
                wanted[pool.file].append(pool.name)
    changes = [
        pool_status_lines(
            name=f"PHP-FPM {install.php}: status page lines in {path}",
            path=path,
            php=install.php,
            pools=names,
            keep_backups=installation().keep_backups,
        )
        for path, names in host.loop(sorted(wanted.items()))
    ]
    reload_if_running(
        install.unit,
        "a pool's status page changed",
        lambda: any(change.did_change() for change in changes),
    )
