"""operations.prefetch: a host's planning commands answered from one batch, exactly as
pyinfra would have read them one by one; everything else run as always.

The host is this machine through pyinfra's ``@local`` connector: the batch is real bash.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State, StringCommand
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.state import StateStage
from pyinfra.connectors.local import LocalConnector
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra.facts.files import File, Sha256File

from operations import prefetch

ODD_OUTPUT = "printf 'a b\\n\\n  c\\r\\nlast'"


@pytest.fixture
def commands_run(monkeypatch) -> list[str]:
    """The commands the local connector really runs."""
    run = []
    original = LocalConnector.run_shell_command

    def counting(self, command, *args, **kwargs):
        run.append(str(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(LocalConnector, "run_shell_command", counting)
    return run


def plan(record_dir: Path, files: list[Path], stage=StateStage.Prepare) -> dict:
    """What one "plan" of the local host reads: facts and a command of odd output."""
    inventory = Inventory((["@local"], {}))
    config = Config()
    state = State(inventory=inventory, config=config)
    with ctx_state.use(state), ctx_inventory.use(inventory), ctx_config.use(config):
        connect_all(state)
        host = inventory.get_host("@local")
        state.set_stage(stage)
        with ctx_host.use(host):
            prefetch.prefetch_facts(record_dir)
            answers = {
                # Less the access time, which the first plan's reads moved on.
                "files": [
                    {k: v for k, v in host.get_fact(File, path=str(path)).items() if k != "atime"}
                    for path in files
                ],
                "sha256": [host.get_fact(Sha256File, path=str(path)) for path in files],
                "odd": host.run_shell_command(StringCommand(ODD_OUTPUT))[1].stdout_lines,
                "failing": host.run_shell_command(StringCommand("exit 3"))[0],
            }
        disconnect_all(state)  # each host's record is kept as it disconnects
    return answers


def test_a_second_plan_asks_once_and_reads_the_same(tmp_path, commands_run):
    files = [tmp_path / f"file{n}" for n in range(5)]
    for path in files:
        path.write_text(path.name)
    first = plan(tmp_path / "records", files)
    live = len(commands_run)
    assert live >= 12  # 10 facts, the odd output, the failing command
    commands_run.clear()
    second = plan(tmp_path / "records", files)
    assert second == first
    # One batch, and the failing command again (a failure is always read live).
    assert len(commands_run) == 2, commands_run
    assert "@obs-prefetch" in commands_run[0]
    assert second["odd"] == ["a b", "", "  c\r", "last"]


def test_nothing_is_answered_from_the_batch_outside_planning(tmp_path, commands_run):
    files = [tmp_path / "file"]
    files[0].write_text("x")
    plan(tmp_path / "records", files)
    commands_run.clear()
    plan(tmp_path / "records", files, stage=StateStage.Execute)
    assert not any("@obs-prefetch" in command for command in commands_run)
    assert len(commands_run) == 4


def test_a_command_that_changed_its_answer_is_read_from_the_new_batch(tmp_path):
    path = tmp_path / "file"
    path.write_text("before")
    before = plan(tmp_path / "records", [path])
    path.write_text("after, and longer")
    after = plan(tmp_path / "records", [path])
    assert before["sha256"] != after["sha256"]
    assert after["files"][0]["size"] == len("after, and longer")


def test_the_record_holds_commands_never_their_output(tmp_path):
    path = tmp_path / "file"
    path.write_text("the-content-of-the-file")
    plan(tmp_path / "records", [path])
    [record] = (tmp_path / "records").iterdir()
    text = record.read_text()
    assert str(path) in text
    assert "the-content-of-the-file" not in text


def test_a_batch_keeps_every_answer_whole_and_in_order():
    big = "head -c 200000 /dev/zero | tr '\\0' x; echo"
    commands = [
        (big, "sh"),
        ("exit 3", "sh"),
        (big, "bash"),
        ("printf 'a\\n\\nb'", "sh"),
        ("printf 'a\\n\\n'", "sh"),
        ("true", "sh"),
        ("printf '%s\\n' \"it's\" '@obs-prefetch-y 1'", "sh"),
    ]
    run = subprocess.run(
        ["bash"], input=prefetch.batch_script(commands, "x", at_once=3), capture_output=True,
        text=True, check=True,
    )
    answers = prefetch.read_batch(run.stdout.split("\n"), "x")
    assert {index: status for index, (status, _) in answers.items()} == {
        0: 0, 1: 3, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0,
    }
    assert answers[0][1] == ["x" * 200000] == answers[2][1]
    # As pyinfra splits a command's output: at newlines, a last newline ending the last line.
    assert answers[3][1] == ["a", "", "b"]
    assert answers[4][1] == ["a", ""]
    assert answers[5][1] == []
    # A line like a marker with another token is output; quotes reach the command intact.
    assert answers[6][1] == ["it's", "@obs-prefetch-y 1"]


def test_an_answer_cut_short_is_no_answer():
    run = subprocess.run(
        ["bash"], input=prefetch.batch_script([("echo one", "sh"), ("echo two", "sh")], "t"),
        capture_output=True, text=True, check=True,
    )
    cut = run.stdout.split("\n")[:-3]  # the second answer's end line is missing
    assert prefetch.read_batch(cut, "t") == {0: (0, ["one"])}
