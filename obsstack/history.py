"""Read the release history of every host (``invoke releases``).

Example::

    from obsstack.history import list_releases
    history = list_releases("inventories/lab.py")
    history["obs"][0].id, history["obs"][0].current
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from obsstack.catalog.host import CURRENT, RELEASES_DIR
from obsstack.session import hosts_named, run_scripts
from obsstack.worker import in_worker

MARK = "### obs-release"
# Prints the current id, then each release document after a marker line.
LIST_SCRIPT = f"""
cat {CURRENT} 2>/dev/null || echo
for f in $(ls -1 {RELEASES_DIR}/*.json 2>/dev/null | sort -r); do
  echo '{MARK}'; cat "$f"; echo
done
"""


@dataclass(frozen=True)
class ReleaseSummary:
    id: str
    time: str
    commit: str
    deployer: str
    versions: dict[str, str]
    current: bool

    def as_dict(self) -> dict:
        return asdict(self)


class ReleaseHistoryError(Exception):
    pass


def parse_history(output: str) -> list[ReleaseSummary]:
    """Releases newest first, from the output of ``LIST_SCRIPT``."""
    current, *documents = output.split(MARK)
    summaries = []
    for document in documents:
        release = json.loads(document)
        summaries.append(
            ReleaseSummary(
                release["id"],
                release["time"],
                release["commit"],
                release["deployer"],
                release["versions"],
                release["id"] == current.strip(),
            )
        )
    return summaries


@in_worker
def list_releases(
    inventory: str, hosts: Iterable[str] | None = None
) -> dict[str, list[ReleaseSummary]]:
    """Each host's (of ``hosts``; None: every host's) releases, newest first; raises naming
    the hosts that could not be read."""
    hosts = [host.name for host in hosts_named(inventory, hosts)]
    results = run_scripts(inventory, dict.fromkeys(hosts, LIST_SCRIPT))
    unreadable = [name for name, result in results.items() if not result.ok]
    if unreadable:
        details = "; ".join(f"{name}: {results[name].stderr.strip()}" for name in unreadable)
        raise ReleaseHistoryError(f"cannot read the release history of {details}")
    return {name: parse_history(results[name].stdout) for name in hosts}


@in_worker
def current_release_ids(
    inventory: str, hosts: Iterable[str] | None = None
) -> dict[str, str | None]:
    """The current release of each host (None before its first recorded release)."""
    return {
        name: next((r.id for r in history if r.current), None)
        for name, history in list_releases(inventory, hosts).items()
    }
