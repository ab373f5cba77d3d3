"""Preflight's parsers and judges on output captured from real hosts; the artifact source check
against a local directory and a loopback HTTP server."""

from __future__ import annotations

import http.server
import subprocess
import threading
from functools import partial

import pytest

from obsstack.checks import (
    FAIL,
    PASS,
    SECTION_MARKER,
    WARN,
    Report,
    Result,
    format_report,
    host_results,
    parse_sections,
    section_script,
)
from obsstack.preflight import (
    GATHER_SCRIPT,
    GATHER_SECTIONS,
    GiB,
    Listener,
    MiB,
    check_archive,
    check_artifact_source,
    check_domains,
    evaluate_architecture,
    evaluate_clock,
    evaluate_commands,
    evaluate_disk,
    evaluate_dns,
    evaluate_memory,
    evaluate_os,
    evaluate_ports,
    evaluate_systemd,
    fix_script,
    is_our_binary,
    judge_host,
    parse_architecture,
    parse_facts,
    parse_listeners,
    required_ports,
    resolve,
    script_failure,
)
from obsstack.session import HostInfo, RemoteResult
from obsstack.textparse import parse_key_values

# GATHER_SCRIPT's output on the lab host web1 (Debian 13 in systemd-nspawn, deployed).
WEB1_OUTPUT = """\
::obs-check:: os-release
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.8
ID=debian
HOME_URL="https://www.debian.org/"
::obs-check:: architecture
amd64
::obs-check:: disk
/ 83456929792
/var 83456929792
::obs-check:: meminfo
MemTotal:       24684084 kB
MemAvailable:   23993776 kB
::obs-check:: pid1
systemd
::obs-check:: system-state
running
::obs-check:: timedatectl
CanNTP=no
NTPSynchronized=no
::obs-check:: container
systemd-nspawn
::obs-check:: missing-commands
::obs-check:: listening
LISTEN 0      128    0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=66,fd=6))
LISTEN 0      128       [::]:22      [::]:* users:(("sshd",pid=66,fd=7))
LISTEN 0      4096         *:9100       *:* users:(("node_exporter",pid=4325,fd=3))
::obs-check:: executables
4325 /opt/node_exporter/1.9.0/node_exporter
66 /usr/sbin/sshd
"""

# ss -ltnpH on the lab host outsider with Debian's prometheus-node-exporter package running.
FOREIGN_SS = """\
LISTEN 0      128    0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=75,fd=6))
LISTEN 0      128       [::]:22      [::]:* users:(("sshd",pid=75,fd=7))
LISTEN 0      4096         *:9100       *:* users:(("prometheus-node",pid=315,fd=3))
"""
FOREIGN_EXECUTABLES = {315: "/usr/bin/prometheus-node-exporter", 75: "/usr/sbin/sshd"}

# ss -ltnpH on the lab host obs, deployed.
OBS_SS = """\
LISTEN 0      128    0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=74,fd=6))
LISTEN 0      4096         *:9090       *:* users:(("prometheus",pid=935,fd=6))
LISTEN 0      4096         *:9093       *:* users:(("alertmanager",pid=1364,fd=3))
LISTEN 0      4096         *:9100       *:* users:(("node_exporter",pid=443,fd=3))
LISTEN 0      128       [::]:22      [::]:* users:(("sshd",pid=74,fd=7))
"""
OBS_EXECUTABLES = {
    935: "/opt/prometheus/2.53.3/prometheus",
    1364: "/opt/alertmanager/0.28.1/alertmanager",
    443: "/opt/node_exporter/1.9.0/node_exporter",
}

DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
UBUNTU_24_04 = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
"""
UBUNTU_22_04 = """\
PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
"""
DEBIAN_11 = """\
PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
ID=debian
"""
ROCKY_9 = """\
NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
"""


def lab_host(name: str, groups: list[str], **data) -> HostInfo:
    ports = {
        "node_exporter_port": 9100,
        "prometheus_port": 9090,
        "alertmanager_port": 9093,
        "loki_port": 3100,
        "loki_grpc_port": 9096,
    }
    return HostInfo(name, groups, {**ports, **data})


# ------------------------------------------------------------------------ parsing


def test_the_script_prints_every_section_the_parser_reads():
    sections = parse_sections(WEB1_OUTPUT)
    assert set(sections) == {
        "os-release", "architecture", "disk", "meminfo", "pid1", "system-state",
        "timedatectl", "container", "missing-commands", "listening", "executables",
    }  # fmt: skip
    assert all(f"'{SECTION_MARKER}{name}'" in GATHER_SCRIPT for name in sections)


def test_facts_of_a_deployed_lab_host():
    facts = parse_facts(parse_sections(WEB1_OUTPUT))
    assert facts.os_release["ID"] == "debian" and facts.os_release["VERSION_ID"] == "13"
    assert facts.architecture == "amd64"
    assert facts.free_disk == {"/": 83456929792, "/var": 83456929792}
    assert facts.mem_available == 23993776 * 1024
    assert (facts.pid1, facts.system_state) == ("systemd", "running")
    assert facts.timedatectl == {"CanNTP": "no", "NTPSynchronized": "no"}
    assert facts.container == "systemd-nspawn"
    assert facts.missing_commands == []
    assert Listener(9100, (("node_exporter", 4325),)) in facts.listeners
    assert facts.executables[4325] == "/opt/node_exporter/1.9.0/node_exporter"


def test_without_ss_there_are_no_listeners_to_judge():
    output = WEB1_OUTPUT.split("::obs-check:: listening")[0].replace(
        "::obs-check:: missing-commands\n", "::obs-check:: missing-commands\nss\n"
    )
    facts = parse_facts(parse_sections(output))
    assert facts.listeners is None
    assert facts.missing_commands == ["ss"]


def test_uname_names_are_translated_to_debian_architectures():
    assert parse_architecture("x86_64\n") == "amd64"
    assert parse_architecture("aarch64\n") == "arm64"
    assert parse_architecture("arm64\n") == "arm64"


def test_listeners_keep_every_process_of_a_socket():
    listeners = parse_listeners(FOREIGN_SS)
    assert [listener.port for listener in listeners] == [22, 22, 9100]
    assert listeners[2].processes == (("prometheus-node", 315),)


# ------------------------------------------------------------------------ judging


@pytest.mark.parametrize(
    ("os_release", "status"),
    [
        (WEB1_OUTPUT.split("::obs-check:: architecture")[0], PASS),
        (DEBIAN_12, PASS),
        (UBUNTU_24_04, PASS),
        (UBUNTU_22_04, PASS),
        (DEBIAN_11, FAIL),
        (ROCKY_9, FAIL),
        ("", FAIL),
    ],
)
def test_supported_operating_systems(os_release, status):
    outcome = evaluate_os(parse_key_values(os_release))
    assert outcome.status == status
    assert (outcome.hint == "") == (status == PASS)


def test_arm64_warns_about_the_amd64_pins_and_others_fail():
    assert evaluate_architecture("amd64").status == PASS
    arm = evaluate_architecture("arm64")
    assert arm.status == WARN and "arm64 pins" in arm.hint
    assert evaluate_architecture("i386").status == FAIL


@pytest.mark.parametrize(
    ("groups", "free", "status"),
    [
        (["observability"], 1 * GiB, FAIL),
        (["observability"], 5 * GiB, WARN),
        (["observability"], 80 * GiB, PASS),
        (["monitored"], 1 * GiB, PASS),
        (["monitored"], 512 * MiB, WARN),
        (["monitored"], 100 * MiB, FAIL),
        ([], 100 * MiB, FAIL),  # a host of no role still runs node_exporter
        (["monitored", "observability"], 5 * GiB, WARN),  # the strictest role counts
    ],
)
def test_free_disk_against_the_role_minimum(groups, free, status):
    assert evaluate_disk({"/": 80 * GiB, "/var": free}, groups).status == status


def test_unreadable_free_space_fails():
    outcome = evaluate_disk({"/": 80 * GiB, "/var": None}, ["monitored"])
    assert outcome.status == FAIL and "/var" in outcome.detail


@pytest.mark.parametrize(
    ("groups", "available", "status"),
    [
        (["observability"], 256 * MiB, FAIL),
        (["observability"], 768 * MiB, WARN),
        (["observability"], 2 * GiB, PASS),
        (["monitored"], 32 * MiB, FAIL),
        (["monitored"], 128 * MiB, WARN),
        (["monitored"], 512 * MiB, PASS),
        (["monitored"], None, WARN),
    ],
)
def test_available_memory_against_the_role_minimum(groups, available, status):
    assert evaluate_memory(available, groups).status == status


def test_systemd_must_be_pid_1_and_answer():
    assert evaluate_systemd("systemd", "running").status == PASS
    assert evaluate_systemd("systemd", "degraded").status == WARN
    assert evaluate_systemd("init", "").status == FAIL
    assert evaluate_systemd("systemd", "offline").status == FAIL


def test_a_container_clock_warns_instead_of_failing():
    container = evaluate_clock({"CanNTP": "no", "NTPSynchronized": "no"}, "systemd-nspawn")
    assert container.status == WARN and "container" in container.detail
    assert evaluate_clock({"NTPSynchronized": "yes"}, "none").status == PASS
    assert evaluate_clock({"NTPSynchronized": "no"}, "none").status == FAIL
    assert evaluate_clock({}, "none").status == WARN


def test_missing_commands_name_their_packages():
    outcome = evaluate_commands(["ss", "sha256sum", "install"])
    assert outcome.status == FAIL
    assert "ss (iproute2)" in outcome.detail and "sha256sum (coreutils)" in outcome.detail
    assert "apt-get install -y coreutils iproute2" in outcome.hint
    assert evaluate_commands([]).status == PASS


def test_ports_held_by_our_own_services_pass():
    obs = lab_host("obs", ["observability"])
    outcome = evaluate_ports(required_ports(obs), parse_listeners(OBS_SS), OBS_EXECUTABLES)
    assert outcome.status == PASS
    assert "9100 in use by node_exporter (ours)" in outcome.detail
    assert "9090 in use by prometheus (ours)" in outcome.detail


def test_a_port_held_by_another_program_fails_naming_it():
    outsider = lab_host("outsider", ["monitored"])
    ss = parse_listeners(FOREIGN_SS)
    outcome = evaluate_ports(required_ports(outsider), ss, FOREIGN_EXECUTABLES)
    assert outcome.status == FAIL
    assert "prometheus-node (pid 315, /usr/bin/prometheus-node-exporter)" in outcome.detail


def test_free_ports_pass_and_missing_ss_fails():
    obs = lab_host("obs", ["observability"], prometheus_port=19090)
    outcome = evaluate_ports(required_ports(obs), parse_listeners(OBS_SS), OBS_EXECUTABLES)
    assert outcome.status == PASS and "19090 free" in outcome.detail
    missing = evaluate_ports(required_ports(obs), None, {})
    assert missing.status == FAIL and "iproute2" in missing.detail


def test_required_ports_follow_the_roles_and_port_settings():
    assert required_ports(lab_host("web1", ["monitored"], node_exporter_port=9200)) == {
        9200: "node_exporter"
    }
    assert required_ports(lab_host("obs", ["observability"])) == {
        9100: "node_exporter",
        9090: "prometheus",
        9093: "alertmanager",
        3100: "loki",
        9096: "loki",
        80: "nginx",
        443: "nginx",
    }


def test_our_binaries_are_the_release_installs_only():
    assert is_our_binary("/opt/node_exporter/1.9.0/node_exporter", "node_exporter")
    assert is_our_binary("/usr/local/bin/node_exporter", "node_exporter")
    assert is_our_binary("/opt/node_exporter/1.5.0/node_exporter (deleted)", "node_exporter")
    assert not is_our_binary("/usr/bin/prometheus-node-exporter", "node_exporter")
    assert not is_our_binary("/opt/prometheus/2.53.3/prometheus", "node_exporter")
    assert is_our_binary("/usr/sbin/nginx", "nginx")
    assert not is_our_binary("/usr/sbin/apache2", "nginx")
    # A program installed as a whole tree runs from inside it.
    assert is_our_binary("/opt/grafana/13.2.3/bin/grafana", "grafana")
    assert not is_our_binary("/opt/grafana/13.2.3/grafana", "grafana")
    assert not is_our_binary("/usr/share/grafana/bin/grafana", "grafana")


def host_answer(result: RemoteResult) -> list[Result]:
    """The results of web1's answer to the gather script."""
    web1 = lab_host("web1", ["monitored"])
    return host_results(web1, result, partial(judge_host, {}), script_failure)


