"""A plain ``pip install .`` (no test extras) plans a production deploy and loads no lab code.

pyinfra executes every group_data file for every inventory, so one lab import there would
break production for everyone who did not install the test extras. This test installs the
package into a fresh virtualenv, checks that the lab's dependencies and the lab package
are absent from it, then runs pyinfra from that virtualenv on ``inventories/production.py``'s
hosts through the ``@fake`` connector (``tests/fixtures/fake_production.py``): the whole
deploy is planned (``--dry``), and Python's import log shows no lab module was loaded.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from release_archives import mirror_archive

from obsstack.catalog import RELEASE_ARCHIVES

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "tests/fixtures/fake_production.py"
# Values the placeholders of group_data/ stand for (a user sets their own).
OVERRIDES = {
    "domain": "monitoring.test.invalid",
    "acme_email": "ops@test.invalid",
    "agents": ["nginx", "mysql"],
    "alertmanager_email": {
        "smarthost": "smtp.test.invalid:587",
        "sender": "alertmanager@test.invalid",
        "recipients": ["ops@test.invalid"],
        "auth_username": "alertmanager@test.invalid",
        "require_tls": True,
        "ca_file": None,
    },
}
SECRETS = {
    "OBS_SECRET_PROXY_PASSWORD_ADMIN": "Zq8vLw3nRt6yPb2kXm9s",
    "OBS_SECRET_SMTP_PASSWORD": "Hj4kLm8nPq2rSt6vWx0y",
    "OBS_SECRET_MYSQL_EXPORTER_PASSWORD": "Tc5dFg7hJk9mNp3qRs1u",
}


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


def release_mirror(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """A local artifact source with an archive for every pinned release, and its pins."""
    pinned = runpy.run_path(str(REPO_ROOT / "group_data" / "all.py"))["releases"]
    pins = {}
    for name, pin in pinned.items():
        component, version = RELEASE_ARCHIVES[name], pin["version"]
        top = component.top_directory(version)
        members = {
            f"{top}/{binary}" if top else binary: f"#!/bin/sh\necho {binary} {version}\n".encode()
            for binary in component.binaries
        }
        mirror, sha256 = mirror_archive(
            tmp_path, name, version, component.archive_name(version), members
        )
        pins[name] = {"version": version, "sha256": sha256}
    return mirror, pins


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
    mirror, pins = release_mirror(tmp_path)
    data = {
        **OVERRIDES,
        "artifact_source": str(mirror),
        "artifact_cache_dir": str(tmp_path / "cache"),
        "releases": pins,
    }
    argv = [str(product_python), "-X", "importtime", "-m", "pyinfra", FIXTURE, "deploys/site.py"]
    argv += ["--dry", "--json"]
    for key, value in data.items():
        argv += ["--data", f"{key}={json.dumps(value)}"]
    plan = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    log = [line for line in plan.stderr.splitlines() if not line.startswith("import time:")]
    assert plan.returncode == 0, "\n".join(log[-30:])
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in plan.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "deploys.site" in imported or "obsstack.settings" in imported
    assert not {name for name in imported if name.split(".")[0] in ("obslab", "aiosmtpd")}
    planned: dict[str, set[str]] = {}
    for operation in json.loads(plan.stdout)["plan"]:
        # An operation of host.loop carries the names each host gave it.
        for name in operation["hosts_with_change"]:
            planned.setdefault(name, set()).update(operation["names"])
    server, web = planned["@fake/obs.example.com"], planned["@fake/web1.example.com"]
    assert set(planned) == {"@fake/obs.example.com", "@fake/web1.example.com"}
    installs = f"Install prometheus {pins['prometheus']['version']}"
    assert {"prometheus: /etc/prometheus/prometheus.yml", installs} <= server
    assert "MySQL account obs_exporter@localhost" in web
