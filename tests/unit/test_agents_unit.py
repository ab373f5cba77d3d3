"""Agent detection's parsing (the script itself runs on real hosts in tests/lab)."""

from __future__ import annotations

from pathlib import Path

from obsstack.agents import DETECTION_SCRIPT, detection_summary, parse_detected
from obsstack.settings import AGENTS


def test_detected_agents_keep_the_projects_order_and_only_known_names():
    assert parse_detected("@agent fail2ban\n@agent something-else\n") == ["fail2ban"]
    assert parse_detected("") == []


def test_every_agent_can_be_detected():
    printed = {
        line.rsplit("@agent ", 1)[1].strip("'")
        for line in DETECTION_SCRIPT.splitlines()
        if "@agent" in line
    }
    assert set(AGENTS) <= printed


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
