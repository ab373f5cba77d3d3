"""The SystemAccount fact, run on this machine, and the names it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from local_facts import read_here
from pyinfra.api.exceptions import FactProcessError, OperationError

from operations.account import SystemAccount


def read(user: str) -> dict | None:
    return read_here(SystemAccount, user=user)


def test_an_existing_account_is_read_with_its_group():
    shell = next(
        line.split(":")[6] for line in Path("/etc/passwd").read_text().splitlines()
        if line.startswith("root:")
    )
    assert read("root") == {"uid": 0, "gid": 0, "home": "/root", "shell": shell, "group_gid": 0}


def test_a_missing_account_is_none():
    assert read("obs-no-such-account") is None


def test_a_user_without_its_group_says_so():
    answer = SystemAccount().process(
        ["node-exp:x:998:65534::/var/lib/node_exporter:/bin/sh", "group="]
    )
    assert answer == {
        "uid": 998, "gid": 65534, "home": "/var/lib/node_exporter", "shell": "/bin/sh",
        "group_gid": None,
    }


def test_an_answer_cut_short_fails_the_fact():
    with pytest.raises(FactProcessError):
        SystemAccount().process(["node-exp:x:998:998::/var/lib/node_exporter:/usr/sbin/nologin"])
    with pytest.raises(FactProcessError):
        SystemAccount().process(["node-exp:x:998", "group="])


@pytest.mark.parametrize("name", ["root; rm -rf /", "../etc", "Node", "", "a" * 33])
def test_a_name_useradd_would_not_take_is_refused(name):
    with pytest.raises(OperationError):
        SystemAccount().command(user=name)