def test_unreachable_hosts_fail_with_pyinfras_reason():
    reason = "Could not resolve hostname ([Errno -2] Name or service not known)"
    [outcome] = host_answer(RemoteResult(False, "", reason, connected=False))
    assert outcome.status == FAIL and "ssh_hostname" in outcome.hint
    assert host_answer(RemoteResult(True, WEB1_OUTPUT, ""))[0] == Result(
        "web1", "ssh", PASS, "connected"
    )


def test_a_script_that_did_not_run_names_sudo():
    [outcome] = host_answer(RemoteResult(False, "", "sudo: a password is required\n"))
    assert (outcome.check, outcome.status) == ("ssh", FAIL)
    sudo = "sudo: a password is required"
    assert outcome.detail == f"connected, but the check script did not run: {sudo}"
    assert "NOPASSWD" in outcome.hint


def test_the_fix_updates_apt_before_installing():
    script = fix_script(["iproute2"])
    assert script.index("update") < script.index("install -y iproute2")


def test_report_counts_and_formats():
    report = Report(
        [
            Result("web1", "clock", WARN, "unknown", "check the host's clock"),
            Result("web1", "commands", FAIL, "missing: ss (iproute2)", "apt-get install"),
            Result("controller", "artifact source", PASS, "exists"),
        ],
        fixed=["web1: installed iproute2 (apt-get install -y)"],
    )
    assert not report.ok and report.counts() == {PASS: 1, WARN: 1, FAIL: 1}
    text = format_report(report)
    assert "1 pass, 1 warn, 1 fail" in text
    assert "fixed: web1: installed iproute2" in text
    assert report.to_json()["results"][1]["check"] == "commands"


