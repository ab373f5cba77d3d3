"""The observability server's components: Prometheus, Alertmanager, the nginx reverse proxy
and blackbox_exporter.

Example::

    >>> from obsstack.catalog.server import PROMETHEUS
    >>> PROMETHEUS.archive.binaries
    ('prometheus', 'promtool')
"""

from __future__ import annotations

from obsstack.catalog.schema import Component, ReleaseArchive

SERVER = ("observability",)

PROMETHEUS = Component(
    name="prometheus",
    summary="scrapes every host's exporters and evaluates the alert rules",
    roles=SERVER,
    archive=ReleaseArchive("prometheus/prometheus", "prometheus", ("prometheus", "promtool")),
)
ALERTMANAGER = Component(
    name="alertmanager",
    summary="mails the alerts",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/alertmanager", "alertmanager", ("alertmanager", "amtool")
    ),
)
# Debian's nginx, with certbot: the package ships the program and its unit.
NGINX = Component(
    name="nginx",
    summary="the reverse proxy: TLS from an ACME CA, basic auth per location",
    roles=SERVER,
)
BLACKBOX_EXPORTER = Component(
    name="blackbox_exporter",
    summary="probes the URLs in blackbox_targets (none: not installed)",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/blackbox_exporter", "blackbox_exporter", ("blackbox_exporter",)
    ),
)
