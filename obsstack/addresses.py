"""Where a host's exporters listen, and where Prometheus reaches them.

On the observability server everything listens on loopback and its own Prometheus scrapes
it there. A monitored host's exporters listen on one address only: ``listen_address`` when
its data sets one, otherwise the address Prometheus scrapes it at (``ssh_hostname`` or the
inventory name, resolved on the controller). Nothing listens on every interface, so an
address the firewall does not cover (IPv6, a second network) reaches nothing.

Example::

    >>> from obsstack.addresses import host_port, listen_address
    >>> listen_address("web1", ["monitored"], {"ssh_hostname": "10.0.0.5"})
    '10.0.0.5'
    >>> host_port("2001:db8::5", 9100)
    '[2001:db8::5]:9100'
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from obsstack.fields import instance_label

LOOPBACK = "127.0.0.1"


class AddressError(Exception):
    """A host's listen address cannot be determined; the message says what to set."""


def on_loopback(groups: Iterable[str]) -> bool:
    """The observability server's daemons are reached on loopback (its own Prometheus)."""
    return "observability" in groups


def scrape_host(name: str, groups: Iterable[str], data: Mapping[str, Any]) -> str:
    """The host name or address Prometheus scrapes the host's exporters at."""
    if on_loopback(groups):
        return LOOPBACK
    return data.get("ssh_hostname") or instance_label(name)


def listen_address(name: str, groups: Iterable[str], data: Mapping[str, Any]) -> str:
    """The one IP address the host's exporters listen on."""
    if on_loopback(groups):
        return LOOPBACK
    if data.get("listen_address"):
        return str(data.get("listen_address"))
    target = scrape_host(name, groups, data)
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(target, None, type=socket.SOCK_STREAM)
    except OSError as error:
        raise AddressError(
            f"{name}: cannot resolve {target!r} to the address its exporters listen on "
            f"({error}); set listen_address in its data"
        ) from error
    return str(answers[0][4][0])


def host_port(address: str, port: int) -> str:
    """``address:port``, with an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass  # a host name
    return f"{address}:{port}"
