"""The observability server's components: Prometheus, Alertmanager, the nginx reverse proxy
and blackbox_exporter.

Prometheus and Alertmanager listen on loopback only and serve under their location behind
the proxy (``route_prefix``), so their links work there.

Example::

    >>> from obsstack.catalog.server import PROMETHEUS
    >>> PROMETHEUS.archive.binaries, PROMETHEUS.proxy.path
    (('prometheus', 'promtool'), '/prometheus/')
"""

from __future__ import annotations

from obsstack.catalog.schema import (
    ANYWHERE,
    Account,
    Component,
    Directory,
    Health,
    Hooks,
    Listen,
    Opening,
    ProxyLocation,
    ReleaseArchive,
    Scrape,
    Secret,
    Unit,
    UnitContext,
)

SERVER = ("observability",)

PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
PROMETHEUS_RULES_DIR = f"{PROMETHEUS_CONFIG_DIR}/rules"
PROMETHEUS_FILE_SD_DIR = f"{PROMETHEUS_CONFIG_DIR}/file_sd"
PROMETHEUS_DATA_DIR = "/var/lib/prometheus"
PROMETHEUS_ROUTE = "/prometheus"


def prometheus_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={PROMETHEUS_CONFIG_DIR}/prometheus.yml",
        f"--storage.tsdb.path={PROMETHEUS_DATA_DIR}",
        f"--storage.tsdb.retention.time={unit.settings['prometheus_retention_time']}",
        f"--storage.tsdb.retention.size={unit.settings['prometheus_retention_size']}",
        f"--web.listen-address={unit.listen}",
        f"--web.external-url={unit.external_url}",
        f"--web.route-prefix={PROMETHEUS_ROUTE}",
    ]


PROMETHEUS = Component(
    name="prometheus",
    summary="scrapes every host's exporters and evaluates the alert rules",
    roles=SERVER,
    archive=ReleaseArchive("prometheus/prometheus", "prometheus", ("prometheus", "promtool")),
    account=Account("prometheus", PROMETHEUS_DATA_DIR),
    unit=Unit(
        "prometheus.service",
        description="Prometheus monitoring server",
        documentation="https://prometheus.io/docs/",
        flags=prometheus_flags,
        read_write=(PROMETHEUS_DATA_DIR,),
    ),
    directories=(
        Directory(PROMETHEUS_CONFIG_DIR),
        Directory(PROMETHEUS_RULES_DIR, prune_suffix=".yml"),
        Directory(PROMETHEUS_FILE_SD_DIR, prune_suffix=".yml"),
    ),
    listens=(Listen("prometheus_port"),),
    route_prefix=PROMETHEUS_ROUTE,
    proxy=ProxyLocation("prometheus", f"{PROMETHEUS_ROUTE}/"),
    scrape=Scrape("prometheus"),
    health=Health("/-/ready", disk=True),
    hooks=Hooks(files="deploys.prometheus:config_files"),
)

ALERTMANAGER_CONFIG_DIR = "/etc/alertmanager"
ALERTMANAGER_DATA_DIR = "/var/lib/alertmanager"
ALERTMANAGER_ROUTE = "/alertmanager"
SMTP_PASSWORD = Secret(
    "smtp_password",
    "password Alertmanager logs in to the SMTP relay with",
    generated=False,
    kept_in=f"{ALERTMANAGER_CONFIG_DIR}/smtp_password",
    needed_when="alertmanager_email.auth_username",
)


def alertmanager_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
        f"--storage.path={ALERTMANAGER_DATA_DIR}",
        f"--web.listen-address={unit.listen}",
        f"--web.external-url={unit.external_url}",
        f"--web.route-prefix={ALERTMANAGER_ROUTE}",
        # A single server: no gossip port for a cluster that does not exist.
        "--cluster.listen-address=",
    ]


ALERTMANAGER = Component(
    name="alertmanager",
    summary="mails the alerts",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/alertmanager", "alertmanager", ("alertmanager", "amtool")
    ),
    account=Account("alertmanager", ALERTMANAGER_DATA_DIR),
    unit=Unit(
        "alertmanager.service",
        description="Prometheus Alertmanager",
        documentation="https://prometheus.io/docs/alerting/latest/alertmanager/",
        flags=alertmanager_flags,
        read_write=(ALERTMANAGER_DATA_DIR,),
    ),
    directories=(Directory(ALERTMANAGER_CONFIG_DIR),),
    listens=(Listen("alertmanager_port"),),
    route_prefix=ALERTMANAGER_ROUTE,
    proxy=ProxyLocation("alertmanager", f"{ALERTMANAGER_ROUTE}/", "alertmanager_write"),
    scrape=Scrape("alertmanager"),
    health=Health("/-/ready", disk=True),
    secrets=(SMTP_PASSWORD,),
    hooks=Hooks(files="deploys.alertmanager:config_files"),
)

# Debian's nginx, with certbot: the package ships the program and its unit. Its password
# files are ours (one per permission of proxy_users; nginx's workers read them).
HTPASSWD_DIR = "/etc/nginx/htpasswd"
NGINX_GROUP = "www-data"
PROXY_PASSWORD = Secret(
    "proxy_password_",
    "password of proxy user {key!r}",
    generated=True,
    kept_in=HTPASSWD_DIR,
    one_per="proxy_users",
    key_name="user",
)
NGINX = Component(
    name="nginx",
    summary="the reverse proxy: TLS from an ACME CA, basic auth per location",
    roles=SERVER,
    packaged_binary="/usr/sbin/nginx",
    unit=Unit("nginx.service"),
    # Password files of locations no longer served go (prune every unlisted file).
    directories=(Directory(HTPASSWD_DIR, prune_suffix="", group=NGINX_GROUP),),
    listens=(Listen(80), Listen(443)),
    secrets=(PROXY_PASSWORD,),
    firewall=(
        Opening(80, ANYWHERE, "http (ACME, redirect)"),
        Opening(443, ANYWHERE, "https"),
    ),
    hooks=Hooks(
        before="deploys.proxy:prepare",
        files="deploys.proxy:config_files",
        after="deploys.proxy:certificate",
        remove="deploys.proxy:remove_site",
    ),
)

BLACKBOX_CONFIG_DIR = "/etc/blackbox_exporter"


def blackbox_exporter_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={BLACKBOX_CONFIG_DIR}/blackbox.yml",
        f"--web.listen-address={unit.listen}",
    ]


BLACKBOX_EXPORTER = Component(
    name="blackbox_exporter",
    summary="probes the URLs in blackbox_targets (none: not installed)",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/blackbox_exporter", "blackbox_exporter", ("blackbox_exporter",)
    ),
    enabled_by="blackbox_targets",
    account=Account("blackbox-exp", "/var/lib/blackbox_exporter"),
    unit=Unit(
        "blackbox_exporter.service",
        description="Prometheus blackbox_exporter (probes of URLs)",
        documentation="https://github.com/prometheus/blackbox_exporter",
        flags=blackbox_exporter_flags,
    ),
    directories=(Directory(BLACKBOX_CONFIG_DIR),),
    listens=(Listen("blackbox_exporter_port"),),
    # Its job (blackbox) probes the URLs of blackbox_targets: deploys/prometheus.py.
    health=Health("/-/healthy"),
    rules="blackbox",
    hooks=Hooks(files="deploys.blackbox_exporter:config_files"),
)
