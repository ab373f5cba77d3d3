"""Roll hosts back to a recorded release: its binary versions, configs and units.

    pyinfra inventories/lab.py deploys/rollback.py --data rollback_to=previous

``rollback_to`` is ``previous`` (the release before the current one), a release id, or a
JSON object mapping host names to release ids. Components converge exactly as in a deploy
(validated configs, symlink switch to a version still on disk, reload or restart only what
changed); a daemon the current release runs and the target does not is removed, as a deploy
removes what a host no longer runs (its data and account stay). Secrets stay as they are,
since releases do not store them.
"""

from deploys.entrypoints import rollback

rollback()
