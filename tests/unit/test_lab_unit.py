"""The lab's pure parts: rendering host files, parsing /proc and iptables, stale-state checks."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from obslab import machines

MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup rw
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
40 22 0:40 / /var/lib/obs-lab/hosts/obs/root rw - overlay obs-lab-obs rw,lowerdir=/b
41 40 0:41 / /var/lib/obs-lab/hosts/obs/root/proc rw - proc proc rw
42 22 0:42 / /var/lib/obs-lab/hosts/web1/root rw - overlay obs-lab-web1 rw,lowerdir=/b
43 42 0:43 / /var/lib/obs-lab/hosts/web1/root rw - tmpfs tmpfs rw
44 22 0:44 / /var/lib/obs-lab-other rw - tmpfs tmpfs rw
45 22 0:45 / /mnt/with\\040space rw - tmpfs tmpfs rw
"""

OBS = machines.lab_host("obs")


def test_mountinfo_is_parsed_with_escaped_mount_points():
    mounts = machines.parse_mountinfo(MOUNTINFO)

    assert mounts[0] == machines.Mount(Path("/"), "ext4", ("rw",))
    assert mounts[-1].mount_point == Path("/mnt/with space")
    assert "name=systemd" in mounts[3].super_options


def test_mounts_under_the_state_dir_come_deepest_and_last_mounted_first():
    mounts = machines.parse_mountinfo(MOUNTINFO)

    assert machines.mounts_under(mounts, Path("/var/lib/obs-lab")) == [
        Path("/var/lib/obs-lab/hosts/obs/root/proc"),
        Path("/var/lib/obs-lab/hosts/web1/root"),  # the tmpfs stacked on the overlay
        Path("/var/lib/obs-lab/hosts/web1/root"),
        Path("/var/lib/obs-lab/hosts/obs/root"),
    ]  # and not /var/lib/obs-lab-other, a sibling that merely shares the prefix


def test_cgroup_roots_are_the_unified_and_named_systemd_hierarchies():
    mounts = machines.parse_mountinfo(MOUNTINFO)

    assert machines.cgroup_roots(mounts) == [
        Path("/sys/fs/cgroup/unified"),
        Path("/sys/fs/cgroup/systemd"),
    ]


def test_cgroup_root_of_a_pure_cgroup2_machine():
    mounts = machines.parse_mountinfo("30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")

    assert machines.cgroup_roots(mounts) == [Path("/sys/fs/cgroup")]


def test_is_nspawn_for_recognises_only_the_nspawn_of_that_root():
    root = Path("/var/lib/obs-lab/hosts/obs/root")
    argv = machines.nspawn_argv(OBS)

    assert machines.is_nspawn_for(argv, root)
    assert machines.is_nspawn_for(["/usr/bin/systemd-nspawn", *argv[1:]], root)
    assert not machines.is_nspawn_for([], root)  # a zombie or a process that is gone
    assert not machines.is_nspawn_for(machines.nspawn_argv(machines.lab_host("web1")), root)
    assert not machines.is_nspawn_for(["sleep", f"--directory={root}"], root)
    assert not machines.is_nspawn_for(["systemd-nspawn", f"--directory={root}2"], root)


def test_innermost_pid_is_the_last_nspid():
    assert machines.innermost_pid("Name:\tsystemd\nNSpid:\t12906\t1\n") == 1
    assert machines.innermost_pid("Name:\tsshd\nNSpid:\t4242\n") == 4242
    assert machines.innermost_pid("Name:\tkthreadd\n") is None


def test_resolv_conf_keeps_what_a_host_can_reach():
    controller = (
        "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n"
        "nameserver ::1\nsearch example.test\noptions edns0\n"
    )

    assert machines.usable_nameservers(controller) == ["10.255.255.53"]
    rendered = machines.render_resolv_conf(controller)
    assert "127.0.0.53" not in rendered
    assert "::1" not in rendered
    assert rendered.splitlines()[1:] == [
        "nameserver 10.255.255.53",
        "search example.test",
        "options edns0",
    ]


