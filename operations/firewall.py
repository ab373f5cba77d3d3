"""A UFW firewall that allows exactly the listed rules and denies every other inbound packet.

Rules are compared in the form ``ufw show added`` prints them, so a host that already
matches gets no command at all. Rules are added before any is removed and before the
firewall is enabled, and a rule for every SSH port in use is mandatory: a deploy cannot
lock itself out.

Example (a deploy file)::

    from operations.firewall import FirewallRule, ufw_firewall
    ufw_firewall(
        name="Firewall",
        rules=[FirewallRule(22, comment="ssh"), FirewallRule(9100, source="10.0.0.5")],
        ssh_ports=[22],
    )
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, OperationError, operation
from pyinfra.api.exceptions import FactProcessError
from typing_extensions import override

UFW_DEFAULTS = "/etc/default/ufw"
# ufw's word for the policy, by the iptables target /etc/default/ufw stores.
POLICY_NAMES = {"DROP": "deny", "REJECT": "reject", "ACCEPT": "allow"}


@dataclass(frozen=True)
class FirewallRule:
    """Allow inbound ``proto`` traffic to ``port`` from ``source`` (None: from anywhere)."""

    port: int
    proto: str = "tcp"
    source: str | None = None  # an address or network; None or a /0 network: anywhere
    comment: str = ""

    def __post_init__(self) -> None:
        if "'" in self.comment:
            raise ValueError(f"firewall rule comment {self.comment!r}: no quote characters")

    @property
    def ufw_source(self) -> str | None:
        """The source as ufw stores it: a network without host bits, an address without /32."""
        if self.source is None:
            return None
        network = ipaddress.ip_network(self.source, strict=False)
        if network.prefixlen == 0:
            return None
        if network.prefixlen == network.max_prefixlen:
            return str(network.network_address)
        return str(network)

    def spec(self) -> str:
        """The rule as ``ufw show added`` prints it, without ``ufw`` and the comment."""
        if self.ufw_source is None:
            return f"allow {self.port}/{self.proto}"
        return f"allow from {self.ufw_source} to any port {self.port} proto {self.proto}"

    def added_line(self) -> str:
        """The whole line ``ufw show added`` prints for this rule (it always quotes comments)."""
        comment = f" comment '{self.comment}'" if self.comment else ""
        return f"ufw {self.spec()}{comment}"

    def covers_ssh(self, ssh_port: int) -> bool:
        return self.port == ssh_port and self.proto == "tcp" and self.ufw_source is None


class UfwState(FactBase[dict[str, Any]]):
    """
    Returns whether UFW is active, its default inbound/outbound policies and the rules
    added to it (as ``ufw show added`` prints them; listed even while UFW is inactive).

    .. code:: python

        {"active": True, "incoming": "deny", "outgoing": "allow",
         "rules": ["ufw allow 22/tcp comment 'ssh'"]}
    """

    requires_command = "ufw"

    @staticmethod
    def default() -> dict[str, Any]:
        return {"active": False, "incoming": None, "outgoing": None, "rules": []}

    @override
    def command(self) -> str:
        # As `ufw status` tells (its chains are loaded), without starting Python for it;
        # iptables failing otherwise is an error, never "inactive".
        return (
            "iptables -n -L ufw-user-input >/dev/null 2>&1; loaded=$?;"
            ' case $loaded in 0) echo "Status: active";; 1) echo "Status: inactive";;'
            ' *) echo "iptables -L failed ($loaded)" >&2; exit 1;; esac;'
            f" grep -E '^DEFAULT_(INPUT|OUTPUT)_POLICY=' {UFW_DEFAULTS};"
            " ufw show added"
        )

    @override
    def process(self, output: list[str]) -> dict[str, Any]:
        state = self.default()
        for line in output:
            if line.startswith("Status:"):
                state["active"] = line.split(":", 1)[1].strip() == "active"
            elif line.startswith("DEFAULT_"):
                key, value = line.split("=", 1)
                direction = "incoming" if key == "DEFAULT_INPUT_POLICY" else "outgoing"
                state[direction] = POLICY_NAMES.get(value.strip().strip('"'), value)
            elif line.startswith("ufw "):
                state["rules"].append(line.strip())
        return state


class SshdPorts(FactBase[list[int]]):
    """
    Returns the TCP ports sshd listens on (its own sockets, and those systemd holds for a
    socket-activated ``ssh.socket``), sorted; empty when neither listens.

    .. code:: python

        [22, 2222]
    """

    requires_command = "ss"

    @staticmethod
    def default() -> list[int]:
        return []

    @override
    def command(self) -> str:
        # ss failing is an error, not "no sshd": the firewall must never guess.
        return (
            "sockets=$(ss -ltnpH) || exit 1\n"
            "printf '%s\\n' \"$sockets\" | awk '/\\(\\(\"sshd\"/ {print \"@listen \" $4}'\n"
            "for unit in ssh.socket sshd.socket; do\n"
            '  [ "$(systemctl is-active "$unit" 2>/dev/null)" = active ] || continue\n'
            '  for address in $(systemctl show -p Listen --value "$unit"); do\n'
            '    case "$address" in *:[0-9]*) echo "@listen $address";; esac\n'
            "  done\n"
            "done\n"
        )

    @override
    def process(self, output: list[str]) -> list[int]:
        ports = set()
        for line in output:
            if not line.startswith("@listen "):
                continue
            port = line.rsplit(":", 1)[-1].strip()
            if not port.isdigit():
                raise FactProcessError(f"cannot read a port from {line!r}")
            ports.add(int(port))
        return sorted(ports)


@operation()
def ufw_firewall(rules: Sequence[FirewallRule], ssh_ports: Sequence[int]):
    """
    Make UFW deny all inbound traffic but ``rules``, and enable it.

    + rules: every inbound rule the host should have; other added rules are deleted; of
      rules with the same port, protocol and source, the first one's comment is kept
    + ssh_ports: the port this deploy is connected on and every port sshd listens on;
      a rule allowing each of them from anywhere must be among ``rules``, or the
      operation fails before any command runs

    Outbound traffic stays allowed. Established connections (this deploy's own SSH
    session among them) survive enabling: UFW accepts related and established traffic.
    """
    uncovered = [
        port for port in ssh_ports if not any(rule.covers_ssh(port) for rule in rules)
    ]
    if uncovered or not ssh_ports:
        raise OperationError(
            f"no firewall rule allows SSH on port {', '.join(map(str, uncovered)) or '?'} "
            "from anywhere: refusing a firewall that would lock the deployer out"
        )
    state = host.get_fact(UfwState)
    # One rule per spec: ufw keeps one, with the comment it was last given.
    wanted: dict[str, str] = {}
    for rule in rules:
        wanted.setdefault(rule.spec(), rule.added_line())
    # The line `ufw show added` prints is also the command that adds the rule; for a rule
    # that exists with another comment, it updates the comment in place.
    commands = [line for line in wanted.values() if line not in state["rules"]]
    commands += [
        f"ufw delete {spec}"
        for spec in dict.fromkeys(_spec_of(line) for line in state["rules"])
        if spec not in wanted
    ]
    if state["incoming"] != "deny":
        commands.append("ufw default deny incoming")
    if state["outgoing"] != "allow":
        commands.append("ufw default allow outgoing")
    if not state["active"]:
        commands.append("ufw --force enable")
    if not commands:
        host.noop("the firewall allows exactly the listed rules")
    yield from commands


def _spec_of(line: str) -> str:
    """A ``ufw show added`` line without ``ufw`` and the comment (``ufw delete`` takes it)."""
    return line.removeprefix("ufw ").split(" comment ", 1)[0]
