"""The local lab: real Debian 13 hosts booted with systemd-nspawn on this machine.

``up`` builds a Debian 13 (trixie) base image once with debootstrap into ``CACHE_DIR``, gives
every host of ``HOSTS`` its own copy-on-write root (an overlayfs mount over the base), its own
SSH host keys, machine-id and static address on the bridge ``BRIDGE``, boots them all with
systemd as PID 1, and waits until systemd reports ``running``/``degraded`` and SSH with the lab
key works. The hosts reach the Debian mirror through NAT on the controller. Every host, and
the controller while the lab is up (one line tagged ``obs-lab`` in its /etc/hosts), resolves
``LAB_DOMAIN`` to ``obs``: the lab's ACME CA on the controller validates that name.

``up`` on a running lab only adds a missing /etc/hosts line (hosts made from an older base
image than the code describes are rebuilt); on a half-dead lab (processes
killed at the end of a session, leaving mounts, cgroups, the bridge, NAT rules and state files)
it cleans up what is left and boots fresh hosts. ``down`` removes everything but the cached base
image.

Each host runs in its own cgroup (``<cgroup mount>/obs-lab/<host>``): with ``--keep-unit``,
nspawn puts its container into ``payload/`` under the cgroup it was started in, so two hosts
started from the same cgroup would share one cgroup tree and their systemds would manage each
other's services. The per-host cgroup also finds a host's processes after its nspawn was killed
(the container outlives a SIGKILLed nspawn).

Example (as root)::

    import subprocess
    from obslab import machines

    machines.up()  # the first run builds the base image (about a minute), later ones take seconds
    subprocess.run(machines.ssh_argv("web1", "systemctl", "is-system-running"), check=False)
    print(machines.status())
    machines.down()
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

SUBNET = "10.99.0.0/24"
GATEWAY = "10.99.0.1"
BRIDGE = "obslab0"
STATE_DIR = Path(os.environ.get("OBS_LAB_STATE") or "/var/lib/obs-lab")
CACHE_DIR = Path(os.environ.get("OBS_LAB_CACHE") or "/var/cache/obs-lab")
SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "ssh" / "known_hosts"
# The observability server's name, so that it can get a certificate from the lab's ACME CA.
LAB_DOMAIN = "obs.lab.test"


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    groups: tuple[str, ...]
    # More names of the host, in every host's /etc/hosts and, while the lab is up, the
    # controller's (where the lab's ACME CA looks names up).
    aliases: tuple[str, ...] = ()
    # Who deploys log in as: root, or DEPLOY_USER, which becomes root with sudo.
    login: str = "root"


# A user of every lab host with passwordless sudo, as many servers are set up for deploys.
DEPLOY_USER = "deploy"
HOSTS: tuple[LabHost, ...] = (
    LabHost("obs", "10.99.0.10", ("observability",), (LAB_DOMAIN,)),
    LabHost("web1", "10.99.0.11", ("monitored",)),
    # Deploys reach app1 through sudo: every lab test runs that path on one host.
    LabHost("app1", "10.99.0.12", ("monitored",), login=DEPLOY_USER),
    LabHost("outsider", "10.99.0.13", ()),
)


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    running: bool
    ssh_ok: bool
    systemd_state: str


class LabError(Exception):
    """A failure of the lab the user can act on; the message says what to do."""


PREFIX_LENGTH = ipaddress.ip_network(SUBNET).prefixlen
HOSTS_DIR = STATE_DIR / "hosts"
HOSTS_BASE_INPUTS = HOSTS_DIR / "base-inputs.json"  # what the running hosts were made from
# Files each host gets on its disk whenever it is built, one tree per host (obslab/provided.py).
HOST_FILES_DIR = CACHE_DIR / "host-files"
BASE_DIR = CACHE_DIR / "base"
BASE_ROOTFS = BASE_DIR / "rootfs"
BASE_INPUTS = BASE_DIR / "inputs.json"
PARTIAL_BASE_PREFIX = "base.partial-"
DEBOOTSTRAP_LOG = CACHE_DIR / "debootstrap.log"
LOCK_FILE = CACHE_DIR / "lab.lock"
RULE_COMMENT = "obs-lab"  # tags our iptables rules and our lines in the controller's /etc/hosts
CONTROLLER_HOSTS_FILE = Path("/etc/hosts")
CGROUP_NAME = "obs-lab"
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")  # what a stock Debian sshd offers
BOOT_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
KILL_TIMEOUT = 15.0
COMMAND_TIMEOUT = 15.0

CONTROLLER_PACKAGES = (
    "systemd-container",
    "debootstrap",
    "iptables",
    "openssh-client",
    "iproute2",
    "pebble",  # the lab's ACME CA (obsstack/labdata.py)
    "gcc",  # the launcher of the lab's stand-in for Grafana (obslab/grafana_standin.c)
    "libc6-dev",
)

DEBIAN_SUITE = "trixie"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# trixie's systemd package still ships systemd-networkd (no separate package needed).
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ca-certificates",
    "python3", "curl", "procps", "less", "sudo",
)
# Written into the base image: what every lab host shares.
BASE_FILES = {
    "etc/ssh/sshd_config.d/obs-lab.conf": (
        "# Lab hosts: root logs in with the lab key only.\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
    ),
    # Tests install packages on the hosts all the time: keep installs small and quick.
    "etc/apt/apt.conf.d/90obs-lab": (
        'APT::Install-Recommends "false";\n'
        'APT::Install-Suggests "false";\n'
        'Acquire::Languages "none";\n'
    ),
    "etc/dpkg/dpkg.cfg.d/obs-lab": "force-unsafe-io\n",
    "etc/sudoers.d/obs-lab-deploy": f"{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n",
    # Like a real Debian 13 server: point releases and security updates included.
    "etc/apt/sources.list.d/debian.sources": (
        f"Types: deb\nURIs: {DEBIAN_MIRROR}\nSuites: {DEBIAN_SUITE} {DEBIAN_SUITE}-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {DEBIAN_SECURITY_MIRROR}\nSuites: {DEBIAN_SUITE}-security\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    ),
}
BASE_UNITS_ENABLED = ("systemd-networkd.service",)  # ssh.service is enabled by its package
# apt's daily timers would take the dpkg lock at random moments during deploys and tests.
BASE_UNITS_MASKED = ("apt-daily.timer", "apt-daily-upgrade.timer")
# The sources file above replaces sources.list; each host gets its own machine-id, and the
# host keys debootstrap generated would otherwise be shared by every host.
BASE_FILES_REMOVED = (
    "etc/apt/sources.list",
    "var/lib/dbus/machine-id",
    *(f"etc/ssh/ssh_host_{kind}_key{suffix}" for kind in HOST_KEY_TYPES for suffix in ("", ".pub")),
)

# Runs as the child before nspawn: join the host's cgroups, then become systemd-nspawn.
# (Popen has no way to start a child in another cgroup; preexec_fn is unsafe with threads.)
JOIN_CGROUPS_THEN_EXEC = (
    "import os, sys\n"
    "split = sys.argv.index('--')\n"
    "for procs in sys.argv[1:split]:\n"
    "    with open(procs, 'w') as cgroup:\n"
    "        cgroup.write(str(os.getpid()))\n"
    "os.execvp(sys.argv[split + 1], sys.argv[split + 1:])\n"
)

T = TypeVar("T")


# ----------------------------------------------------------------------------- public API


def up(progress: Callable[[str], None] = print) -> None:
    """Boot every lab host; a no-op when the lab is already up, a clean rebuild when half-dead."""
    require_root()
    with exclusive_lock(progress):
        install_controller_packages(progress)
        check_nspawn_usable()
        started = time.monotonic()
        running = {host.name: nspawn_pid(host.name) is not None for host in HOSTS}
        current = all(running.values()) and booted_from_current_base()
        if current:
            wait_until_all_ready(lambda _line: None, started)
            progress("lab: already up")
        else:
            if all(running.values()):
                progress("lab: the hosts run an older base image; rebuilding them")
            elif any(running.values()) or HOSTS_DIR.exists():
                alive = [name for name, is_running in running.items() if is_running]
                progress(
                    f"lab: found a half-dead lab (running: {', '.join(alive) or 'none'}); "
                    "cleaning up"
                )
            tear_down(progress)
            start_hosts(progress)
            progress(f"lab: up in {time.monotonic() - started:.1f}s")
        # Also on a lab that is already up: it may have been booted before a name was added.
        add_controller_hosts_entries(progress)


def down(progress: Callable[[str], None] = print) -> None:
    """Stop every host; remove mounts, cgroups, bridge, NAT rules, our /etc/hosts line, state."""
    require_root()
    with exclusive_lock(progress):
        tear_down(progress)
        if STATE_DIR.exists():
            remove_tree_without_mounts(STATE_DIR)
        progress("lab: down")


def restart(host_name: str, progress: Callable[[str], None] = print) -> None:
    """Reboot one host: a clean poweroff, then a boot with its disk as it was."""
    power_off(host_name, progress)
    power_on(host_name, progress)


def power_off(host_name: str, progress: Callable[[str], None] = print) -> None:
    """Shut one host down cleanly (its disk stays; ``power_on`` boots it again)."""
    require_root()
    host = lab_host(host_name)
    with exclusive_lock(progress):
        pid = nspawn_pid(host.name)
        if pid is None:
            raise LabError(f"{host.name} is not running; run `invoke lab.up`")
        os.kill(pid, signal.SIGTERM)

        def stopped() -> bool:
            reap_if_child(pid)
            return nspawn_pid(host.name) is None

        wait_for(stopped, STOP_TIMEOUT, f"{host.name} to power off")


def power_on(host_name: str, progress: Callable[[str], None] = print) -> None:
    """Boot a host that was powered off, with its disk as it was."""
    require_root()
    host = lab_host(host_name)
    with exclusive_lock(progress):
        if nspawn_pid(host.name) is not None:
            raise LabError(f"{host.name} is already running")
        started = time.monotonic()
        boot_host(host)
        wait_until_ready(host, started, progress)


def rebuild(host_name: str, progress: Callable[[str], None] = print) -> None:
    """Replace one host by a fresh one from the base image: the old one is powered off and
    its disk removed (a server lost for good), the new one boots with new host keys at the
    same address. The other hosts run on."""
    host = lab_host(host_name)
    power_off(host.name, progress)
    require_root()
    with exclusive_lock(progress):
        started = time.monotonic()
        unmount_all(host_dir(host.name), progress)
        remove_tree_without_mounts(host_dir(host.name))
        keys = prepare_host(host, ensure_base_image(progress))
        others = [
            line
            for line in KNOWN_HOSTS.read_text().splitlines(keepends=True)
            if not line.startswith(f"{host.name},")
        ]
        write_file(
            KNOWN_HOSTS, "".join(others) + render_known_hosts([(host, keys)]), mode=0o600
        )
        boot_host(host)
        wait_until_ready(host, started, progress)


def status() -> list[HostStatus]:
    """Each host's state: nspawn running, SSH with the lab key working, systemd's state."""
    require_root()
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        return list(pool.map(host_status, HOSTS))


def ssh_argv(host_name: str, *command: str) -> list[str]:
    """The ssh command line reaching ``host_name`` as root with the lab key and known_hosts."""
    host = lab_host(host_name)
    return [
        "ssh",
        "-F", "/dev/null",  # a user's ~/.ssh/config must not redirect lab connections
        "-i", str(SSH_KEY),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        f"root@{host.address}",
        *command,
    ]


def leader_pid(host_name: str) -> int | None:
    """PID (in the controller's namespace) of the host's systemd, PID 1 in the host."""
    supervisor = nspawn_pid(lab_host(host_name).name)
    if supervisor is None:
        return None
    for child in child_pids(supervisor):
        with contextlib.suppress(OSError):
            if innermost_pid(Path(f"/proc/{child}/status").read_text()) == 1:
                return child
    return None


# ------------------------------------------------------------------ pure helpers (unit tested)


@dataclass(frozen=True)
class Mount:
    mount_point: Path
    fstype: str
    super_options: tuple[str, ...]


def lab_host(name: str) -> LabHost:
    for host in HOSTS:
        if host.name == name:
            return host
    raise LabError(f"no lab host {name!r}; lab hosts: {', '.join(h.name for h in HOSTS)}")


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts from /proc/<pid>/mountinfo, in mount order."""
    mounts = []
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        fstype, _source, super_options = after.split(" ", 2)
        mount_point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), before.split(" ")[4])
        mounts.append(Mount(Path(mount_point), fstype, tuple(super_options.split(","))))
    return mounts


