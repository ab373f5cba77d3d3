"""UFW on the observability server: SSH, HTTP and HTTPS in, nothing else."""

from __future__ import annotations

from pyinfra import host

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
    deb_packages(name="Install ufw", packages=["ufw"])
    ufw_firewall(name="Firewall: deny inbound but the listed rules", rules=rules, ssh_port=ssh_port)
