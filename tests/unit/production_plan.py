"""Plan a production deploy with pyinfra through the ``@fake`` connector.

``tests/fixtures/fake_production.py`` is inventories/production.py's hosts reached through
pyinfra's ``@fake`` connector; ``plan`` runs ``pyinfra --dry --json`` on it with the
placeholders of group_data/ replaced, a local mirror of every pinned release and the
secrets in the environment, and returns what pyinfra would change on each host.

Example::

    planned = plan(sys.executable, tmp_path)
    planned.hosts["@fake/obs.example.com"]   # {'Install prometheus 3.14.0', ...}
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release_archives import mirror_archive

from obsstack.catalog import RELEASE_ARCHIVES

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = "tests/fixtures/fake_production.py"
SERVER, WEB = "@fake/obs.example.com", "@fake/web1.example.com"
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
    "OBS_SECRET_LOKI_PUSH_PASSWORD_WEB1_EXAMPLE_COM": "Lp7wQe3rTy9uIo1pAs5d",
    "OBS_SECRET_GRAFANA_ADMIN_PASSWORD": "Gf3hJk5lZx7cVb9nMq1w",
}


@dataclass
class Plan:
    returncode: int
    log: str  # pyinfra's log, Python's import log left out
    imported: set[str]  # modules Python imported (with ``importtime``)
    pins: dict[str, dict[str, str]]  # the releases planned
    hosts: dict[str, set[str]] = field(default_factory=dict)  # host -> operations to change
    operations: list[dict] = field(default_factory=list)  # pyinfra's plan, in its order


def release_mirror(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """A local artifact source with an archive for every pinned release, and its pins."""
    pinned = runpy.run_path(str(REPO_ROOT / "group_data" / "all.py"))["releases"]
    pins = {}
    for name, pin in pinned.items():
        archive, version, build = RELEASE_ARCHIVES[name], pin["version"], pin.get("build")
        top = archive.top_directory(version, build)
        if archive.layout.any_top:
            top = f"{name}-{version}"
        members = {
            f"{top}/{archive.installed_path(binary)}" if top else binary: (
                f"#!/bin/sh\necho {binary} {version}\n".encode()
            )
            for binary in archive.binaries
        }
        mirror, sha256 = mirror_archive(
            tmp_path, name, version, archive.archive_name(version, build), members
        )
        pins[name] = {**pin, "sha256": sha256}
    return mirror, pins


def plan(
    python: str | Path,
    tmp_path: Path,
    data: dict[str, Any] | None = None,
    importtime: bool = False,
    responses: dict[str, list[str]] | None = None,
    deploy: str = "deploys/site.py",
) -> Plan:
    """``pyinfra --dry --json`` of ``deploy`` (a deploy file or function) on the fake
    production hosts, run by ``python``."""
    mirror, pins = release_mirror(tmp_path)
    data = {
        **OVERRIDES,
        "artifact_source": str(mirror),
        "artifact_cache_dir": str(tmp_path / "cache"),
        "releases": pins,
        **(data or {}),
    }
    argv = [str(python), *(["-X", "importtime"] if importtime else []), "-m", "pyinfra"]
    argv += [FIXTURE, deploy, "--dry", "--json"]
    for key, value in data.items():
        argv += ["--data", f"{key}={json.dumps(value)}"]
    extra = {"OBS_FAKE_RESPONSES": json.dumps(responses)} if responses else {}
    run = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, **SECRETS, **extra, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    lines = run.stderr.splitlines()
    result = Plan(
        run.returncode,
        "\n".join(line for line in lines if not line.startswith("import time:")),
        {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")},
        data["releases"],
    )
    if run.returncode == 0:
        result.operations = json.loads(run.stdout)["plan"]
        for operation in result.operations:
            # An operation of host.loop carries the names each host gave it; one called by
            # a @deploy function is named "DEPLOY | NAME": the operation is NAME.
            names = {name.rsplit(" | ", 1)[-1] for name in operation["names"]}
            for name in operation["hosts_with_change"]:
                result.hosts.setdefault(name, set()).update(names)
    return result
