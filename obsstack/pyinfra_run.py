"""The pyinfra command line, run inside the command's worker rather than in a process of
its own.

A pyinfra process spends about a second starting before it even reads the inventory; the
worker has started already. ``run`` hands pyinfra's own CLI its arguments exactly as
``python -m pyinfra ARGS`` gets them, and returns its exit status, its log (also streamed
to stderr as it comes, if asked) and what it printed on stdout (``--json``). pyinfra makes
a new state and inventory for each run, so runs one after another (the waves of a canary
deploy, a rollback) share nothing but the loaded code.

Example (in the worker)::

    from obsstack.pyinfra_run import run
    status, log, output = run(["inventories/lab.py", "deploys/site.py", "--dry", "--json"])
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import TextIO


class _Tee(io.TextIOBase):
    """Writes to a buffer and a stream at once (the log, kept and shown)."""

    def __init__(self, buffer: TextIO, stream: TextIO) -> None:
        self.buffer_, self.stream = buffer, stream

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:  # like a pipe: pyinfra prints no colours and no spinner
        return False


def run(args: list[str], echo: bool = False) -> tuple[int, str, str]:
    """``pyinfra ARGS`` in this process: ``(exit status, log, stdout)``."""
    import click
    import pyinfra
    from pyinfra.api.output import set_echo, set_formatter
    from pyinfra_cli.cli import cli

    # What pyinfra's own entry point sets up before it reads its arguments.
    pyinfra.is_cli = True
    set_formatter(click.style)
    set_echo(click.echo)
    log, output = io.StringIO(), io.StringIO()
    handlers = list(pyinfra.logger.handlers)
    with (
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(_Tee(log, sys.stderr) if echo else log),
    ):
        try:
            cli.main(args=args, prog_name="pyinfra", standalone_mode=False)
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else int(done.code is not None)
        except click.ClickException as error:
            error.show()
            status = error.exit_code
        finally:
            # Each run adds its log handler to pyinfra's logger: the next adds its own.
            pyinfra.logger.handlers[:] = handlers
    return status, log.getvalue(), output.getvalue()
