"""The component every host runs: node_exporter, and its textfile directory, where the
stack's own metrics (health, drift, deploys, the fail2ban agent) reach Prometheus.

Example::

    >>> from obsstack.catalog.host import NODE_EXPORTER, TEXTFILE_DIR
    >>> NODE_EXPORTER.account.user, TEXTFILE_DIR
    ('node-exp', '/var/lib/node_exporter')
"""

from __future__ import annotations

from obsstack.catalog.schema import (
    EVERY_HOST,
    SCRAPERS,
    Account,
    Component,
    Health,
    Listen,
    Opening,
    ReleaseArchive,
    Scrape,
    Unit,
    UnitContext,
)

TEXTFILE_DIR = "/var/lib/node_exporter"


def node_exporter_flags(unit: UnitContext) -> list[str]:
    return [
        f"--web.listen-address={unit.listen}",
        f"--collector.textfile.directory={TEXTFILE_DIR}",
        "--collector.systemd",
        *unit.settings["node_exporter_extra_flags"],
    ]


NODE_EXPORTER = Component(
    name="node_exporter",
    summary="host metrics, and the textfile collector the stack's own metrics go through",
    roles=EVERY_HOST,
    archive=ReleaseArchive("prometheus/node_exporter", "node_exporter", ("node_exporter",)),
    account=Account("node-exp", TEXTFILE_DIR),
    unit=Unit(
        "node_exporter.service",
        description="Prometheus node_exporter (host metrics)",
        documentation="https://github.com/prometheus/node_exporter",
        flags=node_exporter_flags,
        reload_signal=None,
        address_families=("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"),
    ),
    listens=(Listen("node_exporter_port"),),
    scrape=Scrape("node"),
    health=Health("/metrics", disk=True),
    firewall=(Opening("node_exporter_port", SCRAPERS),),
)
