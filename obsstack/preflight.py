"""Preflight: can this inventory be deployed to? (``invoke preflight -i INVENTORY [--fix]``)

One bash script per host (``GATHER_SCRIPT``, sections as obsstack.checks prints them) gathers
the OS release, architecture, free disk and memory, PID 1 and systemd's state, clock
synchronisation, listening sockets, missing commands and the agents detection finds. Pure
functions parse the sections and judge each check against the components the host will
run (its roles and agents, from the catalog); the controller checks once that the release
archive of each is reachable at the ``artifact_source``, and that the observability
server's ``domain`` resolves to it. ``fix=True`` installs the packages of missing commands with
apt-get (nothing else is ever changed) and checks again.

Example::

    from obsstack.checks import format_report
    from obsstack.preflight import run_preflight
    report = run_preflight("inventories/lab.py")
    print(format_report(report))          # table, then "27 pass, 3 warn, 0 fail"
    report.ok                             # True: nothing FAILs
"""

from __future__ import annotations

import re
import shlex
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import requests

from obsstack.addresses import LOOPBACK, AddressError, listen_address
from obsstack.agents import DETECTION_SECTION, agents_of, parse_agents
from obsstack.artifacts import GITHUB, archive_location
from obsstack.catalog import PACKAGED_BINARIES, RELEASE_ARCHIVES, running
from obsstack.checks import (
    FAIL,
    PASS,
    WARN,
    Report,
    Result,
    Sections,
    run_checks,
    section_script,
)
from obsstack.inventory import repo_path
from obsstack.session import HostInfo, RemoteResult, hosts_named, run_scripts
from obsstack.textparse import parse_key_values
from obsstack.worker import in_worker

CONTROLLER = "controller"  # the host column of checks made once, on the controller
ARTIFACT_CHECK = "artifact source"
DNS_CHECK = "dns"

MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True)
class Minimum:
    """Below ``fail_below`` bytes a check FAILs, below ``recommended`` it WARNs."""

    fail_below: int
    recommended: int


# Free space on / (binaries in /opt) and on /var (data, backups), by role. Prometheus's TSDB
# and WAL need room from the first scrape; node_exporter needs a few release copies (~25 MiB
# each). The lab's hosts share the controller's disk and memory, far above these.
DISK_MINIMUMS = {
    "observability": Minimum(fail_below=2 * GiB, recommended=10 * GiB),
    "monitored": Minimum(fail_below=256 * MiB, recommended=1 * GiB),
}
# MemAvailable: Prometheus plus Alertmanager idle at a few hundred MiB and grow with series;
# node_exporter stays around 20 MiB.
MEMORY_MINIMUMS = {
    "observability": Minimum(fail_below=512 * MiB, recommended=1 * GiB),
    "monitored": Minimum(fail_below=64 * MiB, recommended=256 * MiB),
}
# Every host runs node_exporter, so a host of no role needs what a monitored host needs.
BASELINE_ROLE = "monitored"
DISK_PATHS = ("/", "/var")

SUPPORTED_RELEASES = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04")}
SUPPORTED_TEXT = "Debian 12/13 or Ubuntu 22.04/24.04"
# Release archives are pinned for linux-amd64; arm64 hosts run once arm64 pins exist.
PINNED_ARCHITECTURE = "amd64"
OTHER_KNOWN_ARCHITECTURE = "arm64"
UNAME_TO_DEBIAN_ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}

# What the deploy runs on a host, and the Debian/Ubuntu package that provides it.
COMMAND_PACKAGES = {
    "bash": "bash",
    "tar": "tar",
    "gzip": "gzip",
    "sha256sum": "coreutils",
    "find": "findutils",
    "install": "coreutils",
    "systemctl": "systemd",
    "ss": "iproute2",
    "useradd": "passwd",
}

HEAD_TIMEOUT_SECONDS = 5
FIX_TIMEOUT_SECONDS = 600
APT_LOCK_WAIT_SECONDS = 120  # another apt run (unattended-upgrades) may hold the lock a while

