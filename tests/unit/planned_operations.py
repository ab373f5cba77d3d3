"""The operations a deploy file plans on each host, from pyinfra run on ``@fake`` hosts.

pyinfra's CLI patches its process for gevent, so it runs in a child process, dry (nothing
is executed, even on the fake hosts); ``tests/fixtures/record_operations.py`` runs first and
records each operation's name as the deploy code calls it, whether or not it would change
anything. Every command "succeeds" with empty output.

Example::

    names = planned_operations(
        tmp_path, "deploys/uninstall.py", {"web1": "monitored"}, data={"purge": True}
    )
    names["web1"][:2]   # ['Stop and disable fail2ban timer ...', ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDER = "tests/fixtures/record_operations.py"


def planned_operations(
    tmp_path: Path,
    deploy_file: str,
    hosts: dict[str, str],
    data: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    responses: dict[str, dict[str, str]] | None = None,
) -> dict[str, list[str]]:
    """``{host: [operation name, ...]}`` for ``hosts`` (``{name: group}``), in call order;
    ``responses``: a host's canned command outputs (the fake connector's ``fake_responses``)."""
    groups: dict[str, list[tuple[str, dict]]] = {}
    for number, (name, group) in enumerate(hosts.items(), start=10):
        host_data = {
            "ssh_hostname": f"192.0.2.{number}",
            "fake_delay": 0,
            "fake_delay_jitter": 0,
            "fake_responses": (responses or {}).get(name, {}),
        }
        groups.setdefault(group, []).append((f"@fake/{name}", host_data))
    inventory = tmp_path / "planned_inventory.py"
    inventory.write_text("".join(f"{group} = {members!r}\n" for group, members in groups.items()))
    records = tmp_path / "planned"
    records.mkdir()
    argv = [sys.executable, "-m", "pyinfra", str(inventory), RECORDER, deploy_file, "--dry"]
    for key, value in (data or {}).items():
        argv += ["--data", f"{key}={json.dumps(value)}"]
    run = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {}), "OBS_RECORD_OPERATIONS": str(records)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {
        name: [
            name_
            for line in (records / f"@fake_{name}.jsonl").read_text().splitlines()
            for name_ in json.loads(line)
        ]
        for name in hosts
    }
