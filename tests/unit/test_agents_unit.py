"""Agent detection's parsing (the script itself runs on real hosts in tests/lab)."""

from __future__ import annotations

from pathlib import Path

from obsstack.agents import DETECTION_SCRIPT, parse_detected
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