# sbin directories: a non-root login's PATH lacks them, and useradd lives there.
GATHER_PRELUDE = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"\n'
# Without ss, "listening" is as empty as on a host with no sockets: parse_facts tells them
# apart by the missing commands.
GATHER_SECTIONS = {
    "os-release": "cat /etc/os-release 2>/dev/null",
    "architecture": "dpkg --print-architecture 2>/dev/null || uname -m",
    "disk": (
        f"for path in {' '.join(DISK_PATHS)}; do\n"
        '  echo "$path $(df -B1 --output=avail "$path" 2>/dev/null | tail -n 1)"\n'
        "done"
    ),
    "meminfo": 'grep -E "^Mem(Total|Available):" /proc/meminfo',
    "pid1": "cat /proc/1/comm",
    "system-state": "systemctl is-system-running 2>&1",
    "timedatectl": "timedatectl show -p NTPSynchronized -p CanNTP 2>&1",
    "container": "systemd-detect-virt --container 2>/dev/null",
    "uid": "id -u",
    "addresses": "ip -o address show 2>/dev/null | awk '{print $4}'",
    "missing-commands": (
        f"for command in {' '.join(COMMAND_PACKAGES)}; do\n"
        '  command -v "$command" >/dev/null || echo "$command"\n'
        "done"
    ),
    "listening": "ss -ltnpH 2>/dev/null",
    "executables": (
        "for pid in $(ss -ltnpH 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do\n"
        '  echo "$pid $(readlink "/proc/$pid/exe")"\n'
        "done"
    ),
    "agents": DETECTION_SECTION,
}
GATHER_SCRIPT = section_script(GATHER_SECTIONS, prelude=GATHER_PRELUDE)


@dataclass(frozen=True)
class Listener:
    port: int
    processes: tuple[tuple[str, int], ...]  # (name, pid) of each process holding the socket


@dataclass(frozen=True)
class HostFacts:
    """What ``GATHER_SCRIPT`` found on a host."""

    os_release: dict[str, str]
    architecture: str
    free_disk: dict[str, int | None]  # path -> bytes available
    mem_available: int | None  # bytes
    pid1: str
    system_state: str
    timedatectl: dict[str, str]
    container: str  # systemd-detect-virt's name, "none" outside a container
    missing_commands: list[str]
    listeners: list[Listener] | None  # None: ss is missing, ports could not be read
    executables: dict[int, str]  # pid -> path of its binary
    uid: str  # who the deploy's commands run as (0 once sudo, where used, worked)
    addresses: list[str]  # the host's IP addresses
    agents: list[str] | None  # what detection found (None: it could not tell)


# ------------------------------------------------------------------------- public API


@in_worker
def run_preflight(
    inventory: str, fix: bool = False, hosts: Iterable[str] | None = None
) -> Report:
    """Check every host of ``inventory`` (or those named in ``hosts``) and the artifact
    source of their archives; ``fix`` installs packages."""
    hosts = hosts_named(inventory, hosts)
    # The controller resolves names while the hosts run their scripts; the archives to check
    # follow from the agents the hosts run.
    with ThreadPoolExecutor(1) as pool:
        dns_results = pool.submit(check_domains, hosts)
        host_results, facts = check_hosts(inventory, hosts)
        agents = {
            host.name: agents_of(host, facts[host.name].agents if host.name in facts else None)
            for host in hosts
        }
        controller_results = check_artifact_source(hosts, agents) + dns_results.result()
    if not fix:
        return Report(host_results + controller_results)
    fixed, fix_failures = install_missing_packages(inventory, facts)
    if fixed or fix_failures:
        host_results, _ = check_hosts(inventory, hosts)
    return Report(host_results + fix_failures + controller_results, fixed=fixed)


def verdict(status: str, detail: str, hint: str = "") -> Result:
    """A judge's result: the host and the check are named where it is judged."""
    return Result("", "", status, detail, hint)


# ---------------------------------------------------------------------- host checks


def check_hosts(
    inventory: str, hosts: list[HostInfo]
) -> tuple[list[Result], dict[str, HostFacts]]:
    """Results of every host (in inventory order) and the facts of the hosts that answered."""
    facts: dict[str, HostFacts] = {}
    results = run_checks(
        inventory,
        hosts,
        script=lambda host: GATHER_SCRIPT,
        judge=partial(judge_host, facts),
        script_failure=script_failure,
    )
    return results, facts


