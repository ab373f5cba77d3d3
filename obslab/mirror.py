"""A local mirror of release-shaped archives, packed from Debian's builds of the programs.

Tests of release installs, upgrades and rollbacks need upstream-style release archives, which
cannot be downloaded on the lab machines. This module packs the real binaries of two Debian
releases (see ``obslab.debian``) into archives laid out exactly as upstream's, so an
artifact source pointing at ``dest`` serves two real versions of each program::

    dest/prometheus/2.53.3/prometheus-2.53.3.linux-amd64.tar.gz
    dest/prometheus/2.53.3/sha256sums.txt          "<sha256>  prometheus-2.53.3.linux-amd64.tar.gz"
    dest/alertmanager/0.28.1/...   dest/node_exporter/1.9.0/...   dest/mysqld_exporter/0.17.2/...
    dest/nginx_exporter/1.4.1/nginx-prometheus-exporter_1.4.1_linux_amd64.tar.gz
    dest/nginx_exporter/1.4.1/nginx-prometheus-exporter_1.4.1_checksums.txt
    dest/loki/3.4.6/loki-linux-amd64.zip            a real Loki, copied (obslab.grafana)
    dest/grafana/13.2.3/grafana_13.2.3_0_linux_amd64.tar.gz   NOT Grafana: the lab's stand-in
                                                   (obslab/grafana_standin.py), build 0
    dest/pins.json                                 {component: {version: sha256}}

Each archive holds LICENSE, NOTICE (where the binaries come from) and the binaries, under a
top directory or at the archive's root as upstream has them (``obsstack.catalog.schema``).

Archives are deterministic (sorted entries, owner root, fixed modes and mtimes, gzip without
name or time), so the same Debian packages give the same sha256 on every run and machine
(with the same zlib). An archive already holding the right content is left as it is.

Example (as root)::

    from pathlib import Path
    from obslab.mirror import build_mirror
    pins = build_mirror(Path("/srv/obs-mirror"))
    print(pins["prometheus"])    # {"2.42.0": "<sha256>", "2.53.3": "<sha256>"}
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from obslab import debian
from obslab.grafana import copy_shared_releases
from obslab.machines import LabError
from obsstack.artifacts import sha256_of
from obsstack.catalog import RELEASE_ARCHIVES

STANDIN_SCRIPT = Path(__file__).with_name("grafana_standin.py")
STANDIN_LAUNCHER = Path(__file__).with_name("grafana_standin.c")
# Grafana's real build numbers are long; no release of it has this one.
STANDIN_BUILD = "0"
# zlib's default level: close to upstream's archive sizes at a fraction of level 9's time.
GZIP_LEVEL = 6
BLOCK_SIZE = 1 << 20


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class MirrorError(LabError):
    """The mirror could not be built as asked."""


@dataclass(frozen=True)
class Member:
    """A regular file of an archive: its name (under the top directory, if any), mode, content."""

    name: str
    mode: int
    content: Path | bytes

    @property
    def size(self) -> int:
        return len(self.content) if isinstance(self.content, bytes) else self.content.stat().st_size

    def open(self) -> BinaryIO:
        if isinstance(self.content, bytes):
            return io.BytesIO(self.content)
        return self.content.open("rb")


def build_mirror(
    dest: Path,
    releases: tuple[str, ...] = ("bookworm", "trixie"),
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, str]]:
    """Pack the programs of each Debian release, and copy the shared Loki; returns
    {component: {version: sha256}}."""
    pins: dict[str, dict[str, str]] = {}
    built_from: dict[tuple[str, str], str] = {}
    for release in releases:
        bin_dir = debian.extract_binaries(release, progress)
        for component, version in debian.reported_versions(release).items():
            earlier = built_from.setdefault((component, version), release)
            if earlier != release:
                raise MirrorError(
                    f"{component} {version} is in both Debian {earlier} and {release}: "
                    "the mirror holds one archive per version, pick one of the releases"
                )
            members = _component_members(release, component, version, bin_dir)
            # The Debian build time of the main binary: fixed for a given package.
            mtime = int((bin_dir / RELEASE_ARCHIVES[component].binaries[0]).stat().st_mtime)
            sha256 = _write_release(dest, component, version, members, mtime, progress)
            pins.setdefault(component, {})[version] = sha256
    pins |= copy_shared_releases(dest, progress=progress)
    pins |= _pack_grafana_standin(dest, progress)
    dest.mkdir(parents=True, exist_ok=True)
    pins_json = json.dumps(pins, indent=2, sort_keys=True) + "\n"
    _write_atomically(dest / "pins.json", pins_json.encode())
    return pins


def _component_members(release: str, component: str, version: str, bin_dir: Path) -> list[Member]:
    """LICENSE, NOTICE and the binaries, as in upstream's archive of ``component``."""
    archive = RELEASE_ARCHIVES[component]
    # The component's main program (its first binary) comes from its main package.
    package = debian.package_of(release, archive.binaries[0])
    doc_dir = debian.release_dir(release) / "root/usr/share/doc" / package
    license_file = doc_dir / "copyright"
    if not license_file.is_file():
        raise MirrorError(f"Debian {release} package {package} has no {license_file.name} file")
    binaries = [Member(name, 0o755, bin_dir / name) for name in archive.binaries]
    notice = _notice(release, component, version, package, doc_dir / "NOTICE")
    return sorted(
        [Member("LICENSE", 0o644, license_file), Member("NOTICE", 0o644, notice), *binaries],
        key=lambda member: member.name,
    )


