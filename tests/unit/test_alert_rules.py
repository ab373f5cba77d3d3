"""The baseline alert rules, rendered with the defaults of group_data/all.py and checked with
the real promtool: `promtool check rules` on every file, `promtool test rules` on
tests/unit/rules/*.test.yml.

promtool resolves a test file's `rule_files` relative to the test file, so the rendered rules
and the test files are put side by side in one temporary directory.
"""

from __future__ import annotations

import functools
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys.loki import rule_files
from obslab.debian import extract_binaries
from obsstack.render import TEMPLATES_DIR, render_template, rules_context

PROJECT_DIR = Path(__file__).resolve().parents[2]
RULES_DIR = TEMPLATES_DIR / "prometheus" / "rules"
# The baseline rules and every agent's (agents/: deployed where some host runs the agent).
RULE_TEMPLATES = sorted(RULES_DIR.rglob("*.yml.j2"))
RULE_TESTS = sorted((Path(__file__).parent / "rules").glob("*.test.yml"))


@functools.cache
def default_settings() -> dict[str, Any]:
    """group_data/all.py's settings, read once (callers copy before they change any)."""
    return runpy.run_path(str(PROJECT_DIR / "group_data" / "all.py"))


def default_thresholds() -> dict[str, Any]:
    return default_settings()["alert_rules"]


def render_rules(thresholds: dict[str, Any], directory: Path) -> list[Path]:
    """Render every rules template into ``directory`` as it would be deployed."""
    rendered = []
    context = rules_context({**default_settings(), "alert_rules": thresholds})
    for template in RULE_TEMPLATES:
        path = directory / template.name.removesuffix(".j2")
        relative = template.relative_to(TEMPLATES_DIR).as_posix()
        text = render_template(relative, context)
        path.write_text(text)
        rendered.append(path)
    return rendered


def alert_rules_in(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """The alerting rules of rule files, by alert name."""
    return {
        rule["alert"]: rule
        for path in paths
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.fixture(scope="module")
def promtool() -> Path:
    """promtool 2.42 from Debian 12's prometheus package."""
    return extract_binaries("bookworm") / "promtool"


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("rules")
    render_rules(default_thresholds(), directory)
    for test_file in RULE_TESTS:
        shutil.copy(test_file, directory)
    return directory


def run_promtool(promtool: Path, *args: str, cwd: Path) -> None:
    result = subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("template", RULE_TEMPLATES, ids=lambda path: path.name)
def test_promtool_check_rules(promtool: Path, rules_dir: Path, template: Path) -> None:
    run_promtool(promtool, "check", "rules", template.name.removesuffix(".j2"), cwd=rules_dir)


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda path: path.name)
def test_promtool_test_rules(promtool: Path, rules_dir: Path, test_file: Path) -> None:
    run_promtool(promtool, "test", "rules", test_file.name, cwd=rules_dir)


def test_every_alert_has_a_firing_test_case(tmp_path: Path) -> None:
    # promtool passes a case that expects nothing from a misspelt alertname, and does not
    # notice an alert without tests: both are checked here.
    alerts = set(alert_rules_in(render_rules(default_thresholds(), tmp_path)))
    cases = [
        case
        for test_file in RULE_TESTS
        for test in yaml.safe_load(test_file.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    named = {case["alertname"] for case in cases}
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    assert named - alerts == set(), "test cases for alerts that do not exist"
    assert alerts - fired == set(), "alerts without a test case that fires them"


def test_instance_down_for_reaches_the_rule(tmp_path: Path) -> None:
    thresholds = {**default_thresholds(), "instance_down_for": "7m"}
    rules = alert_rules_in(render_rules(thresholds, tmp_path))
    assert rules["InstanceDown"]["for"] == "7m"


@pytest.mark.parametrize("key", sorted(default_thresholds()))
def test_every_threshold_reaches_a_rule(tmp_path: Path, key: str) -> None:
    marker = f"MARKER-{key}"
    thresholds = {**default_thresholds(), key: marker}
    rendered = [path.read_text() for path in render_rules(thresholds, tmp_path)]
    # The log alert rules' thresholds too (Loki's ruler reads those: test_log_alert_rules).
    rendered += rule_files({**default_settings(), "alert_rules": thresholds}, []).values()
    assert any(marker in text for text in rendered), f"alert_rules[{key!r}] is unused"


RUNBOOKS_DIR = PROJECT_DIR / "docs" / "runbooks"
RUNBOOK_SECTIONS = ("## What it means", "## Likely causes", "## Diagnose", "## Fix", "## Escalate")


def test_every_shipped_alert_links_its_runbook_and_the_runbook_exists(tmp_path: Path) -> None:
    """Prometheus' rules and Loki's log alert rules, as deployed: each alert's runbook_url
    is runbook_base_url/<alert>.md, and that page is in docs/runbooks with its sections."""
    settings = default_settings()
    log_rules = tmp_path / "logs"
    log_rules.mkdir()
    paths = render_rules(settings["alert_rules"], tmp_path)
    for name, text in rule_files(settings, []).items():
        (log_rules / name).write_text(text)
        paths.append(log_rules / name)
    alerts = alert_rules_in(paths)
    assert len(alerts) >= 50
    wrong_links = {
        name: rule["annotations"].get("runbook_url")
        for name, rule in alerts.items()
        if rule["annotations"].get("runbook_url") != f"{settings['runbook_base_url']}/{name}.md"
    }
    assert wrong_links == {}
    pages = {path.stem for path in RUNBOOKS_DIR.glob("*.md")} - {"README"}
    assert sorted(set(alerts) - pages) == [], "alerts without a runbook"
    assert sorted(pages - set(alerts)) == [], "runbooks of alerts that do not exist"
    for name in alerts:
        text = (RUNBOOKS_DIR / f"{name}.md").read_text()
        assert text.startswith(f"# {name}\n"), name
        positions = [text.find(f"\n{section}\n") for section in RUNBOOK_SECTIONS]
        assert -1 not in positions and positions == sorted(positions), (name, positions)
        index = (RUNBOOKS_DIR / "README.md").read_text()
        assert f"({name}.md)" in index or f"]: {name}.md" in index, f"{name} not in the index"