def judge_host(facts: dict[str, HostFacts], host: HostInfo, sections: Sections) -> list[Result]:
    """The results of a host that answered; its facts go to ``facts`` (--fix reads them)."""
    facts[host.name] = parse_facts(sections)
    return [
        Result(host.name, "ssh", PASS, "connected"),
        *(
            replace(judge(host, facts[host.name]), host=host.name, check=name)
            for name, judge in HOST_CHECKS
        ),
    ]


def script_failure(host: str, answer: RemoteResult) -> Result:
    """The ssh check of a host that cannot be reached, or where the script did not run."""
    if not answer.connected:
        return Result(
            host,
            "ssh",
            FAIL,
            f"cannot connect over SSH ({answer.stderr.strip() or 'no answer'})",
            "check ssh_hostname, ssh_user, ssh_key and ssh_known_hosts_file in the inventory, "
            "then try `ssh USER@HOST true` by hand",
        )
    message = answer.stderr.strip()[-200:]
    return Result(
        host,
        "ssh",
        FAIL,
        f"connected, but the check script did not run: {message}",
        "give ssh_user passwordless sudo (NOPASSWD), or log in as root"
        if "sudo" in message
        else "the host needs bash: apt-get install -y bash",
    )


def parse_facts(sections: Sections) -> HostFacts:
    missing = sections.get("missing-commands", "").split()
    return HostFacts(
        os_release=parse_key_values(sections.get("os-release", "")),
        architecture=parse_architecture(sections.get("architecture", "")),
        free_disk=parse_free_disk(sections.get("disk", "")),
        mem_available=parse_mem_available(sections.get("meminfo", "")),
        pid1=sections.get("pid1", "").strip(),
        system_state=sections.get("system-state", "").strip(),
        timedatectl=parse_key_values(sections.get("timedatectl", "")),
        container=sections.get("container", "").strip() or "none",
        missing_commands=missing,
        listeners=None if "ss" in missing else parse_listeners(sections.get("listening", "")),
        executables=parse_executables(sections.get("executables", "")),
        uid=sections.get("uid", "").strip(),
        addresses=[line.split("/")[0] for line in sections.get("addresses", "").split()],
        agents=parse_agents(sections.get("agents", "")),
    )


def parse_architecture(text: str) -> str:
    """Debian's architecture name (dpkg's, or ``uname -m`` translated)."""
    machine = text.strip().splitlines()[0].strip() if text.strip() else ""
    return UNAME_TO_DEBIAN_ARCHITECTURE.get(machine, machine)


def parse_free_disk(text: str) -> dict[str, int | None]:
    """``{path: bytes available}`` from ``PATH AVAIL`` lines (None when df gave nothing)."""
    free: dict[str, int | None] = {}
    for line in text.splitlines():
        path, _, available = line.partition(" ")
        if path:
            free[path] = int(available) if available.strip().isdigit() else None
    return free


def parse_mem_available(meminfo: str) -> int | None:
    """MemAvailable in bytes from /proc/meminfo (reported in kB)."""
    match = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, flags=re.MULTILINE)
    return int(match[1]) * 1024 if match else None


def parse_listeners(ss_output: str) -> list[Listener]:
    """Listening TCP sockets from ``ss -ltnpH``: port and the processes holding each."""
    listeners = []
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        port = fields[3].rsplit(":", 1)[-1]
        processes = tuple(
            (name, int(pid)) for name, pid in re.findall(r'\("([^"]*)",pid=(\d+)', line)
        )
        listeners.append(Listener(int(port), processes))
    return listeners


def parse_executables(text: str) -> dict[int, str]:
    """``{pid: binary path}`` from ``PID PATH`` lines."""
    executables = {}
    for line in text.splitlines():
        pid, _, path = line.partition(" ")
        if pid.isdigit():
            executables[int(pid)] = path.strip()
    return executables


