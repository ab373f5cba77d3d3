"""A version switched to reads the configs it finds with its own tools before it restarts:
the deploy plans one check of every validated config of a release-archive daemon, run
only when the version changed (a file this run did not change was checked by the old
version's tools), the checks side by side. The failure it prevents was seen on the lab:
Debian 12's Alertmanager 0.25 cannot read a webhook's url_file (tests/lab/test_upgrade.py
keeps the receivers out while it runs)."""

from __future__ import annotations

import subprocess
import sys

from production_plan import SERVER, plan

from operations.converge import all_of


def test_each_validated_config_is_checked_again_by_a_new_version(tmp_path):
    planned = plan(sys.executable, tmp_path)
    assert planned.returncode == 0, planned.log[-3000:]
    names = [name for operation in planned.operations for name in operation["names"]]
    for component, config in (
        ("alertmanager", "/etc/alertmanager/alertmanager.yml"),
        ("prometheus", "/etc/prometheus/prometheus.yml"),
    ):
        version = planned.pins[component]["version"]
        assert f"{component}: check its configs with {version}" in names
        # The check comes after the files are written and before the daemon restarts.
        written = names.index(f"{component}: {config}")
        checked = names.index(f"{component}: check its configs with {version}")
        restart = [i for i, name in enumerate(names) if f"Restart {component}.service" in name]
        assert written < checked < restart[0], [names[i] for i in restart]
    assert SERVER in planned.hosts


def test_the_checks_run_side_by_side_and_any_failure_fails_them_all(tmp_path):
    done = tmp_path / "done"
    checks = ["sleep 1; true", f"sleep 1; touch {done}; false", "true"]
    result = subprocess.run(["sh", "-c", all_of(checks)], check=False)
    assert result.returncode == 1 and done.exists()
    assert subprocess.run(["sh", "-c", all_of(["true", "sleep 1"])], check=False).returncode == 0
    # It ends with a status, not an exit: a failure goes on to what the deploy does then
    # (the links back on the version that ran before).
    fallback = f"{{ {all_of(checks)}; }} || echo switched back"
    answer = subprocess.run(["sh", "-c", fallback], capture_output=True, text=True, check=False)
    assert answer.stdout == "switched back\n"
