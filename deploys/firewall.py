"""UFW on every host: SSH, what the stack needs, the user's extra rules; nothing else in.

The observability server takes HTTP and HTTPS (its proxy) from anywhere. A monitored host
takes its exporters' scrapes from the observability server's address only.
"""

from __future__ import annotations

import ipaddress
import socket

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError

from deploys.common import SCRAPED_AGENTS, scraped_ports
from operations.firewall import FirewallRule, ufw_firewall
from operations.packages import deb_packages

DEFAULT_SSH_PORT = 22


def apply() -> None:
    ssh_port = host.data.get("ssh_port") or DEFAULT_SSH_PORT
    rules = [FirewallRule(ssh_port, comment="observability-stack: ssh")]
    if "observability" in host.groups:
        rules += [
            FirewallRule(80, comment="observability-stack: http (ACME, redirect)"),
            FirewallRule(443, comment="observability-stack: https"),
        ]
    else:
        rules += [
            FirewallRule(port, source=source, comment=f"observability-stack: {exporter}")
            for exporter, port in exporter_ports().items()
            for source in scrape_sources()
        ]
    rules += [
        FirewallRule(
            rule["port"],
            proto=rule.get("proto", "tcp"),
            source=rule.get("source"),
            comment=rule.get("comment", ""),
        )
        for rule in host.data.firewall_extra_rules
    ]
    deb_packages(name="Install ufw", packages=["ufw"])
    ufw_firewall(name="Firewall: deny inbound but the listed rules", rules=rules, ssh_port=ssh_port)


def exporter_ports() -> dict[str, int]:
    """The ports Prometheus scrapes on this host, by what listens there."""
    ports = {"node_exporter": host.data.node_exporter_port}
    for agent, port in scraped_ports(host).items():
        ports[SCRAPED_AGENTS[agent][1]] = port
    return ports


def scrape_sources() -> list[str]:
    """The addresses the observability servers of the inventory scrape from."""
    sources = []
    for server in inventory:
        if "observability" not in server.groups:
            continue
        address = (
            server.data.get("scrape_address") or server.data.get("ssh_hostname") or server.name
        )
        sources.append(_as_ip(address, server.name))
    return sources


def _as_ip(address: str, server: str) -> str:
    try:
        return str(ipaddress.ip_network(address, strict=False))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(address)
    except OSError as error:
        raise PyinfraError(
            f"{server}: cannot resolve {address!r} to open the firewall of {host.name} to "
            f"its scrapes ({error}); set scrape_address in its data"
        ) from error