def mounts_under(mounts: Sequence[Mount], directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, in the order they can be unmounted."""
    inside = [
        (index, mount.mount_point)
        for index, mount in enumerate(mounts)
        if mount.mount_point.is_relative_to(directory)
    ]
    # Deepest first; of mounts stacked on one point, the last mounted first.
    inside.sort(key=lambda item: (len(item[1].parts), item[0]), reverse=True)
    return [mount_point for _, mount_point in inside]


def cgroup_roots(mounts: Sequence[Mount]) -> list[Path]:
    """Mount points of the hierarchies nspawn places a container in: cgroup2, v1 name=systemd."""
    return [
        mount.mount_point
        for mount in mounts
        if mount.fstype == "cgroup2"
        or (mount.fstype == "cgroup" and "name=systemd" in mount.super_options)
    ]


def is_nspawn_for(argv: Sequence[str], root: Path) -> bool:
    """Whether a process's argv is the systemd-nspawn that boots ``root``."""
    return bool(argv) and Path(argv[0]).name == "systemd-nspawn" and f"--directory={root}" in argv


def innermost_pid(proc_status: str) -> int | None:
    """The process's PID in its own PID namespace, from /proc/<pid>/status (NSpid)."""
    for line in proc_status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


def usable_nameservers(resolv_conf: str) -> list[str]:
    """Nameservers from a resolv.conf that a lab host can reach (not the controller's loopback)."""
    return [
        fields[1]
        for fields in (line.split() for line in resolv_conf.splitlines())
        if len(fields) >= 2
        and fields[0] == "nameserver"
        and not ipaddress.ip_address(fields[1].split("%")[0]).is_loopback
    ]


def render_resolv_conf(controller_resolv_conf: str) -> str:
    """The controller's resolv.conf without comments and loopback nameservers."""
    kept = [
        line
        for line in controller_resolv_conf.splitlines()
        if line.split()
        and not line.lstrip().startswith(("#", ";"))
        and (line.split()[0] != "nameserver" or usable_nameservers(line))
    ]
    return "# The controller's DNS settings, written by obs-lab.\n" + "".join(
        f"{line}\n" for line in kept
    )


def render_hosts_file(controller_hosts: str) -> str:
    """/etc/hosts of a lab host: loopback, every lab host, then the controller's entries."""
    lab_names = {name for host in HOSTS for name in (host.name, *host.aliases)}
    controller_entries = []
    for line in controller_hosts.splitlines():
        fields = line.split("#", 1)[0].split()
        # Loopback entries name the controller itself; inside a host they would be wrong.
        if len(fields) < 2 or ipaddress.ip_address(fields[0].split("%")[0]).is_loopback:
            continue
        if lab_names.isdisjoint(fields[1:]):
            controller_entries.append(" ".join(fields))
    return (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "# lab hosts\n"
        + "".join("\t".join((host.address, host.name, *host.aliases)) + "\n" for host in HOSTS)
        + "# from the controller's /etc/hosts\n"
        + "".join(f"{entry}\n" for entry in controller_entries)
    )


def is_lab_hosts_entry(line: str) -> bool:
    """Whether an /etc/hosts line is one the lab added (its comment is exactly our tag)."""
    return line.partition("#")[2].strip() == RULE_COMMENT


def without_lab_hosts_entries(hosts_file: str) -> str:
    """The controller's /etc/hosts without the lab's lines; every other line as it was."""
    return "".join(
        line for line in hosts_file.splitlines(keepends=True) if not is_lab_hosts_entry(line)
    )


def with_lab_hosts_entries(hosts_file: str) -> str:
    """The controller's /etc/hosts with a tagged line per lab host alias, each exactly once."""
    kept = without_lab_hosts_entries(hosts_file)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + "".join(
        f"{host.address}\t{alias}\t# {RULE_COMMENT}\n" for host in HOSTS for alias in host.aliases
    )


def render_network_file(host: LabHost, nameservers: Sequence[str]) -> str:
    """systemd-networkd config for the host's end of its veth (nspawn names it host0)."""
    return (
        "[Match]\nName=host0\n\n[Network]\n"
        f"Address={host.address}/{PREFIX_LENGTH}\nGateway={GATEWAY}\n"
        + "".join(f"DNS={server}\n" for server in nameservers)
    )


def render_known_hosts(host_keys: Iterable[tuple[LabHost, Sequence[str]]]) -> str:
    """known_hosts lines (name and address) from each host's public host key lines."""
    lines = []
    for host, public_keys in host_keys:
        for public_key in public_keys:
            key_type, key = public_key.split()[:2]
            lines.append(f"{host.name},{host.address} {key_type} {key}\n")
    return "".join(lines)


def lab_rules() -> list[tuple[str, str, list[str]]]:
    """(table, chain, rule) of every iptables rule the lab needs, each tagged with our comment."""
    tag = ["-m", "comment", "--comment", RULE_COMMENT]
    return [
        # Hosts reach the Debian mirror through the controller's own uplink.
        ("nat", "POSTROUTING", ["-s", SUBNET, "!", "-o", BRIDGE, *tag, "-j", "MASQUERADE"]),
        # Accept lab traffic even where the controller's policy is DROP; INPUT lets hosts
        # reach services on the controller (the lab's mail relay and ACME CA listen on GATEWAY).
        ("filter", "FORWARD", ["-i", BRIDGE, *tag, "-j", "ACCEPT"]),
        ("filter", "FORWARD", ["-o", BRIDGE, *tag, "-j", "ACCEPT"]),
        ("filter", "INPUT", ["-i", BRIDGE, *tag, "-j", "ACCEPT"]),
    ]


def tagged_rule_deletions(iptables_rules: str) -> list[list[str]]:
    """``iptables -D`` arguments for every rule in ``iptables -S`` output carrying our comment."""
    deletions = []
    for line in iptables_rules.splitlines():
        words = shlex.split(line)
        tagged = any(
            words[i : i + 2] == ["--comment", RULE_COMMENT] for i in range(len(words) - 1)
        )
        if words[:1] == ["-A"] and tagged:
            deletions.append(["-D", *words[1:]])
    return deletions


def base_image_inputs() -> dict[str, object]:
    """Everything the base image is built from: a change to any of it rebuilds the cache."""
    return {
        "suite": DEBIAN_SUITE,
        "mirror": DEBIAN_MIRROR,
        "variant": "minbase",
        "packages": list(BASE_PACKAGES),
        "files": BASE_FILES,
        "enabled": list(BASE_UNITS_ENABLED),
        "masked": list(BASE_UNITS_MASKED),
        "removed": list(BASE_FILES_REMOVED),
        "users": [DEPLOY_USER],
    }


# ------------------------------------------------------------------------ preconditions


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (systemd-nspawn, mounts, bridge, NAT): run as root")


@contextlib.contextmanager
def exclusive_lock(progress: Callable[[str], None]) -> Iterator[None]:
    """One ``up``/``down`` at a time on this machine: they share the bridge and the cache."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("lab: waiting for another lab up/down on this machine to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a controller command; a failure raises LabError with its output."""
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"`{shlex.join(argv)}` failed: {error}") from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise LabError(f"`{shlex.join(argv)}` exited {result.returncode}: {output}")
    return result


