"""What the invoke tasks share: clean messages for the errors a user can act on, and the
deploy command's report.

Example::

    from obsstack.cli import deploy_and_report
    deploy_and_report("inventories/lab.py", limit="web1")   # prints a table per host
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke import Exit

from obsstack.addresses import AddressError
from obsstack.agents import DetectionError
from obsstack.artifacts import ArtifactError
from obsstack.backups import BackupError
from obsstack.drift import DriftError
from obsstack.history import ReleaseHistoryError
from obsstack.logs import LogQueryError
from obsstack.pipeline import deploy_pipeline
from obsstack.report import print_table
from obsstack.secrets import SecretError
from obsstack.session import LimitError
from obsstack.settings import SettingsError
from obsstack.worker import WorkerError

# Shown as one message, not a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    AddressError,
    ArtifactError,
    BackupError,
    DetectionError,
    DriftError,
    LimitError,
    LogQueryError,
    ReleaseHistoryError,
    SecretError,
    SettingsError,
    WorkerError,
)
Task = TypeVar("Task", bound=Callable[..., Any])


def reports_errors(function: Task, errors: tuple[type[Exception], ...] = ()) -> Task:
    """``function`` with the project's user-facing errors (and ``errors``) turned into a
    clean exit with the message."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (*USER_ERRORS, *errors) as error:
            raise Exit(f"error: {error}", code=2) from error

    return wrapper  # type: ignore[return-value]


def deploy_and_report(inventory: str, **options: Any) -> None:
    """Run the deploy pipeline, print what changed per host; exit 1 naming the failures."""
    outcome = deploy_pipeline(inventory, **options)
    if outcome.deploy:
        result = outcome.deploy
        print_table(
            ("host", "changed", "failed", "rolled back to"),
            [
                (
                    host,
                    result.changed.get(host, 0),
                    result.failed.get(host, 0),
                    outcome.rolled_back.get(host, "-"),
                )
                for host in sorted(set(result.changed) | set(result.failed))
            ],
        )
    if not outcome.ok:
        raise Exit("deploy failed:\n  " + "\n  ".join(outcome.failures), code=1)
