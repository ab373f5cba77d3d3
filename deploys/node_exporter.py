"""node_exporter: host metrics on every host, plus the textfile collector directory."""

from __future__ import annotations

from pyinfra import host

from deploys.common import daemon_unit, exporter_address, pinned
from operations.converge import DesiredState

USER = "node-exp"
TEXTFILE_DIR = "/var/lib/node_exporter"


def component() -> DesiredState:
    return DesiredState(
        name="node_exporter",
        **pinned("node_exporter"),
        user=USER,
        home=TEXTFILE_DIR,
        unit="node_exporter.service",
        unit_text=daemon_unit(
            description="Prometheus node_exporter (host metrics)",
            documentation="https://github.com/prometheus/node_exporter",
            user=USER,
            exec_start=[
                "/usr/local/bin/node_exporter",
                f"--web.listen-address={exporter_address(host.data.node_exporter_port)}",
                f"--collector.textfile.directory={TEXTFILE_DIR}",
                "--collector.systemd",
                *host.data.node_exporter_extra_flags,
            ],
            read_write_paths=[],
            reload_signal=None,
            address_families=("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"),
        ),
    )