def missing_packages(packages: Sequence[str]) -> list[str]:
    if shutil.which("dpkg-query") is None:
        raise LabError("the lab needs a Debian or Ubuntu controller (dpkg-query not found)")
    # dpkg-query exits 1 when some package is unknown, so its exit code says nothing here.
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True, text=True, check=False,
    ).stdout
    installed = {line.split()[0] for line in listed.splitlines() if line.endswith(" installed")}
    return [package for package in packages if package not in installed]


def install_controller_packages(
    progress: Callable[[str], None], packages: Sequence[str] = CONTROLLER_PACKAGES
) -> None:
    """Install those of ``packages`` the controller lacks (none missing: no apt at all)."""
    missing = missing_packages(packages)
    if not missing:
        return
    progress(f"lab: installing {' '.join(missing)} on the controller")
    apt_get = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q"]
    run([*apt_get, "update"], timeout=600)
    run([*apt_get, "install", "-y", "--no-install-recommends", *missing], timeout=1200)


def check_nspawn_usable() -> None:
    run(["systemd-nspawn", "--version"])
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise LabError("the kernel has no overlayfs (try `modprobe overlay`): lab hosts need it")
    if not cgroup_roots(current_mounts()):
        raise LabError("no cgroup2 or name=systemd cgroup hierarchy is mounted: nspawn needs one")


