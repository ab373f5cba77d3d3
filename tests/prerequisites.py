"""One rule for a test whose prerequisite is missing: skip it with the reason here, fail it
in CI (``CI`` set) or with ``OBS_REQUIRE_LAB=1``, where everything must run.

Example::

    from prerequisites import require
    require(shutil.which("openssl") is not None, "openssl is not installed here")
"""

from __future__ import annotations

import os

import pytest


def required_here() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("OBS_REQUIRE_LAB"))


def require(available: bool, reason: str) -> None:
    """Skip (or, where everything is required, fail) the calling test unless ``available``."""
    if available:
        return
    if required_here():
        pytest.fail(f"required here but cannot run: {reason}")
    pytest.skip(reason)
