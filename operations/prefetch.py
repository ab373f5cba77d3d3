"""Ask a host, in one command, everything its last plan asked it one command at a time.

pyinfra runs one SSH command per fact, one after another on each host: planning a deploy
of the observability server that changes nothing takes about 130 round trips of some
60 ms each. While pyinfra prepares a deploy (``StateStage.Prepare``) nothing on a host
changes, so those answers can be gathered at once. ``prefetch_facts`` makes the first
command pyinfra runs on the host during Prepare a batch of every command the host's
previous plan ran (kept on the controller, commands only, never their output); each of
those commands is then answered from the batch.

Everything else runs as always: a command the batch did not hold or that failed in it
(pyinfra then reads its error), commands pyinfra prints (``-vv`` and above), commands
with input or their own environment, and every command outside Prepare, when operations
change the host.

Example (a deploy file, before its operations)::

    from operations.prefetch import prefetch_facts
    prefetch_facts()
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gevent.lock
from pyinfra.api import StringCommand
from pyinfra.api.host import Host
from pyinfra.api.state import BaseStateCallback, State, StateStage
from pyinfra.connectors.util import CommandOutput, OutputLine
from pyinfra.context import ctx_host

# With any of these connector arguments set, a command runs on its own and is not kept:
# it reads input, needs a terminal, or carries a password.
UNBATCHED_ARGUMENTS = ("_stdin", "_get_pty", "_sudo_password", "_su_password")
# A batch reproduces the other arguments of its commands (who runs them, where, with
# which environment) but these, which it applies to each command itself.
PER_COMMAND_ARGUMENTS = ("_shell_executable", "_timeout")
SHELL = re.compile(r"[a-z]{1,8}")
# Commands of a batch running at the same time on the host.
PARALLEL = 8
DEFAULT_DIR = Path("~/.cache/observability-stack/fact-commands").expanduser()


@dataclass
class _HostBatch:
    """One host's prefetch in one run: what to ask, what was answered, what was asked."""

    record: Path
    planned: list[dict[str, Any]]
    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: gevent.lock.Semaphore = field(default_factory=gevent.lock.Semaphore)
    fetched: bool = False


_batches: dict[Host, _HostBatch] = {}
_original_run_shell_command = Host.run_shell_command


def prefetch_facts(record_dir: Path = DEFAULT_DIR) -> None:
    """Answer this host's planning commands from one batch (see the module docstring)."""
    target = ctx_host.get()  # the host itself, not pyinfra's proxy of the current one
    if target in _batches:
        return
    # Quoted: a host's name may hold "/" (pyinfra's @connector/NAME).
    record = record_dir / f"{quote(target.name, safe='')}.json"
    try:
        planned = json.loads(record.read_text())
    except (OSError, ValueError):
        planned = []
    if not _batches:
        Host.run_shell_command = _run_shell_command  # type: ignore[method-assign]
    if not any(isinstance(h, _Recorder) for h in target.state.callback_handlers):
        target.state.add_callback_handler(_Recorder())
    _batches[target] = _HostBatch(record, [c for c in planned if _planned(c)])


class _Recorder(BaseStateCallback):
    """Keeps, as each host of a plan disconnects, the commands its plan ran: the host's
    next batch. A run without change detection (``--yes``) asks little while it prepares
    and the rest while it executes, and a plan that failed on the host stopped early:
    their commands say nothing about the next plan."""

    @staticmethod
    def host_disconnect(state: State, host: Host) -> None:
        batch = _batches.pop(host, None)
        # A plan that failed on the host stopped early: its commands are not the next ones.
        if batch is None or not batch.asked or not state.check_for_changes:
            return
        if host in state.failed_hosts:
            return
        batch.record.parent.mkdir(parents=True, exist_ok=True)
        batch.record.write_text(json.dumps(list(batch.asked.values()), indent=1))


def _batchable(arguments: Any) -> bool:
    return (
        isinstance(arguments, dict)
        and _json_native(arguments)
        and not any(arguments.get(name) for name in UNBATCHED_ARGUMENTS)
        and list(arguments.get("_success_exit_codes") or [0]) == [0]
        and SHELL.fullmatch(str(arguments.get("_shell_executable") or "sh")) is not None
    )