# --------------------------------------------------------------------------- base image


def ensure_base_image(progress: Callable[[str], None]) -> Path:
    """The prepared base root, built once; rebuilt when its inputs changed."""
    inputs = base_image_inputs()
    if BASE_INPUTS.exists() and json.loads(BASE_INPUTS.read_text()) == inputs:
        return BASE_ROOTFS
    remove_partial_base_builds(progress)
    progress(f"lab: building the Debian {DEBIAN_SUITE} base image with debootstrap (~1 minute)")
    started = time.monotonic()
    # Built aside and renamed into place: an interrupted build never looks like a cache.
    building = Path(tempfile.mkdtemp(prefix=PARTIAL_BASE_PREFIX, dir=CACHE_DIR))
    try:
        debootstrap(building / "rootfs")
        prepare_base_rootfs(building / "rootfs")
        (building / "inputs.json").write_text(json.dumps(inputs, indent=2))
        if BASE_DIR.exists():
            BASE_DIR.rename(CACHE_DIR / f"{PARTIAL_BASE_PREFIX}outdated")
        building.rename(BASE_DIR)
    finally:
        remove_partial_base_builds(progress)
    progress(f"lab: base image ready in {time.monotonic() - started:.0f}s ({BASE_DIR})")
    return BASE_ROOTFS


