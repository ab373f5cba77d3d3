"""Uninstall removes what the stack installed; data stays unless purged; a deploy restores."""

from __future__ import annotations

import pytest
from conftest import LAB_INVENTORY, TEST_DATA, assert_unchanged, deploy

from obsstack.deploy import UNINSTALL, run_deploy
from operations.config import BACKUP_ROOT

pytestmark = pytest.mark.lab

HOST = "app1"


def uninstall(purge: bool):
    return run_deploy(LAB_INVENTORY, UNINSTALL, limit=HOST, data={"purge": purge}, echo=False)


def test_uninstall_keeps_data_and_purge_removes_it(deployed, hosts):
    app1, web1 = hosts[HOST], hosts["web1"]
    app1.check_output("touch /var/lib/node_exporter/kept.prom")
    # A replaced unit leaves a backup of ours behind.
    flagged = run_deploy(
        LAB_INVENTORY,
        limit=HOST,
        data={**TEST_DATA, "node_exporter_extra_flags": ["--collector.processes"]},
        echo=False,
    )
    assert flagged.ok, flagged.log[-3000:]
    assert app1.file(f"{BACKUP_ROOT}/etc/systemd/system").is_directory

    result = uninstall(purge=False)
    assert result.ok, result.log[-3000:]
    assert not app1.service("node_exporter.service").is_running
    assert not app1.file("/etc/systemd/system/node_exporter.service").exists
    assert not app1.file("/usr/local/bin/node_exporter").exists
    assert not app1.file("/opt/node_exporter").exists
    assert app1.file("/var/lib/node_exporter/kept.prom").exists
    assert app1.user("node-exp").exists
    assert web1.service("node_exporter.service").is_running, "--limit must spare other hosts"
    assert app1.file(BACKUP_ROOT).is_directory, "config backups stay without --purge"
    assert_unchanged(uninstall(purge=False), hosts=frozenset({HOST}))  # idempotent

    result = uninstall(purge=True)
    assert result.ok, result.log[-3000:]
    assert not app1.file("/var/lib/node_exporter").exists
    assert not app1.user("node-exp").exists
    assert not app1.file(BACKUP_ROOT).exists, "purge removes our backups too"
    assert not app1.file("/var/lib/observability-stack").exists

    restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert app1.service("node_exporter.service").is_running
