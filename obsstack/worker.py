"""One worker process per command: the inventory loaded once, every step run inside it.

pyinfra needs gevent's monkey-patching, which must not touch the caller (invoke, pytest).
A function decorated with ``in_worker`` therefore runs in a child process
(``python -m obsstack.worker``) that patches itself, opens a ``Session`` on the inventory
and calls the function there; what it calls in turn (health, releases, scripts on the
hosts, input checks) finds that session and runs in the same process, over the same SSH
connections. The result comes back pickled (it is our own child, running our own code);
so does an exception, which is raised again in the caller. Callables among the arguments
(a progress printer) stay in the caller: the worker calls them back over the same pipe.

Example::

    from obsstack.worker import in_worker

    @in_worker
    def uptime(inventory: str) -> dict[str, str]:
        from obsstack.session import run_scripts
        return {n: r.stdout for n, r in run_scripts(inventory, {"obs": "uptime"}).items()}

    uptime("inventories/lab.py")   # one child process, whoever calls it
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
Function = TypeVar("Function", bound=Callable[..., Any])
# Set in the worker process only: functions called there run directly.
_inside = False


class WorkerError(Exception):
    """The worker process died without an answer."""


class _Callback:
    """Stands in the worker for a callable argument that stays in the caller."""

    def __init__(self, index: int) -> None:
        self.index = index


def in_worker(function: Function) -> Function:
    """Run ``function`` (first argument: an inventory path) in the command's worker."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _inside:
            return function(*args, **kwargs)
        return _call(function, args, kwargs)

    return wrapper  # type: ignore[return-value]


def _call(function: Callable, args: tuple, kwargs: dict) -> Any:
    callbacks: list[Callable] = []

    def stand_in(value: Any) -> Any:
        if callable(value) and not isinstance(value, type):
            callbacks.append(value)
            return _Callback(len(callbacks) - 1)
        return value

    request = (
        function.__module__,
        function.__qualname__,
        tuple(stand_in(value) for value in args),
        {key: stand_in(value) for key, value in kwargs.items()},
    )
    answers_read, answers_write = os.pipe()
    # The command line shows what the worker runs and the files it runs it on (no other
    # argument: values stay off every process list).
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    files = [v for v in bound.arguments.values() if isinstance(v, str) and v.endswith(".py")]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "obsstack.worker",
            str(answers_write),
            f"{function.__module__}.{function.__qualname__}",
            *files,
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        pass_fds=(answers_write,),
    )
    os.close(answers_write)
    assert child.stdin is not None
    with child.stdin:
        pickle.dump(request, child.stdin)
    with os.fdopen(answers_read, "rb") as answers:
        outcome = _read_answers(answers, callbacks)
    returncode = child.wait()
    if outcome is None:
        raise WorkerError(
            f"the worker running {function.__qualname__} exited with status {returncode} "
            "without an answer (see its output above)"
        )
    kind, value = outcome
    if kind == "error":
        raise value
    return value


def _read_answers(answers: BinaryIO, callbacks: list[Callable]) -> tuple[str, Any] | None:
    while True:
        try:
            kind, value = pickle.load(answers)  # noqa: S301 (our child, a private pipe)
        except EOFError:
            return None
        if kind == "call":
            index, args = value
            callbacks[index](*args)
        else:
            return kind, value


def main(answers_fd: int) -> None:
    """The worker: patch for gevent, read the request, answer on ``answers_fd``."""
    global _inside
    from gevent import monkey

    monkey.patch_all()
    _inside = True
    module, qualname, args, kwargs = pickle.load(sys.stdin.buffer)  # noqa: S301 (our parent)
    answers = os.fdopen(answers_fd, "wb")

    def send(kind: str, value: Any) -> None:
        pickle.dump((kind, value), answers)
        answers.flush()

    def resolve(value: Any) -> Any:
        if isinstance(value, _Callback):
            return lambda *call_args: send("call", (value.index, call_args))
        return value

    function = importlib.import_module(module)
    for name in qualname.split("."):
        function = getattr(function, name)
    try:
        result = function(*map(resolve, args), **{k: resolve(v) for k, v in kwargs.items()})
    except Exception as error:  # raised again in the caller, with where it happened here
        error.add_note("in the worker:\n" + "".join(traceback.format_exception(error)))
        send("error", _picklable(error))
    else:
        send("result", result)
    answers.close()


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    except Exception:  # an exception its class cannot rebuild: keep its text
        return WorkerError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    # This file runs as __main__: the decorated functions read the module's own _inside.
    importlib.import_module("obsstack.worker").main(int(sys.argv[1]))
