"""The components every host runs: node_exporter, and its textfile directory, where the
stack's own metrics (health, drift, deploys, the fail2ban agent) reach Prometheus; and
Grafana Alloy, which ships the host's journal and its services' log files to Loki.

Example::

    >>> from obsstack.catalog.host import NODE_EXPORTER, TEXTFILE_DIR
    >>> NODE_EXPORTER.account.user, TEXTFILE_DIR
    ('node-exp', '/var/lib/node_exporter')
"""

from __future__ import annotations

from dataclasses import replace

from obsstack.catalog.schema import (
    EVERY_HOST,
    GRAFANA,
    SCRAPERS,
    Account,
    Component,
    Directory,
    Health,
    Hooks,
    Listen,
    Opening,
    Pin,
    ReleaseArchive,
    Scrape,
    Setting,
    Unit,
    UnitContext,
)
from obsstack.catalog.server import LOKI_PUSH_PASSWORD
from obsstack.fields import DURATION_FIELD, PERCENT, PORT, Field, check_flags, is_a, number

TEXTFILE_DIR = "/var/lib/node_exporter"
# The stack's own state on every host: the release history and the current release's id.
STATE_DIR = "/var/lib/observability-stack"
RELEASES_DIR = f"{STATE_DIR}/releases"
CURRENT = f"{STATE_DIR}/current"


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
    archive=ReleaseArchive(
        "prometheus/node_exporter",
        "node_exporter",
        ("node_exporter",),
        Pin("1.12.1", "b51d8a76aa2a9156a55d501aca6276fae09e262259a5e4e831d2c2222f084e63"),
    ),
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
    settings=(
        Setting("node_exporter_port", PORT, "node_exporter's port", 9100),
        Setting(
            "node_exporter_extra_flags",
            Field(check_flags, "a list of command-line flags such as ['--collector.processes']"),
            "more node_exporter flags (see node_exporter --help)",
            [],
        ),
    ),
    alert_thresholds=(
        Setting(
            "instance_down_for",
            DURATION_FIELD,
            "InstanceDown: how long a scrape target must fail (up == 0) before it alerts",
            "2m",
        ),
        Setting(
            "filesystem_free_critical_percent",
            PERCENT,
            "NodeFilesystemAlmostFull (critical): free space below this percent",
            5,
        ),
        Setting(
            "filesystem_almost_full_for",
            DURATION_FIELD,
            "NodeFilesystemAlmostFull: how long free space must stay below that",
            "15m",
        ),
        Setting(
            "filesystem_free_warning_percent",
            PERCENT,
            "NodeFilesystemFillingUp (warning): only considered below this free percent",
            20,
        ),
        Setting(
            "filesystem_fill_prediction_hours",
            number(1, 24 * 365, "hours ahead, 1 or more"),
            "NodeFilesystemFillingUp: the 6h trend predicts zero free space within this",
            24,
        ),
        Setting(
            "filesystem_filling_up_for",
            DURATION_FIELD,
            "NodeFilesystemFillingUp: how long the prediction must hold",
            "1h",
        ),
        Setting(
            "memory_available_warning_percent",
            PERCENT,
            "NodeMemoryLow (warning): MemAvailable below this percent of MemTotal",
            10,
        ),
        Setting(
            "memory_low_for",
            DURATION_FIELD,
            "NodeMemoryLow: how long memory must stay that low",
            "15m",
        ),
        Setting(
            "load15_per_cpu_warning",
            number(0.1, 1000, "a load per CPU such as 2"),
            "NodeHighLoad (warning): 15-minute load average per CPU above this",
            2,
        ),
        Setting(
            "high_load_for",
            DURATION_FIELD,
            "NodeHighLoad: how long the load must stay that high",
            "30m",
        ),
        Setting(
            "clock_offset_warning_seconds",
            number(0.001, 3600, "seconds such as 0.05"),
            "NodeClockSkew (warning): clock offset beyond plus or minus this many seconds",
            0.05,
        ),
        Setting(
            "clock_skew_for",
            DURATION_FIELD,
            "NodeClockSkew: how long the offset must persist without NTP correcting it",
            "10m",
        ),
        Setting(
            "systemd_unit_failed_for",
            DURATION_FIELD,
            "NodeSystemdUnitFailed (warning): how long a unit must stay failed",
            "5m",
        ),
    ),
)

ALLOY_CONFIG_DIR = "/etc/alloy"
ALLOY_DATA_DIR = "/var/lib/alloy"
# Alloy keeps its positions (journal cursor, file offsets) under its storage path.
ALLOY_STORAGE_DIR = f"{ALLOY_DATA_DIR}/data"
ALLOY_PUSH_PASSWORD_FILE = f"{ALLOY_CONFIG_DIR}/loki_push_password"


def alloy_flags(unit: UnitContext) -> list[str]:
    return [
        "run",
        f"--server.http.listen-addr={unit.listen}",
        f"--storage.path={ALLOY_STORAGE_DIR}",
        "--disable-reporting",
        f"{ALLOY_CONFIG_DIR}/config.alloy",
    ]


ALLOY = Component(
    name="alloy",
    summary="ships the journal and the services' log files to Loki (Grafana Alloy)",
    roles=EVERY_HOST,
    archive=ReleaseArchive(
        "grafana/alloy",
        "alloy",
        ("alloy",),
        # Published by three unrelated projects' pins, all agreeing (upstream's SHA256SUMS
        # could not be fetched from here).
        Pin("1.20.1", "451fe650e8277d22d69cb8db50bba809f581fe78decba7fce4027ef185457be9"),
        layout=GRAFANA,
    ),
    enabled_by="alloy_enabled",
    # adm reads /var/log (nginx, MariaDB, fail2ban), systemd-journal the journal; without
    # them Alloy runs "healthy" and reads nothing.
    account=Account("alloy", ALLOY_DATA_DIR, groups=("adm", "systemd-journal")),
    unit=Unit(
        "alloy.service",
        description="Grafana Alloy (ships logs to Loki)",
        documentation="https://grafana.com/docs/alloy/latest/",
        flags=alloy_flags,
        read_write=(ALLOY_DATA_DIR,),
    ),
    directories=(Directory(ALLOY_CONFIG_DIR),),
    listens=(Listen("alloy_port"),),
    scrape=Scrape("alloy"),
    health=Health("/-/ready"),
    # Its own push password, on a monitored host (the server's Alloy pushes to loopback).
    secrets=(replace(LOKI_PUSH_PASSWORD, kept_in=ALLOY_PUSH_PASSWORD_FILE),),
    firewall=(Opening("alloy_port", SCRAPERS),),
    hooks=Hooks(files="deploys.alloy:config_files"),
    settings=(
        Setting(
            "alloy_enabled",
            is_a(bool, "True or False"),
            "ship this host's journal and its services' log files to Loki with Grafana Alloy",
            True,
        ),
        Setting("alloy_port", PORT, "Alloy's HTTP port (metrics, readiness)", 12345),
    ),
)

ENTRIES = (NODE_EXPORTER, ALLOY)
