"""A deploy file and the function it calls (``deploys/entrypoints.py``, what invoke runs)
plan the same operations, in the same order, with the same arguments and changes."""

from __future__ import annotations

import sys

import pytest
from production_plan import plan

from obsstack.deploy import ENTRY_POINTS, SITE, UNINSTALL


def comparable(operations: list[dict]) -> list[dict]:
    # pyinfra hashes an operation with the line numbers of its call stack: those differ. An
    # operation hosts name differently (host.loop) is named after whichever host came first;
    # "names" holds every name.
    return [
        {k: v for k, v in operation.items() if k not in ("op_hash", "name")}
        for operation in operations
    ]


@pytest.mark.parametrize("deploy_file", [SITE, UNINSTALL])
def test_the_function_plans_what_the_file_plans(tmp_path, deploy_file):
    by_file = plan(sys.executable, tmp_path / "file", deploy=deploy_file)
    by_function = plan(sys.executable, tmp_path / "function", deploy=ENTRY_POINTS[deploy_file])
    assert by_file.returncode == 0, by_file.log[-3000:]
    assert by_function.returncode == 0, by_function.log[-3000:]
    assert len(by_file.operations) > 10
    assert comparable(by_function.operations) == comparable(by_file.operations)
