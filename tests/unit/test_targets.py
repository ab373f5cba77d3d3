"""Scrape targets: every group checked against the form this project writes, whatever its
source; a host's targets kept as the server has them while nobody looked at the host."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from obsstack.targets import TargetError, checked_group, kept_groups, target_group
from operations.facts import FileSdGroups

LABELS = {"instance": "web1", "role": "monitored", "env": "lab"}
POOL = {**LABELS, "pool": "www", "php_version": "8.4", "__metrics_path__": "/php8.4/www"}


@pytest.mark.parametrize(
    "group",
    [
        target_group("10.0.0.5:9100", LABELS),
        target_group("web1.corp.lan:9253", POOL),
        target_group("[2001:db8::5]:9100", LABELS),
    ],
)
def test_groups_we_write_pass(group):
    assert checked_group(group, "node") == group


@pytest.mark.parametrize(
    ("group", "problem"),
    [
        (target_group('10.0.0.5:9100", "evil:1', LABELS), "is not host:port"),
        (target_group("10.0.0.5:99999", LABELS), "is not host:port"),
        (target_group("10.0.0.5:9100", {**LABELS, "php_version": "8.3\\"}), "php_version"),
        (target_group("10.0.0.5:9100", {**LABELS, "instance": "web 1"}), "instance"),
        (target_group("10.0.0.5:9100", {**LABELS, "team": "ops"}), "label team"),
        (
            target_group("10.0.0.5:9100", {**POOL, "__metrics_path__": "/../admin"}),
            "__metrics_path__",
        ),
        ({"targets": ["a:1", "b:2"], "labels": LABELS}, "is not one target"),
        ({"targets": ["a:1"]}, "is not a target group"),
    ],
)
def test_anything_else_is_refused(group, problem):
    with pytest.raises(TargetError, match=problem):
        checked_group(group, "php_fpm")


def test_only_the_hosts_asked_for_are_kept_and_each_is_checked():
    current = [
        target_group("10.0.0.5:9113", LABELS),
        target_group("10.0.0.6:9113", {**LABELS, "instance": "web2"}),
    ]
    assert kept_groups(current, {"web1"}, "nginx") == [current[0]]
    broken = [target_group("10.0.0.5:9113", {**LABELS, "extra": "x"})]
    with pytest.raises(TargetError):
        kept_groups(broken, {"web1"}, "nginx")


def test_the_fact_reads_a_real_directory_by_bash(tmp_path):
    (tmp_path / "node.yml").write_text(yaml.safe_dump([target_group("10.0.0.5:9100", LABELS)]))
    (tmp_path / "nginx.yml").write_text("[]\n")
    (tmp_path / "notes.txt").write_text("not a target file\n")
    listed = subprocess.run(
        ["bash", "-c", FileSdGroups().command(directory=str(tmp_path))],
        capture_output=True, text=True, check=True,
    ).stdout
    assert FileSdGroups().process(listed.splitlines()) == {
        "nginx": [],
        "node": [target_group("10.0.0.5:9100", LABELS)],
    }
    empty = subprocess.run(
        ["bash", "-c", FileSdGroups().command(directory=str(tmp_path / "none"))],
        capture_output=True, text=True, check=True,
    ).stdout
    assert FileSdGroups().process(empty.splitlines()) == {}


def test_the_servers_files_are_read_by_job_and_odd_ones_fail_the_fact():
    node = yaml.safe_dump([target_group("10.0.0.5:9100", LABELS)])
    output = ["@file node.yml", *node.splitlines(), "", "@file nginx.yml", "[]", ""]
    assert FileSdGroups().process(output) == {
        "node": [target_group("10.0.0.5:9100", LABELS)],
        "nginx": [],
    }
    with pytest.raises(Exception, match="not YAML"):
        FileSdGroups().process(["@file node.yml", "- targets: [", ""])
    with pytest.raises(Exception, match="not a list"):
        FileSdGroups().process(["@file node.yml", "targets: x"])