# ---------------------------------------------------------------- artifact source

ARCHIVE = "node_exporter/1.9.0/node_exporter-1.9.0.linux-amd64.tar.gz"


@pytest.fixture
def mirror(tmp_path):
    archive = tmp_path / "mirror" / ARCHIVE
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"release bytes")
    return tmp_path / "mirror"


@pytest.fixture
def http_mirror(mirror):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_local_mirror_has_the_archive_or_not(mirror):
    assert check_archive(str(mirror), "node_exporter", "1.9.0").status == PASS
    missing = check_archive(str(mirror), "node_exporter", "1.8.0")
    assert missing.status == FAIL and "1.8.0" in missing.detail


def test_an_http_mirror_answers_200_or_404(http_mirror):
    found = check_archive(http_mirror, "node_exporter", "1.9.0")
    assert found.status == PASS and "200" in found.detail
    missing = check_archive(http_mirror, "node_exporter", "1.8.0")
    assert missing.status == FAIL and "HTTP 404" in missing.detail


def test_an_unreachable_mirror_fails_with_the_reason():
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    closed.server_close()  # nothing listens on this port any more
    outcome = check_archive(f"http://127.0.0.1:{closed.server_address[1]}", "node_exporter", "1")
    assert outcome.status == FAIL and "Connection refused" in outcome.detail


def test_only_the_archives_the_hosts_install_are_checked(mirror):
    pins = {
        name: {"version": "1.9.0", "sha256": "0" * 64}
        for name in ("node_exporter", "prometheus", "alertmanager")
    }
    hosts = [
        lab_host(name, ["monitored"], artifact_source=str(mirror), releases=pins)
        for name in ("web1", "app1")
    ]
    findings = check_artifact_source(hosts)
    assert [(f.host, f.status) for f in findings] == [("controller", PASS)]
    assert findings[0].detail.startswith("node_exporter 1.9.0:")


def test_unusable_pins_fail_with_their_explanation():
    explanation = "not available: /var/cache/obs-lab/mirror/pins.json is missing"
    findings = check_artifact_source([lab_host("web1", ["monitored"], releases=explanation)])
    assert findings[0].status == FAIL and explanation in findings[0].detail


# ------------------------------------------------------------------------ DNS


def server(**data) -> HostInfo:
    return lab_host("obs", ["observability"], **{"domain": "obs.example.net", **data})


def test_domain_resolving_to_the_server_passes():
    outcome = evaluate_dns(server(ssh_hostname="203.0.113.7"), ["203.0.113.7"])
    assert (outcome.status, outcome.detail) == (PASS, "obs.example.net -> 203.0.113.7")


def test_domain_resolving_elsewhere_warns_with_the_addresses():
    outcome = evaluate_dns(server(ssh_hostname="203.0.113.7"), ["198.51.100.1"])
    assert outcome.status == WARN
    assert outcome.detail == "obs.example.net -> 198.51.100.1, not 203.0.113.7"