def test_hosts_file_lists_every_lab_host_and_the_controllers_own_entries():
    controller = (
        "127.0.0.1 localhost\n127.0.1.1 ctl-box\n"
        "203.0.113.80 deb.debian.org  # pinned mirror\n"
        "192.0.2.9 obs\n"  # would shadow a lab host
        "fe80::1%eth0 router\n"
        "10.99.0.10\tobs.lab.test\t# obs-lab\n"  # the lab's own line on the controller
    )

    lines = machines.render_hosts_file(controller).splitlines()

    assert "10.99.0.10\tobs\tobs.lab.test" in lines
    assert "10.99.0.13\toutsider" in lines
    assert "203.0.113.80 deb.debian.org" in lines
    assert "fe80::1%eth0 router" in lines
    assert not any("ctl-box" in line or "192.0.2.9" in line for line in lines)
    assert sum("obs.lab.test" in line for line in lines) == 1
    # Lab hosts come before anything copied from the controller.
    assert lines.index("10.99.0.10\tobs\tobs.lab.test") < lines.index("203.0.113.80 deb.debian.org")


CONTROLLER_HOSTS = (
    "127.0.0.1 localhost\n"
    "# The following lines are desirable for IPv6 capable hosts\n"
    "::1 localhost ip6-localhost ip6-loopback\n"
    "192.0.2.7 build  # obs-lab other\n"  # someone else's tag, merely similar
    "203.0.113.80 deb.debian.org"  # no newline at the end
)
LAB_DOMAIN_LINE = "10.99.0.10\tobs.lab.test\t# obs-lab\n"


def test_the_lab_domain_is_added_once_after_every_other_line():
    added = machines.with_lab_hosts_entries(CONTROLLER_HOSTS)

    assert added == CONTROLLER_HOSTS + "\n" + LAB_DOMAIN_LINE
    assert machines.with_lab_hosts_entries(added) == added
    assert machines.with_lab_hosts_entries("") == LAB_DOMAIN_LINE


def test_an_outdated_lab_line_is_replaced_not_duplicated():
    outdated = "127.0.0.1 localhost\n192.0.2.1 obs.lab.test # obs-lab\n::1 localhost\n"

    assert machines.with_lab_hosts_entries(outdated) == (
        "127.0.0.1 localhost\n::1 localhost\n" + LAB_DOMAIN_LINE
    )


def test_removing_the_lab_lines_gives_back_every_other_line_as_it_was():
    with_crlf = CONTROLLER_HOSTS.replace("\n", "\r\n") + "\r\n"

    for original in (CONTROLLER_HOSTS + "\n", with_crlf):
        with_entries = machines.with_lab_hosts_entries(original)
        assert machines.without_lab_hosts_entries(with_entries) == original
    assert machines.without_lab_hosts_entries(CONTROLLER_HOSTS) == CONTROLLER_HOSTS


@pytest.fixture
def controller_hosts(tmp_path, monkeypatch) -> Path:
    """A controller /etc/hosts (mode 0640, to see it kept) the lab writes to instead."""
    hosts = tmp_path / "etc" / "hosts"
    hosts.parent.mkdir()
    hosts.write_bytes(CONTROLLER_HOSTS.encode())
    hosts.chmod(0o640)
    monkeypatch.setattr(machines, "CONTROLLER_HOSTS_FILE", hosts)
    return hosts


def test_the_controller_gets_the_lab_domain_until_the_lab_goes(controller_hosts):
    progress: list[str] = []

    machines.add_controller_hosts_entries(progress.append)
    machines.add_controller_hosts_entries(progress.append)

    assert controller_hosts.read_text().count("obs.lab.test") == 1
    assert progress == [f"lab: added obs.lab.test to {controller_hosts}"]  # once: no-op later
    assert controller_hosts.stat().st_mode & 0o777 == 0o640
    machines.remove_controller_hosts_entries(progress.append)
    assert controller_hosts.read_text() == CONTROLLER_HOSTS + "\n"
    assert os.listdir(controller_hosts.parent) == ["hosts"]  # no temporary file left


