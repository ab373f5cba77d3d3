"""Agent detection: its script run by bash against a stand-in systemctl, its parsing, and
failing closed (the script also runs on real hosts in tests/lab)."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from obsstack.agents import (
    DETECTION_SCRIPT,
    DetectionError,
    detection_script,
    detection_summary,
    parse_detected,
    with_detected_agents,
)
from obsstack.catalog import AGENTS, DETECTABLE_AGENTS
from obsstack.catalog.schema import Agent

UNIT_FILES = """\
nginx.service                 enabled         enabled
mariadb.service               enabled         enabled
php8.4-fpm.service            enabled         enabled
ssh.service                   enabled         enabled
"""


def detect(tmp_path: Path, systemctl: str) -> subprocess.CompletedProcess:
    """DETECTION_SCRIPT run by bash with ``systemctl`` (a shell script body) on PATH."""
    shim = tmp_path / "bin" / "systemctl"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f"#!/bin/sh\n{systemctl}\n")
    shim.chmod(0o755)
    return subprocess.run(
        ["bash", "-c", DETECTION_SCRIPT],
        env={"PATH": f"{shim.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_script_finds_the_installed_services(tmp_path):
    result = detect(tmp_path, f"cat <<'EOF'\n{UNIT_FILES}EOF")
    assert result.returncode == 0, result.stderr
    assert parse_detected(result.stdout) == ["nginx", "mysql", "php_fpm"]


def test_a_failing_systemctl_is_an_error_not_an_empty_host(tmp_path):
    result = detect(tmp_path, "echo 'Failed to connect to bus' >&2; exit 1")
    assert result.returncode == 3
    assert "systemctl list-unit-files failed" in result.stderr
    with pytest.raises(DetectionError, match="ended early"):
        parse_detected(result.stdout)


def test_detected_agents_keep_the_projects_order_and_only_known_names():
    assert parse_detected("@agent fail2ban\n@agent something-else\n@detected\n") == ["fail2ban"]
    assert parse_detected("@detected\n") == []
    with pytest.raises(DetectionError):
        parse_detected("")


def test_php_fpm_is_detected_only_where_nginx_serves_its_status():
    assert parse_detected("@agent php_fpm\n@agent fail2ban\n@detected\n") == ["fail2ban"]
    assert parse_detected("@agent php_fpm\n@agent nginx\n@detected\n") == ["nginx", "php_fpm"]


def test_every_agent_with_detection_units_can_be_detected():
    printed = set(re.findall(r"echo '@agent ([a-z0-9_]+)'", DETECTION_SCRIPT))
    assert set(DETECTABLE_AGENTS) <= printed


def test_every_agent_has_its_alert_rules():
    project = Path(__file__).resolve().parents[2]
    for agent in AGENTS:
        assert (project / "templates/prometheus/rules/agents" / f"{agent}.rules.yml.j2").exists()


def test_the_deploy_says_what_detection_found_per_host():
    data = {
        "detected_agents": {"web1": ["nginx", "php_fpm"], "app1": []},
        "php_fpm_pools": {"web1": [{"php": "8.4", "pool": "www"}], "web2": []},
    }
    assert detection_summary(data) == [
        "web1: nginx, php_fpm (pools 8.4/www)",
        "app1: no agent found",
        "web2: php_fpm (pools none)",
    ]
    assert detection_summary({"detected_agents": {}, "php_fpm_pools": {}}) == []


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_host_stops_detection_instead_of_counting_as_bare(tmp_path):
    inventory = tmp_path / "site.py"
    host = {"ssh_hostname": "127.0.0.1", "ssh_port": closed_port(), "agents": "auto"}
    inventory.write_text(f"monitored = [('web9', {host!r}), ('web8', {{'agents': []}})]\n")
    with pytest.raises(DetectionError) as error:
        with_detected_agents(str(inventory), {})
    assert "web9: cannot connect" in str(error.value)
    assert "nothing was deployed" in str(error.value)


def test_hosts_left_out_are_not_looked_at(tmp_path):
    inventory = tmp_path / "site.py"
    host = {"ssh_hostname": "127.0.0.1", "ssh_port": closed_port(), "agents": "auto"}
    inventory.write_text(f"monitored = [('web9', {host!r})]\nobservability = ['obs9']\n")
    data = with_detected_agents(str(inventory), {}, hosts=["obs9"])
    assert data["detected_agents"] == {} and data["php_fpm_pools"] == {}


def test_an_agent_without_units_is_only_ever_listed(tmp_path):
    """An opt-in agent (nothing installed says a host needs it) is never detected, whatever
    systemctl lists, an empty line included."""
    script = detection_script([Agent("nginx", ("nginx.service",)), Agent("opt_in")])
    assert "opt_in" not in script
    shim = tmp_path / "bin" / "systemctl"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nprintf '\\n'\n")
    shim.chmod(0o755)
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{shim.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert parse_detected(result.stdout) == []