def test_domain_that_does_not_resolve_fails_with_a_fix():
    outcome = evaluate_dns(server(ssh_hostname="203.0.113.7"), None)
    assert (outcome.status, outcome.detail) == (FAIL, "obs.example.net does not resolve")
    assert "A/AAAA record for obs.example.net" in outcome.hint


def test_resolve_uses_the_controllers_resolver():
    assert "127.0.0.1" in resolve("localhost")
    assert resolve("name.invalid") is None  # RFC 2606: never resolves


def test_only_observability_servers_get_a_dns_check():
    web1 = lab_host("web1", ["monitored"])
    findings = check_domains([web1, server(ssh_hostname="127.0.0.1", domain="localhost")])
    assert [(f.host, f.check, f.status) for f in findings] == [("obs", "dns", PASS)]


# ------------------------------------------------------- the components a host runs

AGENT_PORTS = {
    "nginx_exporter_port": 9113,
    "nginx_stub_status_port": 8181,
    "mysqld_exporter_port": 9104,
    "php_fpm_status_port": 9253,
    "blackbox_exporter_port": 9115,
}


def test_required_ports_include_the_agents_and_the_probes():
    web1 = lab_host("web1", ["monitored"], **AGENT_PORTS)
    assert required_ports(web1, ["nginx", "php_fpm", "fail2ban"]) == {
        9100: "node_exporter",
        9113: "nginx_exporter",
        8181: "nginx",
        9253: "nginx",
    }
    assert required_ports(web1, ["mysql"]) == {9100: "node_exporter", 9104: "mysqld_exporter"}
    obs = lab_host("obs", ["observability"], blackbox_targets=["https://x.test/"], **AGENT_PORTS)
    assert required_ports(obs)[9115] == "blackbox_exporter"


def test_an_auto_host_is_judged_by_what_detection_found_on_it():
    output = WEB1_OUTPUT + "::obs-check:: agents\n@agent nginx\n@detected\n"
    web1 = lab_host("web1", ["monitored"], agents="auto", **AGENT_PORTS)
    results = partial(judge_host, {})(web1, parse_sections(output))
    ports = next(result for result in results if result.check == "ports")
    assert "9113 free" in ports.detail and "8181 free" in ports.detail
    listed = lab_host("web1", ["monitored"], agents=["mysql"], **AGENT_PORTS)
    results = partial(judge_host, {})(listed, parse_sections(output))
    ports = next(result for result in results if result.check == "ports")
    assert "9104 free" in ports.detail and "9113" not in ports.detail


def test_detection_that_cannot_finish_checks_no_agent_ports(tmp_path):
    systemctl = tmp_path / "systemctl"
    systemctl.write_text("#!/bin/sh\nexit 1\n")
    systemctl.chmod(0o755)
    script = section_script({"agents": GATHER_SECTIONS["agents"], "after": "echo after"})
    run = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    sections = parse_sections(run.stdout)
    assert sections["after"] == "after", "the rest of the script still runs"
    assert parse_facts(sections).agents is None


def test_the_archives_of_the_agents_and_probes_are_checked(mirror):
    pins = {
        name: {"version": "1.9.0", "sha256": "0" * 64}
        for name in ("node_exporter", "prometheus", "alertmanager", "nginx_exporter")
    }
    data = {"artifact_source": str(mirror), "releases": pins}
    web1 = lab_host("web1", ["monitored"], **data)
    obs = lab_host("obs", ["observability"], blackbox_targets=["https://x.test/"], **data)
    findings = check_artifact_source([web1, obs], {"web1": ["nginx", "mysql"], "obs": []})
    checked = {f.detail.split(":")[0] for f in findings if "pin" not in f.detail}
    assert checked == {
        f"{name} 1.9.0"
        for name in ("node_exporter", "prometheus", "alertmanager", "nginx_exporter")
    }
    unpinned = sorted(f.detail for f in findings if "no pin" in f.detail)
    assert unpinned == [
        "obs runs blackbox_exporter, but releases has no pin for it",
        "obs runs loki, but releases has no pin for it",
        "web1 runs mysqld_exporter, but releases has no pin for it",
    ]
    assert all(f.status == FAIL for f in findings if "no pin" in f.detail)
