"""A plain ``pip install .`` (no test extras) plans a production deploy and loads no lab code.

pyinfra executes every group_data file for every inventory, so one lab import there would
break production for everyone who did not install the test extras. This test installs the
package into a fresh virtualenv, checks that the lab's dependencies and the lab package
are absent from it, then runs pyinfra from that virtualenv on ``inventories/production.py``'s
hosts through the ``@fake`` connector (``production_plan``): the whole deploy is planned
(``--dry``), and Python's import log shows no lab module was loaded.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from production_plan import REPO_ROOT, SERVER, WEB, plan


@pytest.fixture(scope="module")
def product_python(tmp_path_factory) -> Path:
    """The interpreter of a virtualenv holding ``pip install .`` and nothing else."""
    root = tmp_path_factory.mktemp("product")
    # Built from a copy: setuptools writes build/ into the tree it builds.
    source = root / "source"
    unbuilt = (".git", ".venv", ".cache", "secrets", "build", "*.egg-info", "__pycache__")
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(*unbuilt))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        check=True,
        timeout=600,
    )
    return python


def test_the_package_leaves_the_lab_and_its_dependencies_out(product_python, tmp_path):
    for module in ("aiosmtpd", "obslab", "pytest"):
        probe = subprocess.run(
            [str(product_python), "-c", f"import {module}"],
            cwd=tmp_path,  # outside the checkout: only what the package installed
            capture_output=True,
            text=True,
            check=False,
        )
        assert "ModuleNotFoundError" in probe.stderr, module


def test_a_production_deploy_is_planned_without_loading_lab_code(product_python, tmp_path):
    planned = plan(product_python, tmp_path, importtime=True)
    assert planned.returncode == 0, planned.log[-3000:]
    assert "obsstack.settings" in planned.imported
    assert not {m for m in planned.imported if m.split(".")[0] in ("obslab", "aiosmtpd")}
    assert set(planned.hosts) == {SERVER, WEB}
    installs = f"Install prometheus {planned.pins['prometheus']['version']}"
    assert {"prometheus: /etc/prometheus/prometheus.yml", installs} <= planned.hosts[SERVER]
    assert "MySQL account obs_exporter@localhost" in planned.hosts[WEB]
