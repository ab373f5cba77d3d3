"""What Alloy is on a host, around its config (tests/unit/test_alloy_config.py): its unit,
its account and groups, and the firewall opening for its port.

Alloy's binary cannot be obtained on these machines, so no Alloy runs in any test: this is
the deploy's side of it, on pyinfra hosts of an inventory (``@fake``), and the account
operation's commands against canned facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakehost import run_operation
from pyinfra.api import Config, Inventory, State
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state

from deploys.component import unit_text
from deploys.firewall import openings
from obsstack.catalog import setting_defaults
from obsstack.catalog.host import ALLOY
from operations.account import SupplementaryGroups, system_account

SERVER, WEB = "@fake/obs.example.com", "@fake/web1.example.com"
WEB_ADDRESS, SERVER_ADDRESS = "192.0.2.11", "192.0.2.10"


def on_host(name: str, function: Callable[[], Any], **data: Any) -> Any:
    """``function()`` in the deploy of host ``name`` of a two-host inventory."""
    defaults = {**setting_defaults(), "agents": [], "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(
        (
            [
                (SERVER, {**defaults, "ssh_hostname": SERVER_ADDRESS}),
                (WEB, {**defaults, "ssh_hostname": WEB_ADDRESS, **data}),
            ],
            {},
        ),
        observability=([SERVER], {}),
        monitored=([WEB], {}),
    )
    config = Config()
    state = State(inventory=inventory, config=config, check_for_changes=False)
    with (
        ctx_state.use(state),
        ctx_inventory.use(inventory),
        ctx_config.use(config),
        ctx_host.use(inventory.get_host(name)),
    ):
        return function()


def test_the_unit_runs_alloy_hardened_on_the_exporters_address():
    unit = on_host(WEB, lambda: unit_text(ALLOY))
    assert (
        "ExecStart=/usr/local/bin/alloy \\\n    run \\\n"
        f"    --server.http.listen-addr={WEB_ADDRESS}:12345 \\\n"
        "    --storage.path=/var/lib/alloy/data \\\n    --disable-reporting \\\n"
        "    /etc/alloy/config.alloy\n"
    ) in unit
    assert "User=alloy\nGroup=alloy\n" in unit
    # It reloads its config on HUP, and writes only its positions.
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "ReadWritePaths=/var/lib/alloy\n" in unit
    for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n"):
        assert setting in unit


def test_on_the_server_alloy_listens_on_loopback():
    unit = on_host(SERVER, lambda: unit_text(ALLOY))
    assert "--server.http.listen-addr=127.0.0.1:12345" in unit


def test_its_port_is_open_to_the_observability_server_only():
    rules = on_host(WEB, openings)
    alloy = [rule for rule in rules if rule.comment == "observability-stack: alloy"]
    assert [(rule.port, rule.source) for rule in alloy] == [(12345, SERVER_ADDRESS)]
    assert not [rule for rule in on_host(SERVER, openings) if "alloy" in rule.comment]


def test_without_alloy_nothing_is_opened_for_it():
    rules = on_host(WEB, openings, alloy_enabled=False)
    assert not [rule for rule in rules if "alloy" in rule.comment]


GROUPS = ("adm", "systemd-journal")


def account_commands(responses: dict[str, str]) -> list[str]:
    run = run_operation(
        system_account, responses, user="alloy", home="/var/lib/alloy", groups=GROUPS
    )
    assert run.succeeded
    return [command for command in run.commands if "useradd" in command or "usermod" in command]


def test_a_new_account_joins_the_journals_readers():
    assert account_commands({"getent passwd alloy;": "group="}) == [
        "useradd --system --gid alloy --home-dir /var/lib/alloy --no-create-home "
        "--shell /usr/sbin/nologin --groups adm,systemd-journal alloy"
    ]


EXISTING = "alloy:x:990:990::/var/lib/alloy:/usr/sbin/nologin\ngroup=alloy:x:990:"


SET_GROUPS = ["usermod --groups adm,systemd-journal alloy"]


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("groups=alloy alloy", SET_GROUPS),
        ("groups=alloy alloy adm systemd-journal sudo", SET_GROUPS),
        ("groups=alloy alloy systemd-journal adm", []),
    ],
)
def test_an_account_gets_exactly_its_groups(groups, expected):
    responses = {"getent passwd alloy;": EXISTING, "id -gn alloy": groups}
    assert account_commands(responses) == expected


def test_the_groups_fact_leaves_out_the_primary_group():
    assert SupplementaryGroups().process(["groups=alloy alloy systemd-journal adm"]) == [
        "adm", "systemd-journal"
    ]
    assert SupplementaryGroups().process([]) is None
