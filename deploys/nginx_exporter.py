"""nginx agent: nginx's stub_status on loopback, read by nginx-prometheus-exporter.

The status location is a server of its own on 127.0.0.1, in a conf.d file of ours, checked
with ``nginx -t`` against the whole configuration before it goes live: the user's sites are
never edited and a broken status file never replaces a working one.
"""

from __future__ import annotations

from pyinfra import host

from deploys.common import daemon_unit, exporter_address, installation, pinned
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.render import render_template
from operations.converge import DesiredState, retire
from operations.nginx import nginx_conf, remove_nginx_conf

USER = "nginx-exp"
UNIT = "nginx_exporter.service"
STATUS_CONFIG = "/etc/nginx/conf.d/observability-stack-status.conf"
STATUS_PATH = "/stub_status"
DATA_DIR = "/var/lib/nginx_exporter"


def status_config() -> None:
    """The stub_status server nginx must have before the exporter can read it."""
    nginx_conf(
        STATUS_CONFIG,
        render_template(
            "nginx/status.conf.j2",
            {"port": host.data.nginx_stub_status_port, "path": STATUS_PATH},
        ),
        keep_backups=installation().keep_backups,
    )


def component() -> DesiredState:
    scrape_uri = f"http://127.0.0.1:{host.data.nginx_stub_status_port}{STATUS_PATH}"
    return DesiredState(
        name="nginx_exporter",
        **pinned("nginx_exporter"),
        user=USER,
        home=DATA_DIR,
        unit=UNIT,
        unit_text=daemon_unit(
            description="nginx-prometheus-exporter (nginx's stub_status as metrics)",
            documentation="https://github.com/nginx/nginx-prometheus-exporter",
            user=USER,
            exec_start=[
                "/usr/local/bin/nginx-prometheus-exporter",
                f"--nginx.scrape-uri={scrape_uri}",
                f"--web.listen-address={exporter_address(host.data.nginx_exporter_port)}",
            ],
            read_write_paths=[],
            reload_signal=None,
        ),
    )


def remove(purge: bool = False) -> None:
    """No nginx agent: no exporter, no status server; with ``purge``, no account either."""
    retire(
        "nginx_exporter",
        UNIT,
        RELEASE_ARCHIVES["nginx_exporter"].binaries,
        data_dir=DATA_DIR if purge else None,
        user=USER if purge else None,
    )
    remove_nginx_conf(STATUS_CONFIG)