def _notice(release: str, component: str, version: str, package: str, upstream: Path) -> bytes:
    """Where the binaries come from, then the upstream NOTICE when the package ships one."""
    debian_versions = debian.package_versions(release)
    lines = [
        f"{component} {version} for linux-amd64, packed by observability-stack from Debian "
        f"{release} binaries; not an upstream release archive.",
        "",
    ]
    for name in RELEASE_ARCHIVES[component].binaries:
        source = debian.package_of(release, name)
        lines.append(f"{name}: from Debian package {source} {debian_versions[source]}")
    text = "\n".join(lines) + "\n"
    if upstream.is_file():
        text += f"\nUpstream NOTICE (from Debian package {package}):\n\n{upstream.read_text()}"
    return text.encode()


def _pack_grafana_standin(
    dest: Path, progress: Callable[[str], None]
) -> dict[str, dict[str, str]]:
    """The lab's stand-in for Grafana (not Grafana: obslab/grafana_standin.py), packed as
    the catalog's pinned version with build number ``STANDIN_BUILD``, under the top
    directory Grafana's archives have: ``bin/grafana`` compiled here from
    obslab/grafana_standin.c, beside the script it runs."""
    version = RELEASE_ARCHIVES["grafana"].pin.version
    script = STANDIN_SCRIPT.read_text()
    packed = script.replace('VERSION = "0.0.0"', f"VERSION = {version!r}", 1)
    if packed == script:
        raise MirrorError(f"{STANDIN_SCRIPT} has no VERSION line to pack its version into")
    notice = (
        f"NOT Grafana. The lab's stand-in for Grafana's program, packed by "
        f"observability-stack as version {version}, build {STANDIN_BUILD}, from "
        "obslab/grafana_standin.c and obslab/grafana_standin.py: Grafana cannot be "
        "obtained on the lab's machines.\n"
    )
    with tempfile.TemporaryDirectory() as build_dir:
        launcher = Path(build_dir) / "grafana"
        compiled = subprocess.run(
            ["gcc", "-O2", "-Wall", "-Werror", "-o", str(launcher), str(STANDIN_LAUNCHER)],
            capture_output=True, text=True, check=False,
        )
        if compiled.returncode != 0:
            raise MirrorError(f"cannot compile {STANDIN_LAUNCHER}: {compiled.stderr.strip()}")
        members = [
            Member("NOTICE", 0o644, notice.encode()),
            Member("bin/grafana", 0o755, launcher.read_bytes()),
            Member("lib/grafana_standin.py", 0o644, packed.encode()),
        ]
    # A fixed time: the archive changes only when the stand-in does.
    sha256 = _write_release(
        dest, "grafana", version, members, 0, progress,
        build=STANDIN_BUILD, top=f"grafana-{version}",
    )
    return {"grafana": {version: sha256}}


def _write_release(
    dest: Path,
    component: str,
    version: str,
    members: list[Member],
    mtime: int,
    progress: Callable[[str], None],
    build: str | None = None,
    top: str | None = None,
) -> str:
    """Write the archive (unless it already holds ``members``) and its checksum file;
    ``top``: the top directory, where it is not the catalog's (Grafana's varies)."""
    spec = RELEASE_ARCHIVES[component]
    release_dir = dest / component / version
    archive = release_dir / spec.archive_name(version, build)
    top = top or spec.top_directory(version, build)
    if archive.exists() and _gunzipped_sha256(archive) == _tar_sha256(top, members, mtime):
        progress(f"mirror: {archive.name} is up to date")
    else:
        progress(f"mirror: packing {archive.name} ...")
        release_dir.mkdir(parents=True, exist_ok=True)
        _write_archive(archive, top, members, mtime)
    sha256 = sha256_of(archive)
    sums = release_dir / spec.checksum_file(version, build)
    _write_atomically(sums, f"{sha256}  {archive.name}\n".encode())
    return sha256


def _write_archive(archive: Path, top: str | None, members: list[Member], mtime: int) -> None:
    """Write via a temporary file in the same directory, so readers never see half an archive."""
    descriptor, partial = tempfile.mkstemp(dir=archive.parent, prefix=".partial-")
    try:
        # No file name and mtime 0 in the gzip header: the bytes depend on the content only.
        with (
            os.fdopen(descriptor, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
            ) as compressed,
        ):
            _write_tar(compressed, top, members, mtime)
        os.chmod(partial, 0o644)
        os.replace(partial, archive)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _write_tar(out: _Writable, top: str | None, members: list[Member], mtime: int) -> None:
    """The tar stream: the top directory if any, then ``members`` in order, all owned by root."""
    prefix = f"{top}/" if top else ""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        if top:
            tar.addfile(_tar_info(prefix, tarfile.DIRTYPE, 0o755, 0, mtime))
        for member in members:
            with member.open() as content:
                info = _tar_info(f"{prefix}{member.name}", tarfile.REGTYPE, member.mode,
                                 member.size, mtime)
                tar.addfile(info, content)


def _tar_info(name: str, kind: bytes, mode: int, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


class _Sha256Writer:
    """A write-only file that only hashes what is written to it."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def _tar_sha256(top: str | None, members: list[Member], mtime: int) -> str:
    """The sha256 of the tar stream ``members`` would give, without writing it anywhere."""
    sink = _Sha256Writer()
    _write_tar(sink, top, members, mtime)
    return sink.digest.hexdigest()


def _gunzipped_sha256(archive: Path) -> str | None:
    """The sha256 of the tar stream inside ``archive``; None when it is not a readable gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(archive, "rb") as stream:
            for block in iter(lambda: stream.read(BLOCK_SIZE), b""):
                digest.update(block)
    except (OSError, EOFError):
        return None
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".partial-{path.name}")
    partial.write_bytes(data)
    partial.replace(path)
