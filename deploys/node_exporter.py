"""node_exporter: host metrics on every host, plus the textfile collector directory."""

from __future__ import annotations

from pyinfra import host

from deploys.common import backups_kept, install_release
from obsstack.render import render_template
from operations.service import daemon_account, service

USER = "node-exp"
TEXTFILE_DIR = "/var/lib/node_exporter"


def deploy() -> None:
    daemon_account(USER, home=TEXTFILE_DIR)
    binary = install_release("node_exporter")
    unit = render_template(
        "systemd/daemon.service.j2",
        {
            "description": "Prometheus node_exporter (host metrics)",
            "documentation": "https://github.com/prometheus/node_exporter",
            "user": USER,
            "exec_start": [
                "/usr/local/bin/node_exporter",
                f"--web.listen-address=:{host.data.node_exporter_port}",
                f"--collector.textfile.directory={TEXTFILE_DIR}",
                "--collector.systemd",
            ],
            "reload_signal": None,
            "read_write_paths": [],
            "address_families": ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"],
        },
    )
    service("node_exporter.service", unit, restart_on=[binary], keep_backups=backups_kept())
