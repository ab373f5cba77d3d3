"""Every condition of an operation here is "an earlier operation changed".

``obsstack.deploy.plans_changes`` relies on it: a plan in which no operation changes
unconditionally runs no conditional one either, so the deploy need not execute it. A
condition of another kind (a file's presence, the time) would break that and must fail
here first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted([*REPO_ROOT.glob("operations/*.py"), *REPO_ROOT.glob("deploys/*.py")])


def conditions(tree: ast.Module) -> list[ast.expr]:
    """The ``_if=`` arguments, and the ``when`` of ``reload_if_running``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        found += [keyword.value for keyword in node.keywords if keyword.arg in ("_if", "when")]
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name == "reload_if_running" and len(node.args) == 3:
            found.append(node.args[2])
    return found


def follows_a_change(condition: ast.expr, source: str, functions: dict[str, ast.AST]) -> bool:
    if isinstance(condition, ast.Attribute):
        return condition.attr == "did_change"
    if isinstance(condition, ast.Lambda):
        return "did_change()" in (ast.get_source_segment(source, condition) or "")
    if isinstance(condition, ast.Name) and condition.id in functions:
        return "did_change()" in (ast.get_source_segment(source, functions[condition.id]) or "")
    return isinstance(condition, ast.Name) and condition.id == "when"  # passed through


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_condition_is_an_earlier_change(path):
    source = path.read_text()
    tree = ast.parse(source)
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    odd = [
        ast.get_source_segment(source, condition)
        for condition in conditions(tree)
        if not follows_a_change(condition, source, functions)
    ]
    assert not odd, f"{path.name}: conditions that are not an earlier change: {odd}"


def test_the_check_sees_another_kind_of_condition():
    source = "server.shell(commands=['x'], _if=lambda: os.path.exists('/x'))\n"
    tree = ast.parse(source)
    assert not all(follows_a_change(c, source, {}) for c in conditions(tree))
