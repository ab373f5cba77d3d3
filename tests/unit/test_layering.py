"""The product never imports the lab: deploys, operations, group data, the obsstack
package and the real inventories import nothing from ``obslab``.

pyinfra executes every group_data file for every inventory, and the package leaves
``obslab`` out, so a single such import breaks production deploys.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [
    *sorted((REPO_ROOT / "deploys").glob("*.py")),
    *sorted((REPO_ROOT / "operations").glob("*.py")),
    *sorted((REPO_ROOT / "group_data").glob("*.py")),
    *sorted((REPO_ROOT / "obsstack").rglob("*.py")),
    REPO_ROOT / "inventories" / "production.py",
    REPO_ROOT / "inventories" / "staging.py",
]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_product_code_imports_nothing_from_the_lab(path):
    lab_imports = {m for m in imported_modules(path) if m.split(".")[0] == "obslab"}
    assert not lab_imports, f"{path.relative_to(REPO_ROOT)} imports {sorted(lab_imports)}"


def test_the_check_sees_a_lab_import(tmp_path):
    module = tmp_path / "leak.py"
    module.write_text("def f():\n    from obslab.services import MIRROR_DIR\n")
    assert "obslab.services" in imported_modules(module)


def test_the_invoke_tasks_load_no_pyinfra_in_the_callers_process():
    """pyinfra (and gevent's patching) belong to the worker: the process running the
    tasks only calls into it, and loads in half the time without them."""
    probe = subprocess.run(
        [sys.executable, "-c", "import json, sys, tasks; print(json.dumps(sorted(sys.modules)))"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(probe.stdout)
    heavy = ("pyinfra", "pyinfra_cli", "gevent", "paramiko")
    assert [module for module in loaded if module.split(".")[0] in heavy] == []
    assert "obsstack.pipeline" in loaded, "control: the tasks did load what calls the worker"


def test_no_two_test_modules_share_a_name():
    """pytest imports test modules by their file name (tests/ holds no packages): two of
    one name fail the whole suite's collection."""
    names = [path.name for path in sorted((REPO_ROOT / "tests").rglob("*.py"))]
    assert sorted({name for name in names if names.count(name) > 1}) == []
