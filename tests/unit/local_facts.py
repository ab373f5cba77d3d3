"""Run a fact's command on this machine with sh and process its output, as pyinfra would.

Example::

    from local_facts import read_here
    read_here(SystemAccount, user="root")   # {'uid': 0, ...}
"""

from __future__ import annotations

import subprocess
from typing import Any

from pyinfra.api import FactBase


def read_here(fact_class: type[FactBase], **arguments: Any) -> Any:
    """The fact's value for this machine (its default when the command prints nothing)."""
    fact = fact_class()
    command = fact.command(**arguments)
    text = command if isinstance(command, str) else command.get_raw_value()
    run = subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    return fact.process(lines) if lines else fact.default()
