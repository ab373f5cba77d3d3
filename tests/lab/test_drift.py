"""Drift: a hand edit on a host is reported (exit 1), a deploy repairs it, drift is clean."""

from __future__ import annotations

import pytest
from conftest import LAB_INVENTORY, TEST_DATA, deploy

from obsstack.drift import METRICS_FILE, check_drift

pytestmark = pytest.mark.lab

UNIT = "/etc/systemd/system/node_exporter.service"


def test_hand_edit_is_drift_until_the_next_deploy(deployed, hosts):
    converged = check_drift(LAB_INVENTORY, data=TEST_DATA, write_metrics=False)
    assert converged.ok, f"a converged lab has no drift: {converged.drifting}"
    hosts["web1"].check_output(f"echo '# edited by hand' >> {UNIT}")

    report = check_drift(LAB_INVENTORY, data=TEST_DATA)
    assert not report.ok
    assert list(report.drifting) == ["web1"]
    assert any(UNIT in operation for operation in report.drifting["web1"]), report.drifting
    assert "obs_drift_detected 1" in hosts["web1"].file(METRICS_FILE).content_string
    assert "obs_drift_detected 0" in hosts["app1"].file(METRICS_FILE).content_string

    repaired = deploy()
    assert repaired.ok and repaired.changed["web1"] > 0
    assert "edited by hand" not in hosts["web1"].file(UNIT).content_string
    assert check_drift(LAB_INVENTORY, data=TEST_DATA).ok
    assert "obs_drift_detected 0" in hosts["web1"].file(METRICS_FILE).content_string
