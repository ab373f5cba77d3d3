"""Preflight on real hosts: the deployed lab passes; --fix repairs a missing command."""

from __future__ import annotations

import subprocess

import pytest
from conftest import LAB_INVENTORY

from obslab import machines
from obsstack.catalog import running
from obsstack.checks import FAIL, PASS, Report, Result, format_report
from obsstack.preflight import CONTROLLER, DNS_CHECK, HOST_CHECKS, run_preflight

pytestmark = pytest.mark.lab

OUTSIDER = "outsider"
APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120"
# outsider in group monitored. The file's name is also a group name (pyinfra names a group
# after the inventory file) that no group_data file matches; group_data/all.py points at
# GitHub, unreachable here, so the host takes the lab's mirror like group_data/lab.py does.
OUTSIDER_INVENTORY = """
from obslab import machines, services

_host = machines.lab_host("outsider")
monitored = [
    (
        _host.name,
        {
            "ssh_hostname": _host.address,
            "ssh_user": "root",
            "ssh_key": str(machines.SSH_KEY),
            "ssh_known_hosts_file": str(machines.KNOWN_HOSTS),
            "ssh_strict_host_key_checking": "yes",
            "artifact_source": str(services.MIRROR_DIR),
            "releases": services.mirror_releases(services.MIRROR_DIR, newest=True),
            # As on the lab's own hosts: no Alloy can be had here, so the mirror has none.
            "alloy_enabled": False,
        },
    )
]
"""


def finding(report: Report, host: str, check: str) -> Result:
    return next(f for f in report.results if (f.host, f.check) == (host, check))


def on_outsider(command: str) -> str:
    return subprocess.run(
        machines.ssh_argv(OUTSIDER, command),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def test_the_deployed_lab_passes_preflight(deployed):
    report = run_preflight(LAB_INVENTORY)
    assert report.ok, format_report(report)

    every_check = {"ssh", *(name for name, _ in HOST_CHECKS)}
    deployed_hosts = [host for host in machines.HOSTS if host.groups]
    for host in deployed_hosts:
        server = "observability" in host.groups
        expected = every_check | ({DNS_CHECK} if server else set())
        assert {f.check for f in report.results if f.host == host.name} == expected
        ports = finding(report, host.name, "ports")
        assert ports.status == PASS, ports
        for component in running(host.groups, {}, agents=[]):
            assert f"in use by {component.name} (ours)" in ports.detail
        if server:
            assert "80 in use by nginx (ours)" in ports.detail
            dns = finding(report, host.name, DNS_CHECK)
            assert (dns.status, dns.detail) == (PASS, f"{machines.LAB_DOMAIN} -> {host.address}")
    controller = [f for f in report.results if f.host == CONTROLLER]
    assert controller and all(f.status == PASS for f in controller), controller
    privileges = finding(report, "app1", "privileges")
    assert (privileges.status, privileges.detail) == (PASS, "root through passwordless sudo")
    assert finding(report, "web1", "listen address").detail == "exporters listen on 10.99.0.11"


def test_a_login_that_is_not_root_without_sudo_is_named(lab_ready, tmp_path):
    """The lab's deploy user, without _sudo: every command would run unprivileged."""
    path = tmp_path / "no_sudo.py"
    path.write_text(
        OUTSIDER_INVENTORY.replace('"ssh_user": "root"', f'"ssh_user": "{machines.DEPLOY_USER}"')
    )
    report = run_preflight(str(path))
    privileges = finding(report, OUTSIDER, "privileges")
    assert privileges.status == FAIL
    assert "not root" in privileges.detail and "_sudo = True" in privileges.hint


@pytest.fixture
def outsider_inventory(lab_ready, tmp_path) -> str:
    path = tmp_path / "outsider_check.py"
    path.write_text(OUTSIDER_INVENTORY)
    return str(path)


def test_fix_installs_the_package_of_a_missing_command(outsider_inventory):
    on_outsider(f"{APT} remove -y iproute2")
    try:
        broken = run_preflight(outsider_inventory)
        commands = finding(broken, OUTSIDER, "commands")
        assert commands.status == FAIL and "ss (iproute2)" in commands.detail, commands
        assert finding(broken, OUTSIDER, "ports").status == FAIL

        fixed = run_preflight(outsider_inventory, fix=True)
        assert any("installed iproute2" in line for line in fixed.fixed), fixed.fixed
        assert "fixed: outsider: installed iproute2" in format_report(fixed)
        assert finding(fixed, OUTSIDER, "commands").status == PASS
        assert finding(fixed, OUTSIDER, "ports").status == PASS
        assert fixed.ok, format_report(fixed)
    finally:
        on_outsider(f"command -v ss >/dev/null || {APT} install -y iproute2")
    assert on_outsider("command -v ss").strip()