def _json_native(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _planned(command: Any) -> bool:
    return (
        isinstance(command, dict)
        and isinstance(command.get("command"), str)
        and _batchable(command.get("arguments"))
    )


def _runner(arguments: dict[str, Any]) -> str:
    """The arguments that say who runs a command and how, as a key (unset ones left out:
    a fact passes every argument pyinfra has, a plain command only its own)."""
    runner = {
        name: value
        for name, value in arguments.items()
        if value and name not in PER_COMMAND_ARGUMENTS and name != "_success_exit_codes"
    }
    if not runner.get("_retries"):
        runner.pop("_retry_delay", None)
    return json.dumps(runner, sort_keys=True)


def _key(command: str, arguments: dict[str, Any]) -> str:
    return json.dumps([command, arguments], sort_keys=True)


def _run_shell_command(self: Host, command, print_output=False, print_input=False, **arguments):
    batch = _batches.get(self)
    if (
        batch is None
        or self.state.current_stage != StateStage.Prepare
        or print_output
        or print_input
        or not isinstance(command, str | StringCommand)
        or not _batchable(arguments)
    ):
        return _original_run_shell_command(self, command, print_output, print_input, **arguments)
    text = command if isinstance(command, str) else command.get_raw_value()
    # As JSON reads it back: the key of a recorded command is the key of its next run.
    recorded = json.loads(json.dumps(arguments))
    key = _key(text, recorded)
    batch.asked.setdefault(key, {"command": text, "arguments": recorded})
    with batch.lock:
        if not batch.fetched:
            batch.fetched = True
            _fetch(self, batch)
    lines = batch.answers.get(key)
    if lines is None:
        return _original_run_shell_command(self, command, print_output, print_input, **arguments)
    return True, CommandOutput([OutputLine("stdout", line) for line in lines])


def batch_script(commands: list[tuple[str, str]], token: str, at_once: int = PARALLEL) -> str:
    """A bash script running each ``(command, shell)``, ``at_once`` of them at a time, that
    prints each command's output whole, in order, between the lines
    ``@obs-prefetch-TOKEN INDEX`` and ``@obs-prefetch-TOKEN-end EXIT-STATUS`` (``read_batch``
    reads it back; ``token`` is random, so no output holds those lines by chance).

    Each command's output goes to a pipe of its own, read in turn: outputs of any size
    never mix."""
    script = [
        # As pyinfra runs a command: SHELL -c COMMAND (its stdin empty, its stderr dropped).
        'run() { "$1" -c "$2" 2>/dev/null </dev/null; local status=$?;'
        f' printf "\\n@obs-prefetch-{token}-end %d\\n" "$status"; }}',
    ]

    def start(index: int) -> str:
        command, shell = commands[index]
        return f"exec {{f{index}}}< <(run {shell} {shlex.quote(command)})"

    script += [start(index) for index in range(min(at_once, len(commands)))]
    for index in range(len(commands)):
        script.append(f"echo @obs-prefetch-{token} {index}; cat <&$f{index}; exec {{f{index}}}<&-")
        if index + at_once < len(commands):
            script.append(start(index + at_once))
    return "\n".join(script) + "\n"


def read_batch(lines: list[str], token: str) -> dict[int, tuple[int, list[str]]]:
    """``{index: (exit status, output lines)}`` of a ``batch_script`` output, for the
    commands whose answer is complete; the lines split as pyinfra splits a command's."""
    answers: dict[int, tuple[int, list[str]]] = {}
    start, end = f"@obs-prefetch-{token} ", f"@obs-prefetch-{token}-end "
    index: int | None = None
    collected: list[str] = []
    for line in lines:
        if line.startswith(start) and line[len(start) :].isdigit():
            index, collected = int(line[len(start) :]), []
        elif index is not None and line.startswith(end) and line[len(end) :].isdigit():
            # run() adds a newline before the end line: the lines before it are the
            # output's, and pyinfra would have split it the same way.
            output = "\n".join(collected).split("\n")
            if output[-1] == "":
                output.pop()
            answers[index] = (int(line[len(end) :]), output)
            index = None
        elif index is not None:
            collected.append(line)
    return answers


def _fetch(target: Host, batch: _HostBatch) -> None:
    """Run the host's planned commands, one batch per way of running them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for planned in batch.planned:
        groups.setdefault(_runner(planned["arguments"]), []).append(planned)
    for runner_key, commands in groups.items():
        token = secrets.token_hex(16)
        script = batch_script(
            [
                (planned["command"], planned["arguments"].get("_shell_executable") or "sh")
                for planned in commands
            ],
            token,
        )
        try:
            ok, output = _original_run_shell_command(
                target,
                StringCommand(script),
                False,
                False,
                _shell_executable="bash",
                **json.loads(runner_key),
            )
        except UnicodeDecodeError:  # an answer pyinfra cannot read: let it fail live
            continue
        if not ok:
            continue
        for index, (status, lines) in read_batch(output.stdout_lines, token).items():
            if status == 0:
                planned = commands[index]
                batch.answers[_key(planned["command"], planned["arguments"])] = lines
