"""Release history on each host: what was deployed, when, by whom, from which commit.

A release records every component's pinned version and the full text of its config files
and unit (secrets excluded) in ``/var/lib/observability-stack/releases/<id>.json``;
``current`` names the active one. A deploy that changes nothing records nothing: the
current release still describes the host. The newest ``keep`` releases are kept.

Example (a deploy file)::

    from operations.history import record_release
    record_release(name="Record release", components=[c.to_record() for c in components],
                   run_started=run_started(), commit="3f2c1ab", deployer="alice", keep=10)
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from io import StringIO
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation
from pyinfra.api.exceptions import FactProcessError, PyinfraError
from typing_extensions import override

from obsstack.catalog.host import CURRENT, RELEASES_DIR
from obsstack.fields import RELEASE_ID
from operations.upload import private_upload

EXAMPLE_ID = "20261127T012544Z-1a2b3c4d5e6f"
# The id of a recorded release: the run's start and the state's fingerprint.
RECORDED_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{12}")


def fingerprint(components: list[dict[str, Any]]) -> str:
    """Identifies the deployed state: equal for equal versions, configs and units."""
    canonical = json.dumps(components, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


class CurrentRelease(FactBase[dict[str, str] | None]):
    """
    Returns the id of the active release and the fingerprint it ends with, or ``None``
    before the first recorded release (or when its file is gone).

    .. code:: python

        {"id": "20261127T010203Z-1a2b3c4d5e6f", "fingerprint": "1a2b3c4d5e6f"}
    """

    @override
    def command(self) -> str:
        # The id alone: the release itself (every config's text) is not needed to compare.
        return (
            f"test -f {CURRENT} && current=$(cat {CURRENT})"
            f' && test -f "{RELEASES_DIR}/$current.json" && echo "$current" || true'
        )

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        text = "\n".join(output).strip()
        if not text:
            return None
        if not RECORDED_ID.fullmatch(text):
            raise FactProcessError(f"{CURRENT} holds {text!r}, not a release id")
        return {"id": text, "fingerprint": text.rsplit("-", 1)[1]}


class Release(FactBase[dict[str, Any] | None]):
    """
    Returns a whole recorded release (with its components), or ``None`` if it does not exist.

    + release_id: the id or its run prefix (``20261127T010203Z``), or ``previous`` for the
      newest release before the current one
    """

    @override
    def command(self, release_id: str) -> str:
        if release_id != "previous" and not RELEASE_ID.fullmatch(release_id):
            # A path ("../../tmp/x") would make this fact read any file as root.
            raise PyinfraError(f"{release_id!r} is not a release id such as {EXAMPLE_ID}")
        if release_id == "previous":
            return (
                f"cd {RELEASES_DIR} 2>/dev/null && current=$(cat {CURRENT})"
                " && previous=$(ls -1 *.json | sort | sed 's/\\.json$//'"
                " | awk -v c=\"$current\" '$0 < c' | tail -n 1)"
                " && test -n \"$previous\" && cat \"$previous.json\" || true"
            )
        pattern = f"{RELEASES_DIR}/{release_id}*.json"
        return (
            f"found=$(ls -1 {pattern} 2>/dev/null | sort | tail -n 1);"
            ' test -n "$found" && cat "$found" || true'
        )

    @override
    def process(self, output: list[str]) -> dict[str, Any] | None:
        text = "\n".join(output).strip()
        return json.loads(text) if text else None


@operation()
def record_release(
    components: list[dict[str, Any]],
    run_started: datetime,
    commit: str,
    deployer: str,
    keep: int = 10,
):
    """
    Record the deployed state as a new release and make it current, unless it already is.

    + components: ``DesiredState.to_record()`` of every component on the host
    + run_started: when the deploy run started; the release id starts with it, so the
      releases one run records on several hosts share a prefix (``invoke rollback --to``)
    + commit: the deploy repository's commit
    + deployer: who ran the deploy (user@machine, or the CI actor)
    + keep: how many releases to keep (the current one is never removed)
    """
    state_fingerprint = fingerprint(components)
    current = host.get_fact(CurrentRelease)
    if current and current["fingerprint"] == state_fingerprint:
        host.noop(f"release {current['id']} already describes this host")
        return
    release_id = f"{run_started:%Y%m%dT%H%M%SZ}-{state_fingerprint}"
    release = {
        "id": release_id,
        "fingerprint": state_fingerprint,
        "time": run_started.isoformat(timespec="seconds"),
        "commit": commit,
        "deployer": deployer,
        # Programs from distribution packages have no pinned version to record.
        "versions": {c["name"]: c["version"] for c in components if c.get("version")},
        "components": components,
    }
    yield from activate(release_id, json.dumps(release, sort_keys=True), keep)


@operation()
def activate_release(release_id: str, keep: int = 10):
    """
    Make an already recorded release current (after a rollback converged to it).

    + release_id: the release to mark as current
    + keep: how many releases to keep
    """
    current = host.get_fact(CurrentRelease)
    if current and current["id"] == release_id:
        host.noop(f"release {release_id} is current")
        return
    yield from activate(release_id, None, keep)


def activate(release_id: str, document: str | None, keep: int):
    path = f"{RELEASES_DIR}/{release_id}.json"
    yield StringCommand(f"install -d -m 0700 {RELEASES_DIR}")
    if document is not None:
        yield StringCommand(f"install -m 0600 /dev/null {path}")
        yield from private_upload(StringIO(document), path)
    yield StringCommand(
        f"echo {release_id} > {CURRENT}.new && mv -f {CURRENT}.new {CURRENT}"
        f" && cd {RELEASES_DIR} && ls -1 *.json | sort | grep -vx {release_id}.json"
        f" | head -n -{keep - 1} | xargs -r rm -f --"
    )
