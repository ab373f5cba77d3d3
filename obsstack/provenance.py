"""Who deploys, from which commit: recorded with every release and in the deploy log.

Example::

    from obsstack.provenance import deploy_commit, deployer
    deploy_commit()   # '3f2c1ab…' or '3f2c1ab…+dirty' (uncommitted changes) or 'unknown'
    deployer()        # 'alice@laptop', or 'github:octocat' in GitHub Actions
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@cache
def deploy_commit() -> str:
    def git(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


@cache
def run_started() -> datetime:
    """When this deploy run started (one value for every host of the run)."""
    return datetime.now(UTC).replace(microsecond=0)


@cache
def deployer() -> str:
    if os.environ.get("GITHUB_ACTOR"):
        return f"github:{os.environ['GITHUB_ACTOR']}"
    return f"{getpass.getuser()}@{socket.gethostname()}"
