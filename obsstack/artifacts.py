"""Fetch release archives on the controller, once, and verify them before any host sees them.

An *artifact source* says where archives come from:

- ``"github"`` (default): upstream's own download,
  ``https://github.com/<repo>/releases/download/v<V>/<archive>`` (Grafana's from
  dl.grafana.com: ``obsstack.catalog.schema.GRAFANA_SERVER``);
- an ``http(s)://`` URL of a mirror laid out as ``<base>/<component>/<V>/<archive>``;
- a local directory with the same layout, for air-gapped installs.

Downloads land in a cache directory; a cached archive is re-verified on every use, and a
file whose sha256 differs from the pinned one is deleted and reported, never uploaded.

Example::

    from pathlib import Path
    from obsstack.artifacts import fetch_archive
    path = fetch_archive("node_exporter", "1.9.0", "<sha256>", "/srv/mirror", Path("/tmp/cache"))
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import requests

from obsstack.catalog import RELEASE_ARCHIVES

GITHUB = "github"
DOWNLOAD_TIMEOUT_SECONDS = 60


class ArtifactError(Exception):
    """An archive could not be fetched or failed verification."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_location(component: str, version: str, source: str, build: str | None = None) -> str:
    """Where ``source`` keeps the archive of ``component`` at ``version`` (URL or path);
    ``build``: the release's build number, for an archive named with it."""
    spec = RELEASE_ARCHIVES[component]
    archive = spec.archive_name(version, build)
    if source == GITHUB:
        if spec.layout.download:
            return spec.layout.download.format(version=version, archive=archive)
        return f"https://github.com/{spec.github_repo}/releases/download/v{version}/{archive}"
    return f"{source.rstrip('/')}/{component}/{version}/{archive}"


def fetch_archive(
    component: str,
    version: str,
    sha256: str,
    source: str,
    cache_dir: Path,
    build: str | None = None,
) -> Path:
    """Return a verified local copy of the archive, downloading or copying it when missing."""
    location = archive_location(component, version, source, build)
    archive = RELEASE_ARCHIVES[component].archive_name(version, build)
    cached = cache_dir / component / version / archive
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        _copy_into_cache(location, cached)
    actual = sha256_of(cached)
    if actual != sha256:
        cached.unlink()
        raise ArtifactError(
            f"{component} {version}: sha256 mismatch for {location}: "
            f"expected {sha256} (releases.{component}.sha256), got {actual}. "
            "The archive was discarded and nothing was uploaded to any host."
        )
    return cached


def _copy_into_cache(location: str, cached: Path) -> None:
    """Copy ``location`` to ``cached`` via a temporary file: a broken fetch leaves nothing."""
    descriptor, partial = tempfile.mkstemp(dir=cached.parent, prefix=".partial-")
    try:
        with os.fdopen(descriptor, "wb") as out:
            if location.startswith(("http://", "https://")):
                _download(location, out)
            else:
                try:
                    with open(location, "rb") as source:
                        shutil.copyfileobj(source, out)
                except OSError as error:
                    raise ArtifactError(f"cannot read {location}: {error.strerror}") from error
        os.replace(partial, cached)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _download(url: str, out) -> None:
    try:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            for block in response.iter_content(1 << 20):
                out.write(block)
    except requests.RequestException as error:
        raise ArtifactError(f"cannot download {url}: {error}") from error