def remove_partial_base_builds(progress: Callable[[str], None]) -> None:
    for partial in CACHE_DIR.glob(f"{PARTIAL_BASE_PREFIX}*"):
        # A killed debootstrap leaves /proc and /sys mounted inside its target.
        unmount_all(partial, progress)
        remove_tree_without_mounts(partial)


def debootstrap(rootfs: Path) -> None:
    argv = [
        "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
        DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR,
    ]
    with DEBOOTSTRAP_LOG.open("w") as log:
        result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "\n".join(DEBOOTSTRAP_LOG.read_text().splitlines()[-15:])
        raise LabError(
            f"debootstrap of the base image failed (exit {result.returncode}); "
            f"full log: {DEBOOTSTRAP_LOG}\n{tail}"
        )


def prepare_base_rootfs(rootfs: Path) -> None:
    for relative, content in BASE_FILES.items():
        write_file(rootfs / relative, content)
    for relative in BASE_FILES_REMOVED:
        (rootfs / relative).unlink(missing_ok=True)
    (rootfs / "etc/sudoers.d/obs-lab-deploy").chmod(0o440)
    # Empty: each host gets its own in its upper layer, so none share the image's id.
    (rootfs / "etc/machine-id").write_text("")
    run(["chroot", str(rootfs), "useradd", "--create-home", "--shell", "/bin/bash", DEPLOY_USER])
    run(["chroot", str(rootfs), "systemctl", "enable", *BASE_UNITS_ENABLED])
    run(["chroot", str(rootfs), "systemctl", "mask", *BASE_UNITS_MASKED])
    run(["chroot", str(rootfs), "apt-get", "clean"])


# ------------------------------------------------------------------------------- hosts


def host_dir(name: str) -> Path:
    return HOSTS_DIR / name


def host_root(name: str) -> Path:
    return host_dir(name) / "root"


def host_pid_file(name: str) -> Path:
    return host_dir(name) / "nspawn.pid"


def host_console_log(name: str) -> Path:
    return host_dir(name) / "console.log"


def write_file(path: Path, content: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # replaces a symlink instead of writing through it
    path.write_text(content)
    path.chmod(mode)


def ensure_lab_key() -> None:
    if SSH_KEY.exists() and SSH_KEY.with_suffix(".pub").exists():
        return
    SSH_KEY.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    SSH_KEY.unlink(missing_ok=True)
    SSH_KEY.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "obs-lab", "-f", str(SSH_KEY)])


def controller_resolv_conf() -> str:
    """The controller's resolver settings a host can use (systemd-resolved's uplinks if need be)."""
    for candidate in (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf")):
        if candidate.exists() and usable_nameservers(candidate.read_text()):
            return candidate.read_text()
    raise LabError(
        "the controller has no nameserver a lab host can reach (only loopback ones in "
        "/etc/resolv.conf): hosts could not resolve deb.debian.org"
    )


def mount_overlay(host: LabHost, base: Path) -> Path:
    directory = host_dir(host.name)
    upper, work, root = directory / "upper", directory / "work", host_root(host.name)
    for path in (upper, work, root):
        path.mkdir(parents=True)
    options = f"lowerdir={base},upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", f"obs-lab-{host.name}", "-o", options, str(root)])
    return root


def generate_host_keys(host: LabHost, root: Path) -> list[str]:
    """Fresh SSH host keys in the host's /etc/ssh; returns the public key lines."""
    public_keys = []
    for kind in HOST_KEY_TYPES:
        key = root / f"etc/ssh/ssh_host_{kind}_key"
        run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{host.name}", "-f", str(key)])
        public_keys.append(key.with_suffix(".pub").read_text().strip())
    return public_keys


