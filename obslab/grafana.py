"""Grafana's programs for the lab: a real Loki from the shared folder, and no Alloy.

Grafana's release archives cannot be downloaded on the lab machines and no package registry
we reach carries them. The project's shared folder (``$OBS_LAB_SHARED``, by default
``../shared`` beside the repository) holds a real Loki built from Grafana's source at a
release tag and shaped like an upstream release (``loki/<version>/loki-linux-amd64.zip`` and
its ``SHA256SUMS``; provenance in that folder's README). The mirror serves copies of it, as it
serves Debian's builds of the Prometheus programs. Alloy and Grafana have no such build: the
lab's hosts run without Alloy (``alloy_enabled`` is off in obslab/settings.py), and the
observability server runs a stand-in in Grafana's place (obslab/grafana_standin.py, packed
by obslab/mirror.py), which is not Grafana.

Example::

    from pathlib import Path
    from obslab.grafana import copy_shared_releases
    copy_shared_releases(Path("/srv/obs-mirror"))    # {"loki": {"3.4.6": "<sha256>"}}
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from obslab.machines import LabError
from obsstack.artifacts import sha256_of
from obsstack.catalog import RELEASE_ARCHIVES

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("OBS_LAB_SHARED") or REPO_ROOT.parent / "shared")
SHARED_COMPONENTS = ("loki",)


class SharedReleaseError(LabError):
    """A shared release is missing or does not match its checksum file."""


def copy_shared_releases(
    dest: Path, shared: Path = SHARED_DIR, progress: Callable[[str], None] = print
) -> dict[str, dict[str, str]]:
    """Copy every shared release of ``SHARED_COMPONENTS`` into the mirror ``dest``, each
    checked against its ``SHA256SUMS``; returns ``{component: {version: sha256}}``."""
    pins: dict[str, dict[str, str]] = {}
    for component in SHARED_COMPONENTS:
        spec = RELEASE_ARCHIVES[component]
        versions = sorted(path for path in (shared / component).glob("*") if path.is_dir())
        if not versions:
            raise SharedReleaseError(
                f"no {component} release in {shared / component}: the lab runs a real "
                f"{component} from there (set OBS_LAB_SHARED to the folder that holds it)"
            )
        for source in versions:
            version = source.name
            archive = source / spec.archive_name(version)
            sums = source / spec.checksum_file(version)
            expected = listed_sha256(sums, archive.name)
            if not archive.is_file() or sha256_of(archive) != expected:
                raise SharedReleaseError(f"{archive} is missing or does not match {sums}")
            target = dest / component / version
            target.mkdir(parents=True, exist_ok=True)
            copy = target / archive.name
            if not copy.is_file() or sha256_of(copy) != expected:
                progress(f"mirror: copying {component} {version} from {source}")
                for path in (archive, sums):
                    partial = target / f".partial-{path.name}"
                    shutil.copyfile(path, partial)
                    partial.replace(target / path.name)
            pins.setdefault(component, {})[version] = expected
    return pins


def listed_sha256(sums: Path, name: str) -> str:
    """The sha256 ``sums`` lists for ``name`` (sha256sum's format)."""
    if not sums.is_file():
        raise SharedReleaseError(f"{sums} is missing")
    for line in sums.read_text().splitlines():
        digest, _, listed = line.partition("  ")
        if listed.strip().lstrip("*") == name:
            return digest.strip()
    raise SharedReleaseError(f"{sums} lists no sha256 for {name}")
