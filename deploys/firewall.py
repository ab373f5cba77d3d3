"""UFW on every host: SSH, what the stack needs, the user's extra rules; nothing else in.

What the stack needs are the openings of the components the host runs (their catalog
entries): the observability server takes HTTP and HTTPS (its proxy) from anywhere; a
monitored host takes its exporters' scrapes from the observability server's address only.
"""

from __future__ import annotations

import ipaddress
import socket

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from deploys.common import own_agents
from obsstack.addresses import on_loopback
from obsstack.catalog import running
from obsstack.catalog.schema import ANYWHERE
from operations.firewall import FirewallRule, SshdPorts, ufw_firewall
from operations.packages import deb_packages


@deploy("UFW firewall")
def apply() -> None:
    ports = ssh_ports()
    rules = [FirewallRule(port, comment="observability-stack: ssh") for port in ports]
    rules += openings()
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
    ufw_firewall(
        name="Firewall: deny inbound but the listed rules", rules=rules, ssh_ports=ports
    )


def ssh_ports() -> list[int]:
    """The port this deploy is connected on, and every port sshd listens on.

    pyinfra may have taken the port from ~/.ssh/config rather than ``ssh_port``; and a
    second port sshd listens on may be how someone else gets in. All of them stay open.
    """
    ports = set(host.get_fact(SshdPorts))
    connected = connected_ssh_port()
    if connected:
        ports.add(connected)
    return sorted(ports)


def connected_ssh_port() -> int | None:
    """The port of this deploy's own SSH connection to the host (None: not over SSH)."""
    client = getattr(host.connector, "client", None)
    if client is None:
        return host.data.get("ssh_port")
    # The port paramiko connected to after ~/.ssh/config and ssh_port were applied.
    return int(client._ssh_config["port"])


def openings() -> list[FirewallRule]:
    """The rules the components this host runs need, in catalog order.

    Ports opened to the scrapers stay closed where the daemons listen on loopback (the
    observability server, whose own Prometheus scrapes them there).
    """
    rules = []
    for component in running(host.groups, host.data.dict(), own_agents()):
        for opening in component.firewall:
            port = opening.number(host.data.dict())
            comment = f"observability-stack: {opening.comment or component.name}"
            if opening.source == ANYWHERE:
                rules.append(FirewallRule(port, comment=comment))
            elif not on_loopback(host.groups):
                rules += [
                    FirewallRule(port, source=source, comment=comment)
                    for source in scrape_sources()
                ]
    return rules


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
    """One host's IP address: ``address`` itself (``/32`` allowed), or what it resolves to."""
    try:
        resolved = ipaddress.ip_network(address).network_address
    except ValueError:
        try:
            resolved = ipaddress.ip_address(socket.gethostbyname(address))
        except OSError as error:
            raise PyinfraError(
                f"{server}: cannot resolve {address!r} to open the firewall of {host.name} to "
                f"its scrapes ({error}); set scrape_address in its data"
            ) from error
    if resolved.is_unspecified or resolved.is_multicast:
        raise PyinfraError(
            f"{server}: {address!r} is {resolved}, not the address of a host: set "
            "scrape_address in its data"
        )
    return str(resolved)