def test_a_symlinked_hosts_file_stays_a_symlink(controller_hosts, monkeypatch):
    link = controller_hosts.with_name("hosts-link")
    link.symlink_to(controller_hosts)
    monkeypatch.setattr(machines, "CONTROLLER_HOSTS_FILE", link)

    machines.add_controller_hosts_entries(lambda _line: None)

    assert link.is_symlink()
    assert controller_hosts.read_text().endswith(LAB_DOMAIN_LINE)


def test_a_bind_mounted_hosts_file_is_rewritten_in_place(controller_hosts, monkeypatch):
    def busy(source, destination):
        raise OSError(errno.EBUSY, "Device or resource busy", str(destination))

    inode = controller_hosts.stat().st_ino
    monkeypatch.setattr(os, "replace", busy)

    machines.add_controller_hosts_entries(lambda _line: None)

    assert controller_hosts.read_text().endswith(LAB_DOMAIN_LINE)
    assert controller_hosts.stat().st_ino == inode
    assert os.listdir(controller_hosts.parent) == ["hosts"]


def test_network_file_gives_host0_its_static_address():
    rendered = machines.render_network_file(OBS, ["10.255.255.53", "192.0.2.53"])

    assert rendered == (
        "[Match]\nName=host0\n\n[Network]\n"
        "Address=10.99.0.10/24\nGateway=10.99.0.1\n"
        "DNS=10.255.255.53\nDNS=192.0.2.53\n"
    )


def test_known_hosts_names_each_key_by_host_name_and_address():
    rendered = machines.render_known_hosts(
        [(OBS, ["ssh-ed25519 AAAAkey1 root@obs", "ssh-rsa AAAAkey2 root@obs"])]
    )

    assert rendered == (
        "obs,10.99.0.10 ssh-ed25519 AAAAkey1\nobs,10.99.0.10 ssh-rsa AAAAkey2\n"
    )


def test_every_lab_rule_carries_the_lab_comment():
    for _table, _chain, rule in machines.lab_rules():
        assert "--comment" in rule
        assert rule[rule.index("--comment") + 1] == machines.RULE_COMMENT


def test_only_rules_tagged_for_the_lab_are_deleted():
    listed = (
        "-P FORWARD DROP\n"
        "-A FORWARD -i obslab0 -m comment --comment obs-lab -j ACCEPT\n"
        "-A FORWARD -i docker0 -j ACCEPT\n"
        '-A FORWARD -i br1 -m comment --comment "obs-lab other" -j ACCEPT\n'
        "-A POSTROUTING -s 10.99.0.0/24 ! -o obslab0 -m comment --comment obs-lab -j MASQUERADE\n"
    )

    assert machines.tagged_rule_deletions(listed) == [
        ["-D", "FORWARD", "-i", "obslab0", "-m", "comment", "--comment", "obs-lab", "-j",
         "ACCEPT"],
        ["-D", "POSTROUTING", "-s", "10.99.0.0/24", "!", "-o", "obslab0", "-m", "comment",
         "--comment", "obs-lab", "-j", "MASQUERADE"],
    ]


def test_a_changed_package_list_changes_the_base_image_inputs(monkeypatch):
    before = machines.base_image_inputs()
    monkeypatch.setattr(machines, "BASE_PACKAGES", (*machines.BASE_PACKAGES, "vim-tiny"))

    assert machines.base_image_inputs() != before


def test_ssh_argv_reaches_the_host_as_root_with_the_lab_key():
    argv = machines.ssh_argv("web1", "systemctl", "is-system-running")

    assert argv[0] == "ssh"
    assert argv[-3:] == ["root@10.99.0.11", "systemctl", "is-system-running"]
    assert str(machines.SSH_KEY) in argv
    assert f"UserKnownHostsFile={machines.KNOWN_HOSTS}" in argv
    assert "StrictHostKeyChecking=yes" in argv


def test_ssh_argv_of_an_unknown_host_names_the_lab_hosts():
    with pytest.raises(machines.LabError, match="obs, web1, app1, outsider"):
        machines.ssh_argv("db1")


