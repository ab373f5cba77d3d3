"""The catalog is consistent: every entry's parts fit together and its hooks exist."""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path

import pytest

from obsstack.catalog import CATALOG, COMPONENTS, components_of, not_running, running

HOOKS = [
    (component.name, step, reference)
    for component in CATALOG
    for step, reference in vars(component.hooks).items()
    if reference
]


def test_names_are_unique():
    assert len(COMPONENTS) == len(CATALOG)


@pytest.mark.parametrize(("component", "step", "reference"), HOOKS, ids=lambda x: str(x))
def test_every_hook_is_a_function_of_a_deploy_module(component, step, reference):
    module, _, function = reference.partition(":")
    assert module.startswith("deploys."), reference
    assert callable(getattr(import_module(module), function)), reference


@pytest.mark.parametrize("component", CATALOG, ids=lambda component: component.name)
def test_a_unit_of_ours_runs_an_archive_binary_as_its_own_user(component):
    if component.unit and component.unit.flags:
        assert component.archive and component.account, component.name


@pytest.mark.parametrize(
    ("groups", "settings", "agents"),
    [
        (["observability"], {"blackbox_targets": []}, []),
        (["observability"], {"blackbox_targets": ["https://x.test/"]}, []),
        (["monitored"], {}, ["nginx", "fail2ban"]),
        (["monitored"], {}, []),
        ([], {}, []),
    ],
)
def test_a_host_runs_or_removes_each_component_of_its_roles(groups, settings, agents):
    present = running(groups, settings, agents)
    absent = not_running(groups, settings, agents)
    assert sorted(c.name for c in present + absent) == sorted(
        c.name for c in components_of(groups)
    )
    assert not {c.name for c in present} & {c.name for c in absent}
    assert present[0] is COMPONENTS["node_exporter"]


RULES = Path(__file__).resolve().parents[2] / "templates" / "prometheus" / "rules"
# Loki's ruler evaluates the log alert rules; their thresholds are Loki's.
LOG_RULES = sorted((RULES.parents[1] / "loki" / "rules").glob("*.yml.j2"))


def thresholds_read_by(template: Path) -> set[str]:
    return set(re.findall(r"alert_rules\.([a-z0-9_]+)", template.read_text()))


@pytest.mark.parametrize("component", CATALOG, ids=lambda component: component.name)
def test_each_component_declares_the_thresholds_its_rules_read(component):
    declared = {threshold.key for threshold in component.alert_thresholds}
    if component.rules:
        template = RULES / "agents" / f"{component.rules}.rules.yml.j2"
    elif component is COMPONENTS["node_exporter"]:
        template = RULES / "node.rules.yml.j2"
    else:
        assert not declared, component.name
        return
    read = thresholds_read_by(template)
    if component is COMPONENTS["loki"]:
        read |= {key for log_rules in LOG_RULES for key in thresholds_read_by(log_rules)}
    assert read == declared


def test_the_baseline_rules_read_no_other_thresholds():
    for template in sorted(RULES.glob("*.yml.j2")):
        if template.name != "node.rules.yml.j2":
            assert not thresholds_read_by(template), template.name
