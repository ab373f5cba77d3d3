"""Release-shaped archives in a local artifact source, for tests of the release operation.

Example::

    source, sha256 = mirror_archive(tmp_path, "node_exporter", "1.9.0",
                                    "node_exporter-1.9.0.linux-amd64.tar.gz",
                                    {"node_exporter-1.9.0.linux-amd64/node_exporter": script})
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path


def mirror_archive(
    tmp_path: Path, component: str, version: str, archive_name: str, members: dict[str, bytes]
) -> tuple[Path, str]:
    """A mirror laid out as <component>/<version>/<archive>; (its root, the archive's sha256).

    Members that start with ``#!`` (the stand-in binaries) are executable.
    """
    version_dir = tmp_path / "mirror" / component / version
    version_dir.mkdir(parents=True)
    archive = version_dir / archive_name
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755 if content.startswith(b"#!") else 0o644
            tar.addfile(info, io.BytesIO(content))
    return tmp_path / "mirror", hashlib.sha256(archive.read_bytes()).hexdigest()
