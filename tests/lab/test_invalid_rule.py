"""A rule file promtool rejects never goes live, and Prometheus keeps serving throughout."""

from __future__ import annotations

import threading

import pytest
import requests
from conftest import OBS_NAME, deploy, server_get

pytestmark = pytest.mark.lab

BROKEN_RULES = """\
groups:
  - name: broken
    rules:
      - alert: BrokenRule
        expr: sum(up{job="node"} by
"""


class ReadinessWatch(threading.Thread):
    """Polls ``path`` on the server until stopped; records every answer that was not 200."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.checks = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        # Under the proxy's rate per client (5 a second), which would answer 429.
        while not self.stop.wait(0.25):
            try:
                status = server_get(self.path).status_code
            except requests.RequestException as error:
                self.failures.append(str(error))
                continue
            self.checks += 1
            if status != 200:
                self.failures.append(f"HTTP {status}")


def test_broken_rule_file_is_rejected_with_promtools_message(deployed, hosts, tmp_path):
    broken = tmp_path / "broken.rules.yml"
    broken.write_text(BROKEN_RULES)
    watch = ReadinessWatch("/prometheus/-/ready")
    watch.start()
    try:
        result = deploy(prometheus_extra_rule_files=[str(broken)])
    finally:
        watch.stop.set()
        watch.join()

    assert not result.ok, "a broken rule file must fail the deploy"
    assert result.failed.get(OBS_NAME), result.failed
    assert "broken.rules.yml" in result.log
    assert "parse error" in result.log or "could not parse expression" in result.log, (
        result.log[-3000:]
    )
    assert watch.checks > 0 and watch.failures == []
    obs = hosts[OBS_NAME]
    assert not obs.file("/etc/prometheus/rules/broken.rules.yml").exists
    assert not obs.file("/etc/prometheus/rules/broken.rules.yml.obs-new").exists
    rules = server_get("/prometheus/api/v1/rules").json()
    names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
    assert "BrokenRule" not in names and "InstanceDown" in names


def test_next_good_deploy_converges_after_the_rejection(deployed):
    result = deploy()
    assert result.ok, result.log[-3000:]
