"""Roll hosts back to a recorded release: its binary versions, configs and units.

    pyinfra inventories/lab.py deploys/rollback.py --data rollback_to=previous

``rollback_to`` is ``previous`` (the release before the current one), a release id, or a
JSON object mapping host names to release ids. Components converge exactly as in a deploy
(validated configs, symlink switch to a version still on disk, reload or restart only what
changed); a daemon the current release runs and the target does not is removed, as a deploy
removes what a host no longer runs (its data and account stay). Secrets stay as they are,
since releases do not store them.
"""

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError

from deploys.common import installation
from deploys.component import remove
from obsstack.catalog import COMPONENTS
from operations.converge import DesiredState, converge
from operations.history import CurrentRelease, Release, activate_release

target = host.data.get("rollback_to") or "previous"
if isinstance(target, dict):
    target = target.get(host.name, "previous")
release = host.get_fact(Release, release_id=target)
if release is None:
    raise PyinfraError(f"{host.name}: no recorded release {target!r} to roll back to")

for record in host.loop(release["components"]):
    converge(DesiredState.from_record(record), installation())

current = host.get_fact(CurrentRelease)
running_now = host.get_fact(Release, release_id=current["id"]) if current else None
kept = {record["name"] for record in release["components"]}
for record in host.loop((running_now or {}).get("components", [])):
    if record["name"] in kept:
        continue
    if record["name"] not in COMPONENTS:
        # Never remove what cannot be told apart from something else.
        host.noop(f"{record['name']} is not in the catalog: left as it is")
        continue
    remove(COMPONENTS[record["name"]], purge=False)

activate_release(
    name=f"Make release {release['id']} current",
    release_id=release["id"],
    keep=host.data.releases_kept,
)