# Each judges one aspect of a host from its facts. A domain DNS check joins this list once
# the settings have a domain to resolve; until then nothing about DNS is reported.
def _os(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_os(facts.os_release)


def _architecture(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_architecture(facts.architecture)


def _disk(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_disk(facts.free_disk, host.groups)


def _memory(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_memory(facts.mem_available, host.groups)


def _systemd(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_systemd(facts.pid1, facts.system_state)


def _clock(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_clock(facts.timedatectl, facts.container)


def _commands(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_commands(facts.missing_commands)


def _ports(host: HostInfo, facts: HostFacts) -> Result:
    required = required_ports(host, agents_of(host, facts.agents))
    return evaluate_ports(required, facts.listeners, facts.executables)


def _privileges(host: HostInfo, facts: HostFacts) -> Result:
    return evaluate_privileges(facts.uid, bool(host.data.get("_sudo")))


def _listen_address(host: HostInfo, facts: HostFacts) -> Result:
    try:
        address = listen_address(host.name, host.groups, host.data)
    except AddressError as error:
        return verdict(FAIL, str(error), "set listen_address in the host's data")
    return evaluate_listen_address(address, facts.addresses)


HOST_CHECKS: tuple[tuple[str, Callable[[HostInfo, HostFacts], Result]], ...] = (
    ("os", _os),
    ("architecture", _architecture),
    ("disk", _disk),
    ("memory", _memory),
    ("systemd", _systemd),
    ("clock", _clock),
    ("commands", _commands),
    ("ports", _ports),
    ("privileges", _privileges),
    ("listen address", _listen_address),
)


def evaluate_os(os_release: Mapping[str, str]) -> Result:
    name = os_release.get("PRETTY_NAME") or "unknown (no /etc/os-release)"
    distribution, version = os_release.get("ID", ""), os_release.get("VERSION_ID", "")
    if version in SUPPORTED_RELEASES.get(distribution, ()):
        return verdict(PASS, name)
    return verdict(FAIL, f"{name} is not supported", f"use {SUPPORTED_TEXT}")


def evaluate_architecture(architecture: str) -> Result:
    if architecture == PINNED_ARCHITECTURE:
        return verdict(PASS, architecture)
    if architecture == OTHER_KNOWN_ARCHITECTURE:
        return verdict(
            WARN,
            f"{architecture}: the release pins are for {PINNED_ARCHITECTURE} archives",
            "set arm64 pins (releases: versions and sha256 of the linux-arm64 archives)",
        )
    return verdict(
        FAIL,
        f"{architecture or 'unknown'} is not supported",
        f"use an {PINNED_ARCHITECTURE} or {OTHER_KNOWN_ARCHITECTURE} host",
    )


def minimum_for(groups: Iterable[str], minimums: Mapping[str, Minimum]) -> Minimum:
    """The strictest minimum of the host's roles (a host of no role counts as monitored)."""
    roles = [role for role in groups if role in minimums] or [BASELINE_ROLE]
    return Minimum(
        max(minimums[role].fail_below for role in roles),
        max(minimums[role].recommended for role in roles),
    )


def evaluate_disk(free_disk: Mapping[str, int | None], groups: Iterable[str]) -> Result:
    minimum = minimum_for(groups, DISK_MINIMUMS)
    unknown = [path for path in DISK_PATHS if free_disk.get(path) is None]
    if unknown:
        return verdict(FAIL, f"cannot read free space of {', '.join(unknown)}", "check `df /var`")
    lowest = min(free_disk[path] or 0 for path in DISK_PATHS)
    detail = ", ".join(f"{path} {bytes_text(free_disk[path] or 0)} free" for path in DISK_PATHS)
    hint = "free space on / and /var or grow the disk (Prometheus data lives in /var/lib)"
    return judge_minimum(lowest, minimum, detail, hint)


def evaluate_memory(mem_available: int | None, groups: Iterable[str]) -> Result:
    minimum = minimum_for(groups, MEMORY_MINIMUMS)
    if mem_available is None:
        return verdict(WARN, "MemAvailable missing from /proc/meminfo", "check `free -m`")
    detail = f"{bytes_text(mem_available)} available"
    return judge_minimum(mem_available, minimum, detail, "stop other services or add memory")


def judge_minimum(value: int, minimum: Minimum, detail: str, hint: str) -> Result:
    if value < minimum.fail_below:
        return verdict(FAIL, f"{detail} (minimum {bytes_text(minimum.fail_below)})", hint)
    if value < minimum.recommended:
        return verdict(WARN, f"{detail} (recommended {bytes_text(minimum.recommended)})", hint)
    return verdict(PASS, detail)


def bytes_text(count: int) -> str:
    if count >= GiB:
        return f"{count / GiB:.1f} GiB"
    return f"{count / MiB:.0f} MiB"


# systemctl is-system-running: the deploy can manage units in these states, with a warning.
SYSTEM_STATES_TO_WARN = {
    "degraded": "some units have failed",
    "starting": "still booting",
    "initializing": "still booting",
    "maintenance": "in rescue/emergency mode",
}


def evaluate_systemd(pid1: str, system_state: str) -> Result:
    if pid1 != "systemd":
        return verdict(
            FAIL, f"PID 1 is {pid1 or 'unknown'}, not systemd", "the stack needs a systemd host"
        )
    if system_state == "running":
        return verdict(PASS, "PID 1 is systemd, system running")
    if system_state in SYSTEM_STATES_TO_WARN:
        return verdict(
            WARN,
            f"system {system_state}: {SYSTEM_STATES_TO_WARN[system_state]}",
            "see `systemctl --failed` and `journalctl -b`",
        )
    return verdict(
        FAIL,
        f"systemctl does not work: {system_state or 'no output'}",
        "check that systemd runs and `systemctl is-system-running` answers",
    )


def evaluate_clock(timedatectl: Mapping[str, str], container: str) -> Result:
    synchronised = timedatectl.get("NTPSynchronized")
    if synchronised == "yes":
        return verdict(PASS, "synchronised (NTP)")
    if container != "none":
        # A container has no clock of its own: time sync is the container host's job.
        return verdict(
            WARN,
            f"unknown: a {container} container uses its host's clock "
            f"(NTPSynchronized={synchronised or '?'})",
            "keep the container host's clock synchronised (chrony or systemd-timesyncd)",
        )
    if synchronised is None:
        return verdict(
            WARN,
            "unknown: `timedatectl show` gave no answer",
            "install systemd-timesyncd or chrony and check `timedatectl`",
        )
    return verdict(
        FAIL,
        f"not synchronised (NTPSynchronized={synchronised})",
        "install systemd-timesyncd or chrony, then `timedatectl set-ntp true`",
    )


def evaluate_privileges(uid: str, sudo: bool) -> Result:
    if uid == "0":
        return verdict(PASS, "root through passwordless sudo" if sudo else "root")
    return verdict(
        FAIL,
        f"the deploy's commands run as uid {uid or '?'}, not root",
        "log in as root, or give ssh_user passwordless sudo and set _sudo = True",
    )


def evaluate_listen_address(address: str, addresses: list[str]) -> Result:
    """The exporters' listen address must be one of the host's own."""
    if address == LOOPBACK or address in addresses:
        return verdict(PASS, f"exporters listen on {address}")
    return verdict(
        FAIL,
        f"exporters would listen on {address}, which is not an address of this host "
        f"({', '.join(addresses) or 'none found'})",
        "behind NAT, set listen_address in its data to the host's own address that the "
        "observability server's scrapes arrive at",
    )


def packages_for(commands: Iterable[str]) -> list[str]:
    return sorted({COMMAND_PACKAGES[command] for command in commands})


def evaluate_commands(missing: list[str]) -> Result:
    if not missing:
        return verdict(PASS, f"all {len(COMMAND_PACKAGES)} present")
    listed = ", ".join(f"{command} ({COMMAND_PACKAGES[command]})" for command in missing)
    install = " ".join(packages_for(missing))
    return verdict(FAIL, f"missing: {listed}", f"apt-get install -y {install} (or preflight --fix)")


def required_ports(host: HostInfo, agents: Iterable[str] = ()) -> dict[int, str]:
    """The TCP ports the host's programs will listen on (port settings), by program: the
    component's own, or the packaged program that holds the port for it (nginx)."""
    return {
        listen.number(host.data): listen.program or component.name
        for component in running(host.groups, host.data, agents)
        for listen in component.listens
    }


def is_our_binary(executable: str, component: str) -> bool:
    """Whether ``executable`` is the component's binary as we install it."""
    # A binary replaced while running shows as "PATH (deleted)" in /proc/PID/exe.
    path = executable.removesuffix(" (deleted)")
    if component in PACKAGED_BINARIES:
        return path == PACKAGED_BINARIES[component]
    archive = RELEASE_ARCHIVES[component]
    binary = archive.binaries[0]
    # A program installed as a whole tree runs from inside it (Grafana's bin/grafana).
    installed = archive.installed_path(binary)
    return path == f"/usr/local/bin/{binary}" or bool(
        re.fullmatch(rf"/opt/{re.escape(component)}/[^/]+/{re.escape(installed)}", path)
    )


def evaluate_ports(
    required: Mapping[int, str],
    listeners: list[Listener] | None,
    executables: Mapping[int, str],
) -> Result:
    if listeners is None:
        return verdict(
            FAIL,
            "cannot check: ss is missing (iproute2)",
            "apt-get install -y iproute2 (or preflight --fix)",
        )
    notes, foreign = [], []
    for port, component in sorted(required.items()):
        sockets = [listener for listener in listeners if listener.port == port]
        if not sockets:
            notes.append(f"{port} free")
            continue
        # ss names no process for a socket of another namespace: that is not ours either.
        processes = [process for listener in sockets for process in listener.processes]
        strangers = [
            f"{name} (pid {pid}, {executables.get(pid) or '?'})"
            for name, pid in processes or [("an unknown process", 0)]
            if not is_our_binary(executables.get(pid, ""), component)
        ]
        if strangers:
            foreign.append(f"{port} in use by {', '.join(sorted(set(strangers)))}")
        else:
            notes.append(f"{port} in use by {component} (ours)")
    if foreign:
        return verdict(
            FAIL,
            "; ".join(foreign + notes),
            "stop and disable that program, or choose another port in the *_port settings",
        )
    return verdict(PASS, "; ".join(notes))


# ----------------------------------------------------------------------- controller


def pinned_archives(
    hosts: Iterable[HostInfo], agents: Mapping[str, list[str]]
) -> tuple[list[tuple[str, str, str, str | None]], list[Result]]:
    """(source, component, version, build) of every archive the hosts (running ``agents``) will
    install, and a FAIL for each of those without a pin.

    Only components some host runs are checked: a pin nobody installs blocks no deploy.
    """
    archives, unpinned = set(), []
    for host in hosts:
        for component in running(host.groups, host.data, agents.get(host.name, ())):
            if not component.archive:
                continue
            pin = host.data["releases"].get(component.name)
            if pin is None:
                unpinned.append(
                    Result(
                        CONTROLLER,
                        ARTIFACT_CHECK,
                        FAIL,
                        f"{host.name} runs {component.name}, but releases has no pin for it",
                        f"add releases[{component.name!r}] (version and sha256)",
                    )
                )
            else:
                archives.add(
                    (
                        host.data["artifact_source"],
                        component.name,
                        pin["version"],
                        pin.get("build"),
                    )
                )
    return sorted(archives), unpinned


def check_artifact_source(
    hosts: list[HostInfo], agents: Mapping[str, list[str]] | None = None
) -> list[Result]:
    """One result per pinned archive the hosts will install (with ``agents``: ``{host:
    agents}``): the artifact source has it (HEAD or file exists)."""
    # The lab's group data explains a missing mirror in place of the pins.
    unpinned = [host for host in hosts if not isinstance(host.data.get("releases"), dict)]
    if unpinned:
        return [
            Result(
                CONTROLLER,
                ARTIFACT_CHECK,
                FAIL,
                f"{host.name}: releases {host.data.get('releases')}",
                "fix `releases` in group_data",
            )
            for host in unpinned
        ]
    archives, unpinned = pinned_archives(hosts, agents or {})
    with ThreadPoolExecutor(max(len(archives), 1)) as pool:
        return unpinned + list(pool.map(lambda archive: check_archive(*archive), archives))


def check_domains(hosts: list[HostInfo]) -> list[Result]:
    """Each observability server's ``domain`` resolves to the address we deploy it at."""
    return [
        replace(evaluate_dns(host, resolve(host.data["domain"])), host=host.name, check=DNS_CHECK)
        for host in hosts
        if "observability" in host.groups and isinstance(host.data.get("domain"), str)
    ]


def resolve(name: str) -> list[str] | None:
    """The addresses ``name`` resolves to on the controller; None when it does not resolve."""
    try:
        answers = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        return sorted({str(answer[4][0]) for answer in answers})
    except OSError:
        return None


def evaluate_dns(host: HostInfo, addresses: list[str] | None) -> Result:
    domain = host.data["domain"]
    if not addresses:
        return verdict(
            FAIL,
            f"{domain} does not resolve",
            f"add a DNS A/AAAA record for {domain} pointing at this server",
        )
    address = host.data.get("ssh_hostname") or host.name
    if address in addresses:
        return verdict(PASS, f"{domain} -> {', '.join(addresses)}")
    return verdict(
        WARN,
        f"{domain} -> {', '.join(addresses)}, not {address}",
        "fine behind NAT; otherwise point the record at this server (certbot's HTTP-01 "
        "challenge reaches whatever the name resolves to)",
    )


def check_archive(
    source: str, component: str, version: str, build: str | None = None
) -> Result:
    location = archive_location(component, version, source, build)
    found = (
        check_url(location, source)
        if location.startswith(("http://", "https://"))
        else check_file(repo_path(location))
    )
    detail = f"{component} {version}: {found.detail}"
    return replace(found, host=CONTROLLER, check=ARTIFACT_CHECK, detail=detail)


def check_file(path: Path) -> Result:
    if path.is_file():
        return verdict(PASS, f"{path} exists")
    return verdict(
        FAIL,
        f"{path} is missing",
        "put the archive there (layout <dir>/<component>/<version>/<archive>) "
        "or fix artifact_source",
    )


def check_url(url: str, source: str) -> Result:
    try:
        status = requests.head(url, timeout=HEAD_TIMEOUT_SECONDS, allow_redirects=True).status_code
    except requests.RequestException as error:
        return verdict(
            FAIL, f"{url} unreachable: {request_failure(error)}", unreachable_hint(source)
        )
    if status == 200:
        return verdict(PASS, f"{url} answers 200")
    return verdict(
        FAIL,
        f"{url} answers HTTP {status}",
        "check the pinned version in releases, and that the mirror has this archive",
    )


def request_failure(error: requests.RequestException) -> str:
    """The operating system's reason (``[Errno -2] Name or service not known``) if given."""
    reason = re.search(r"\[Errno [-\d]+\] ([^'\")]+)", str(error))
    return reason[1].strip() if reason else type(error).__name__


def unreachable_hint(source: str) -> str:
    if source == GITHUB:
        return (
            "github.com is not reachable from this controller: set artifact_source to an "
            "https:// mirror or a local directory (README: Release archives)"
        )
    return "check the mirror's URL in artifact_source and this controller's network"


# ---------------------------------------------------------------------------- --fix


def fix_script(packages: Iterable[str]) -> str:
    """apt-get update, then install ``packages``; waits for another apt run's lock."""
    apt = f"apt-get -q -o DPkg::Lock::Timeout={APT_LOCK_WAIT_SECONDS}"
    return (
        "export DEBIAN_FRONTEND=noninteractive\n"
        f"{apt} update && {apt} install -y {shlex.join(packages)}\n"
    )


def install_missing_packages(
    inventory: str, facts: Mapping[str, HostFacts]
) -> tuple[list[str], list[Result]]:
    """Install the packages of missing commands; (what was installed, results of failures)."""
    needed = {
        host: packages_for(host_facts.missing_commands)
        for host, host_facts in facts.items()
        if host_facts.missing_commands
    }
    if not needed:
        return [], []
    answers = run_scripts(
        inventory,
        {host: fix_script(packages) for host, packages in needed.items()},
        timeout=FIX_TIMEOUT_SECONDS,
    )
    fixed, failures = [], []
    for host, packages in needed.items():
        if answers[host].ok:
            fixed.append(f"{host}: installed {' '.join(packages)} (apt-get install -y)")
        else:
            failures.append(
                Result(
                    host,
                    "fix",
                    FAIL,
                    f"apt-get install -y {' '.join(packages)} failed: "
                    f"{answers[host].stderr.strip()[-300:]}",
                    "run apt-get update and the install on the host and read apt's message",
                )
            )
    return fixed, failures
