"""Run project operations against pyinfra's ``@fake`` connector and record what they do.

Facts are answered from canned responses (``fake_responses``: command substring or regex
-> output); every command the operation runs is recorded, nothing touches a real host.

Example::

    commands = run_operation(managed_config, {"sha256sum": ""}, dest="/etc/x", content="y")
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operation import add_op
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state


class FakeRun:
    def __init__(self, state: State, host) -> None:
        self.state = state
        self.host = host

    @property
    def commands(self) -> list[str]:
        return list(self.host.connector.executed_commands)

    @property
    def succeeded(self) -> bool:
        """Every operation ran to completion without error."""
        return not self.state.failed_hosts and all(
            op.operation_meta.did_succeed(_raise_if_not_complete=False)
            for op in self.state.ops[self.host].values()
        )


def run_operation(
    operation, responses: dict, data: dict[str, Any] | None = None, diff: bool = False, **kwargs
) -> FakeRun:
    """Execute ``operation(**kwargs)`` on one fake host and return what happened."""
    host_data = {"fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([("@fake/target", {**host_data, **(data or {})})], {}))
    config = Config(DIFF=diff)
    state = State(inventory=inventory, config=config, check_for_changes=False)
    with ctx_state.use(state), ctx_inventory.use(inventory), ctx_config.use(config):
        connect_all(state)
        host = inventory.get_host("@fake/target")
        state.set_stage(StateStage.Prepare)
        with ctx_host.use(host):
            add_op(state, operation, **kwargs)
        state.set_stage(StateStage.Execute)
        # A failed host ends the run with "No hosts remaining"; `succeeded` reports it.
        with suppress(PyinfraError):
            run_ops(state)
    return FakeRun(state, host)