def test_wait_for_gives_up_with_a_lab_error():
    with pytest.raises(machines.LabError, match="timed out after 0s waiting for nothing"):
        machines.wait_for(lambda: None, 0, "nothing")


@pytest.fixture
def hosts_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(machines, "HOSTS_DIR", tmp_path)
    (tmp_path / "obs").mkdir()
    return tmp_path


def record_pid(pid: int) -> None:
    machines.host_pid_file("obs").write_text(f"{pid}\n")


def process_named_nspawn(*arguments: str) -> subprocess.Popen:
    """A harmless process whose argv looks like systemd-nspawn with ``arguments``."""
    return subprocess.Popen(
        ["systemd-nspawn", "-c", "import sys; sys.stdin.read()", *arguments],
        executable=sys.executable,
        stdin=subprocess.PIPE,
    )


def test_a_host_without_a_pid_file_is_not_running(hosts_dir):
    assert machines.nspawn_pid("obs") is None


def test_a_recorded_pid_of_another_program_is_stale(hosts_dir):
    record_pid(os.getpid())  # alive, but pytest, not nspawn

    assert machines.nspawn_pid("obs") is None


def test_a_live_nspawn_of_that_root_is_running_until_it_dies(hosts_dir):
    process = process_named_nspawn(f"--directory={machines.host_root('obs')}")
    record_pid(process.pid)
    try:
        # This sandbox's /proc can show an empty argv for a moment right after exec.
        machines.wait_for(
            lambda: machines.nspawn_pid("obs") == process.pid, 5, "the new argv in /proc"
        )
    finally:
        process.kill()
    # Dead but not yet reaped (a zombie) already counts as not running.
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    assert machines.nspawn_pid("obs") is None
    process.wait()
    assert machines.nspawn_pid("obs") is None


def test_a_live_nspawn_of_another_root_is_not_this_host(hosts_dir):
    process = process_named_nspawn("--directory=/var/lib/machines/other")
    record_pid(process.pid)
    try:
        assert machines.nspawn_pid("obs") is None
    finally:
        process.kill()
        process.wait()


def test_a_process_is_alive_until_it_is_a_zombie():
    process = subprocess.Popen(["sleep", "30"])
    try:
        assert machines.process_alive(process.pid)
    finally:
        process.kill()
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    assert not machines.process_alive(process.pid)
    process.wait()
    assert not machines.process_alive(process.pid)


def test_an_nspawn_just_started_is_not_taken_for_dead(hosts_dir):
    """Right after exec a process's argv can read empty: that must not count as an exit
    (a machines.up once failed "nspawn exited while booting" with an empty console log)."""
    machines.host_console_log("obs").write_text("")
    for _ in range(20):
        process = subprocess.Popen(
            [sys.executable, "-c", "import os; os.execvp('sleep', ['sleep', '30'])"]
        )
        machines._started["obs"] = process
        record_pid(process.pid)
        try:
            assert machines.exit_status("obs") is None
            assert machines.booted_state(machines.lab_host("obs")) is None  # booting, not failed
        finally:
            process.kill()
            process.wait()


def test_an_nspawn_that_exits_says_how_in_its_console_log(hosts_dir):
    machines.host_console_log("obs").write_text("")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    machines._started["obs"] = process
    record_pid(process.pid)
    booting_failed = "systemd-nspawn exited with status 3 while booting"
    with pytest.raises(machines.LabError, match=booting_failed):
        machines.booted_state(machines.lab_host("obs"))
    console = machines.host_console_log("obs").read_text()
    assert "[obs-lab] systemd-nspawn exited with status 3" in console
    assert machines.describe_exit(-9) == "killed by signal SIGKILL"


def test_a_veth_name_is_what_nspawn_gives_it():
    assert machines.veth_name(machines.lab_host("outsider")) == "vb-outsider"
    assert len(machines.veth_name(machines.LabHost("a-very-long-host-name", "10.0.0.1", ()))) == 15