def prepare_host(host: LabHost, base: Path) -> list[str]:
    """Mount the host's root and write what makes it this host; returns its public host keys."""
    root = mount_overlay(host, base)
    resolv_conf = controller_resolv_conf()
    write_file(root / "etc/hostname", f"{host.name}\n")
    write_file(root / "etc/hosts", render_hosts_file(Path("/etc/hosts").read_text()))
    write_file(root / "etc/resolv.conf", render_resolv_conf(resolv_conf))
    write_file(root / "etc/machine-id", f"{uuid.uuid4().hex}\n", mode=0o444)
    write_file(
        root / "etc/systemd/network/10-obs-lab.network",
        render_network_file(host, usable_nameservers(resolv_conf)),
    )
    public_key = SSH_KEY.with_suffix(".pub").read_text()
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    write_file(root / "root/.ssh/authorized_keys", public_key, mode=0o600)
    deploy_ssh = root / "home" / DEPLOY_USER / ".ssh"
    deploy_ssh.mkdir(mode=0o700, exist_ok=True)
    write_file(deploy_ssh / "authorized_keys", public_key, mode=0o600)
    uid, gid = account_ids(root, DEPLOY_USER)
    for path in (deploy_ssh, deploy_ssh / "authorized_keys"):
        os.chown(path, uid, gid)
    provided = HOST_FILES_DIR / host.name
    if provided.is_dir():
        shutil.copytree(provided, root, symlinks=True, dirs_exist_ok=True)
    return generate_host_keys(host, root)


