"""Which services each role runs, with their units, ports and health endpoints.

Example::

    from obsstack.roles import services_for
    [s.unit for s in services_for(["observability"])]
    # ['node_exporter.service', 'prometheus.service', 'alertmanager.service']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    component: str
    unit: str
    port_key: str  # the settings key holding its port
    health_path: str  # answers 200 when the service is healthy (below route_prefix)
    user: str
    data_dir: str
    config_dir: str | None
    # The path it serves under, its location behind the proxy ("" = the root).
    route_prefix: str = ""

    @property
    def ready_path(self) -> str:
        return self.route_prefix + self.health_path


NODE_EXPORTER = Service(
    "node_exporter",
    "node_exporter.service",
    "node_exporter_port",
    "/metrics",
    "node-exp",
    "/var/lib/node_exporter",
    None,
)
PROMETHEUS = Service(
    "prometheus",
    "prometheus.service",
    "prometheus_port",
    "/-/ready",
    "prometheus",
    "/var/lib/prometheus",
    "/etc/prometheus",
    "/prometheus",
)
ALERTMANAGER = Service(
    "alertmanager",
    "alertmanager.service",
    "alertmanager_port",
    "/-/ready",
    "alertmanager",
    "/var/lib/alertmanager",
    "/etc/alertmanager",
    "/alertmanager",
)

ROLES = ("observability", "monitored")
EVERY_HOST = (NODE_EXPORTER,)
ROLE_SERVICES = {"observability": (PROMETHEUS, ALERTMANAGER), "monitored": ()}


def services_for(groups: Iterable[str]) -> list[Service]:
    """The services a host in ``groups`` runs, node_exporter first."""
    services = list(EVERY_HOST)
    for role in ROLES:
        if role in groups:
            services.extend(ROLE_SERVICES[role])
    return services
