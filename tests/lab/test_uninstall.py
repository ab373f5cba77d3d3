"""Uninstall removes what the stack installed; data stays unless purged; a deploy restores."""

from __future__ import annotations

import pytest
from conftest import LAB_INVENTORY, deploy

from obsstack.deploy import UNINSTALL, run_deploy

pytestmark = pytest.mark.lab

HOST = "app1"


def uninstall(purge: bool):
    return run_deploy(LAB_INVENTORY, UNINSTALL, limit=HOST, data={"purge": purge}, echo=False)


def test_uninstall_keeps_data_and_purge_removes_it(deployed, hosts):
    app1, web1 = hosts[HOST], hosts["web1"]
    app1.check_output("touch /var/lib/node_exporter/kept.prom")

    result = uninstall(purge=False)
    assert result.ok, result.log[-3000:]
    assert not app1.service("node_exporter.service").is_running
    assert not app1.file("/etc/systemd/system/node_exporter.service").exists
    assert not app1.file("/usr/local/bin/node_exporter").exists
    assert not app1.file("/opt/node_exporter").exists
    assert app1.file("/var/lib/node_exporter/kept.prom").exists
    assert app1.user("node-exp").exists
    assert web1.service("node_exporter.service").is_running, "--limit must spare other hosts"
    assert uninstall(purge=False).total_changed == 0, "uninstall is idempotent"

    result = uninstall(purge=True)
    assert result.ok, result.log[-3000:]
    assert not app1.file("/var/lib/node_exporter").exists
    assert not app1.user("node-exp").exists

    restored = deploy()
    assert restored.ok, restored.log[-3000:]
    assert app1.service("node_exporter.service").is_running
