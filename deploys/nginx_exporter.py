"""nginx agent: nginx's stub_status on loopback, read by nginx-prometheus-exporter.

The status location is a server of its own on 127.0.0.1, in a conf.d file of ours, checked
with ``nginx -t`` against the whole configuration before it goes live: the user's sites are
never edited and a broken status file never replaces a working one.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys.common import installation
from obsstack.catalog.agents import NGINX_STATUS_PATH
from obsstack.render import render_template
from operations.nginx import nginx_conf, remove_nginx_conf

STATUS_CONFIG = "/etc/nginx/conf.d/observability-stack-status.conf"


@deploy("nginx's stub_status server")
def status_config() -> None:
    """The stub_status server nginx must have before the exporter can read it."""
    nginx_conf(
        STATUS_CONFIG,
        render_template(
            "nginx/status.conf.j2",
            {"port": host.data.nginx_stub_status_port, "path": NGINX_STATUS_PATH},
        ),
        keep_backups=installation().keep_backups,
    )


@deploy("Remove nginx's stub_status server")
def remove_status_config() -> None:
    """No nginx agent: no status server either."""
    remove_nginx_conf(STATUS_CONFIG)
