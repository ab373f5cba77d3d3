"""Roll hosts back to a recorded release: its binary versions, configs and units.

    pyinfra inventories/lab.py deploys/rollback.py --data rollback_to=previous

``rollback_to`` is ``previous`` (the release before the current one), a release id, or a
JSON object mapping host names to release ids. Components converge exactly as in a deploy
(validated configs, symlink switch to a version still on disk, reload or restart only what
changed); secrets stay as they are, since releases do not store them.
"""

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError

from deploys.common import installation
from operations.converge import DesiredState, converge
from operations.history import Release, activate_release

target = host.data.get("rollback_to") or "previous"
if isinstance(target, dict):
    target = target.get(host.name, "previous")
release = host.get_fact(Release, release_id=target)
if release is None:
    raise PyinfraError(f"{host.name}: no recorded release {target!r} to roll back to")

for record in host.loop(release["components"]):
    converge(DesiredState.from_record(record), installation())

activate_release(
    name=f"Make release {release['id']} current",
    release_id=release["id"],
    keep=host.data.releases_kept,
)