def account_ids(root: Path, user: str) -> tuple[int, int]:
    """The uid and gid of ``user`` in the passwd file under ``root``."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise LabError(f"no user {user!r} in {root}/etc/passwd: rebuild the base image")


def write_known_hosts(host_keys: Iterable[tuple[LabHost, Sequence[str]]]) -> None:
    write_file(KNOWN_HOSTS, render_known_hosts(host_keys), mode=0o600)


def nspawn_argv(host: LabHost) -> list[str]:
    return [
        "systemd-nspawn",
        f"--directory={host_root(host.name)}",
        "--boot",
        "--register=no",  # there is no host systemd (system bus) to register with
        "--keep-unit",  # nor one to create a scope unit: stay in the cgroup we start in
        f"--machine={host.name}",
        f"--hostname={host.name}",
        f"--network-bridge={BRIDGE}",  # a private network namespace also grants CAP_NET_ADMIN
        "--resolv-conf=off",  # the host's resolv.conf was written in prepare_host
        "--link-journal=no",
    ]


def host_cgroups(name: str) -> list[Path]:
    return [root / CGROUP_NAME / name for root in cgroup_roots(current_mounts())]


# The nspawns this process started, by host: their exit status is known only to us.
_started: dict[str, subprocess.Popen] = {}


def boot_host(host: LabHost) -> None:
    """Start the host's nspawn detached, in its own session and cgroups."""
    cgroups = host_cgroups(host.name)
    for cgroup in cgroups:
        cgroup.mkdir(parents=True, exist_ok=True)
    with host_console_log(host.name).open("wb") as console:
        nspawn = subprocess.Popen(
            [
                sys.executable, "-I", "-c", JOIN_CGROUPS_THEN_EXEC,
                *(str(cgroup / "cgroup.procs") for cgroup in cgroups), "--", *nspawn_argv(host),
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _started[host.name] = nspawn
    host_pid_file(host.name).write_text(f"{nspawn.pid}\n")


def exit_status(name: str) -> int | None:
    """How the host's nspawn ended (a negative number: the signal that killed it), or None
    while it runs. Only known for an nspawn this process started; for another one, -1 once
    it is gone."""
    started = _started.get(name)
    if started is not None and started.pid == recorded_pid(name):
        return started.poll()
    pid = recorded_pid(name)
    return None if pid is not None and process_alive(pid) else -1


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (not a zombie). Unlike its argv, which reads empty for a moment
    while the process replaces itself with exec, this does not flicker."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def describe_exit(status: int) -> str:
    if status < 0:
        return f"killed by signal {signal.Signals(-status).name}"
    return f"exited with status {status}"


def process_argv(pid: int) -> list[str]:
    """A process's argv; empty for a zombie, a kernel thread or a process that is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def recorded_pid(name: str) -> int | None:
    try:
        return int(host_pid_file(name).read_text())
    except (OSError, ValueError):
        return None


def nspawn_pid(name: str) -> int | None:
    """PID of the host's systemd-nspawn if it is alive (a recorded PID may have been reused)."""
    pid = recorded_pid(name)
    if pid is None:
        return None
    return pid if is_nspawn_for(process_argv(pid), host_root(name)) else None


def child_pids(pid: int) -> list[int]:
    children = []
    for task_children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children.extend(int(child) for child in task_children.read_text().split())
    return children


def systemd_state(leader: int) -> str:
    """``systemctl is-system-running`` inside the host, "-" when it cannot be asked."""
    try:
        result = subprocess.run(
            ["nsenter", "--target", str(leader), "--all", "systemctl", "is-system-running"],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        return "-"
    return result.stdout.strip() or "-"


def ssh_works(name: str) -> bool:
    try:
        result = subprocess.run(
            ssh_argv(name, "true"), capture_output=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def host_status(host: LabHost) -> HostStatus:
    running = nspawn_pid(host.name) is not None
    leader = leader_pid(host.name)
    return HostStatus(
        name=host.name,
        address=host.address,
        running=running,
        ssh_ok=running and ssh_works(host.name),
        systemd_state=systemd_state(leader) if leader is not None else "-",
    )


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``condition`` until it returns a value; LabError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def booted_state(host: LabHost) -> str | None:
    """systemd's state once the host finished booting; LabError if its nspawn died."""
    status = exit_status(host.name)
    if status is not None:
        console = host_console_log(host.name)
        # Said where the next person looks, since nspawn itself may have printed nothing.
        with console.open("a") as log:
            log.write(f"\n[obs-lab] systemd-nspawn {describe_exit(status)}\n")
        tail = "\n".join(console.read_text(errors="replace").splitlines()[-20:])
        raise LabError(
            f"{host.name}: systemd-nspawn {describe_exit(status)} while booting; {console}:\n"
            f"{tail}"
        )
    leader = leader_pid(host.name)
    state = systemd_state(leader) if leader is not None else "-"
    return state if state in ("running", "degraded") else None


def booted_from_current_base() -> bool:
    """Whether the running hosts were made from the base image the code describes now."""
    try:
        return json.loads(HOSTS_BASE_INPUTS.read_text()) == base_image_inputs()
    except (OSError, ValueError):
        return False


def start_hosts(progress: Callable[[str], None]) -> None:
    """From nothing to every host booted and reachable over SSH."""
    base = ensure_base_image(progress)
    HOSTS_DIR.mkdir(parents=True, exist_ok=True)
    HOSTS_BASE_INPUTS.write_text(json.dumps(base_image_inputs()))
    ensure_lab_key()
    ensure_network(progress)
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        host_keys = list(pool.map(lambda host: prepare_host(host, base), HOSTS))
    write_known_hosts(zip(HOSTS, host_keys, strict=True))
    progress(f"lab: booting {', '.join(host.name for host in HOSTS)}")
    booting = time.monotonic()
    for host in HOSTS:
        boot_host(host)
    wait_until_all_ready(progress, booting)


def wait_until_ready(host: LabHost, started: float, progress: Callable[[str], None]) -> None:
    state = wait_for(lambda: booted_state(host), BOOT_TIMEOUT, f"{host.name} to boot")
    wait_for(lambda: ssh_works(host.name), BOOT_TIMEOUT, f"ssh to {host.name} ({host.address})")
    progress(f"lab: {host.name} ready, systemd {state} ({time.monotonic() - started:.1f}s)")


def wait_until_all_ready(progress: Callable[[str], None], started: float) -> None:
    with ThreadPoolExecutor(len(HOSTS)) as pool:
        for waited in [pool.submit(wait_until_ready, h, started, progress) for h in HOSTS]:
            waited.result()


# ---------------------------------------------------------------------------- network


def ensure_network(progress: Callable[[str], None]) -> None:
    """Bridge with the gateway address, IPv4 forwarding and our NAT/accept rules."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "address", "replace", f"{GATEWAY}/{PREFIX_LENGTH}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    for table, chain, rule in lab_rules():
        exists = subprocess.run(
            ["iptables", "-w", "-t", table, "-C", chain, *rule], capture_output=True, check=False
        )
        if exists.returncode != 0:
            # Inserted first, ahead of any DROP rule of the controller's own firewall.
            run(["iptables", "-w", "-t", table, "-I", chain, "1", *rule])
    progress(f"lab: bridge {BRIDGE} {GATEWAY}/{PREFIX_LENGTH}, NAT for {SUBNET}")


def veth_name(host: LabHost) -> str:
    """The host side of the host's veth, as ``--network-bridge`` names it (IFNAMSIZ)."""
    return f"vb-{host.name}"[:15]


def remove_leftover_veths(progress: Callable[[str], None]) -> None:
    """A killed host's veth outlives its processes until the kernel frees the network
    namespace, and a new nspawn cannot create one by the same name meanwhile."""
    leftovers = [
        veth_name(host) for host in HOSTS if Path(f"/sys/class/net/{veth_name(host)}").exists()
    ]
    for name in leftovers:
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    if leftovers:
        wait_for(
            lambda: not any(Path(f"/sys/class/net/{name}").exists() for name in leftovers),
            KILL_TIMEOUT,
            f"the veths {', '.join(leftovers)} to go",
        )
        progress(f"lab: removed leftover veths {', '.join(leftovers)}")


def remove_network(progress: Callable[[str], None]) -> None:
    removed = 0
    if shutil.which("iptables"):
        for table in ("nat", "filter"):
            listed = run(["iptables", "-w", "-t", table, "-S"]).stdout
            for deletion in tagged_rule_deletions(listed):
                run(["iptables", "-w", "-t", table, *deletion])
                removed += 1
    if removed:
        progress(f"lab: removed {removed} iptables rules tagged {RULE_COMMENT}")
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        run(["ip", "link", "delete", BRIDGE])
        progress(f"lab: removed bridge {BRIDGE}")


def add_controller_hosts_entries(progress: Callable[[str], None]) -> None:
    """Make the hosts' aliases resolve on the controller, for the lab's ACME CA running there."""
    if update_controller_hosts_file(with_lab_hosts_entries):
        aliases = [alias for host in HOSTS for alias in host.aliases]
        progress(f"lab: added {', '.join(aliases)} to {CONTROLLER_HOSTS_FILE}")


def remove_controller_hosts_entries(progress: Callable[[str], None]) -> None:
    if update_controller_hosts_file(without_lab_hosts_entries):
        progress(f"lab: removed the lines tagged {RULE_COMMENT} from {CONTROLLER_HOSTS_FILE}")


def update_controller_hosts_file(change: Callable[[str], str]) -> bool:
    """Apply ``change`` to the controller's /etc/hosts; whether that changed anything."""
    path = CONTROLLER_HOSTS_FILE.resolve()  # where it is a symlink, the link stays
    # Bytes that are not UTF-8 survive the round trip; so do \r\n line ends.
    current = path.read_bytes().decode(errors="surrogateescape")
    changed = change(current)
    if changed == current:
        return False
    replace_file_contents(path, changed.encode(errors="surrogateescape"))
    return True


def replace_file_contents(path: Path, content: bytes) -> None:
    """Give ``path`` new content atomically, keeping its mode and owner.

    Every program resolving a name reads /etc/hosts: it must see the old or the new file,
    never half of one. A bind-mounted file (/etc/hosts in many containers) cannot be
    renamed over (EBUSY), so it is rewritten in place instead.
    """
    status = path.stat()
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            os.fchmod(file.fileno(), status.st_mode & 0o7777)
            os.fchown(file.fileno(), status.st_uid, status.st_gid)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.replace(temporary, path)
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            path.write_bytes(content)
    finally:
        Path(temporary).unlink(missing_ok=True)


# --------------------------------------------------------------------------- teardown


def current_mounts() -> list[Mount]:
    return parse_mountinfo(Path("/proc/self/mountinfo").read_text())


def lab_cgroup_trees() -> list[Path]:
    return [
        root / CGROUP_NAME
        for root in cgroup_roots(current_mounts())
        if (root / CGROUP_NAME).is_dir()
    ]


def lab_cgroup_pids() -> set[int]:
    """Every process in a lab host's cgroups: nspawns, the hosts' systemds and all below."""
    pids = set()
    for tree in lab_cgroup_trees():
        # os.walk, unlike Path.rglob, shrugs off cgroups a dying host removes meanwhile.
        for directory, _, _ in os.walk(tree):
            with contextlib.suppress(OSError):
                pids.update(int(pid) for pid in Path(directory, "cgroup.procs").read_text().split())
    return pids


def reap_if_child(pid: int) -> None:
    """Collect the exit status of an nspawn this process started, so no zombie is left."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_hosts(progress: Callable[[str], None]) -> None:
    """Power off running hosts cleanly: nspawn turns SIGTERM into an orderly shutdown."""
    running = {host.name: pid for host in HOSTS if (pid := nspawn_pid(host.name)) is not None}
    if not running:
        return
    started = time.monotonic()
    for pid in running.values():
        os.kill(pid, signal.SIGTERM)

    def all_stopped() -> bool:
        for pid in running.values():
            reap_if_child(pid)
        return all(nspawn_pid(name) is None for name in running)

    with contextlib.suppress(LabError):  # kill_lab_processes ends the ones that did not stop
        wait_for(all_stopped, STOP_TIMEOUT, "hosts to power off")
    progress(f"lab: stopped {', '.join(running)} ({time.monotonic() - started:.1f}s)")


def kill_lab_processes(progress: Callable[[str], None]) -> None:
    """SIGKILL whatever still runs in the lab's cgroups (e.g. hosts whose nspawn was killed)."""
    leftovers = lab_cgroup_pids()
    if not leftovers:
        return
    progress(f"lab: killing {len(leftovers)} leftover lab processes")

    def killed_all() -> bool:
        for pid in lab_cgroup_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reap_if_child(pid)
        return not lab_cgroup_pids()

    wait_for(killed_all, KILL_TIMEOUT, "the lab's leftover processes to die")


def remove_lab_cgroups() -> None:
    for tree in lab_cgroup_trees():
        for directory, _, _ in os.walk(tree, topdown=False):
            # Removing a cgroup whose last process just died can briefly fail with EBUSY.
            wait_for(lambda d=directory: remove_cgroup(Path(d)), KILL_TIMEOUT, f"rmdir {directory}")


def remove_cgroup(directory: Path) -> bool:
    try:
        directory.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def unmount_all(directory: Path, progress: Callable[[str], None]) -> None:
    mount_points = mounts_under(current_mounts(), directory)
    for mount_point in mount_points:
        unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if unmounted.returncode != 0:
            # Busy (a shell's working directory, say): detach it so the state can go.
            run(["umount", "--lazy", str(mount_point)])
    if mount_points:
        progress(f"lab: unmounted {len(mount_points)} mounts under {directory}")


def remove_tree_without_mounts(directory: Path) -> None:
    """rmtree, refusing if anything is still mounted below (it would delete through it)."""
    still_mounted = mounts_under(current_mounts(), directory)
    if still_mounted:
        raise LabError(f"not removing {directory}: still mounted: {still_mounted}")
    shutil.rmtree(directory)


def tear_down(progress: Callable[[str], None]) -> None:
    """Remove every trace of lab hosts, running or not; keeps the lab key and the cache."""
    stop_hosts(progress)
    kill_lab_processes(progress)
    remove_leftover_veths(progress)
    remove_lab_cgroups()
    if STATE_DIR.exists():
        unmount_all(STATE_DIR, progress)
    if HOSTS_DIR.exists():
        remove_tree_without_mounts(HOSTS_DIR)
    remove_network(progress)
    remove_controller_hosts_entries(progress)
