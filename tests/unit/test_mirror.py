"""The release mirror packed from Debian's builds: upstream layout, checksums, determinism.

These tests use the real Debian packages (downloaded once into ``obslab.debian.CACHE_DIR``,
then reused) and run the packed binaries. They need root and apt access to deb.debian.org.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from prerequisites import require

from obslab import debian
from obslab.mirror import STANDIN_BUILD, build_mirror
from obsstack.artifacts import sha256_of
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.settings import check_data
from operations.facts import parse_version

RELEASES = ("bookworm", "trixie")
PROBE_URL = f"{debian.DEBIAN_MIRROR}/debian/dists/trixie/Release.gpg"


def _apt_reaches_debian(scratch: Path) -> bool:
    """Ask apt itself, so the controller's apt proxy settings count as they will later."""
    result = subprocess.run(
        ["/usr/lib/apt/apt-helper", "-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=10",
         "download-file", PROBE_URL, str(scratch / "Release.gpg")],
        capture_output=True, text=True, check=False, timeout=60,
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def debian_available(tmp_path_factory: pytest.TempPathFactory) -> None:
    require(os.geteuid() == 0, f"needs root: apt and the package cache under {debian.CACHE_DIR}")
    require(
        _apt_reaches_debian(tmp_path_factory.mktemp("probe")),
        f"apt cannot reach the Debian archive ({PROBE_URL})",
    )


@pytest.fixture(scope="module")
def mirror(debian_available: None, tmp_path_factory: pytest.TempPathFactory):
    dest = tmp_path_factory.mktemp("mirror")
    pins = build_mirror(dest, RELEASES, progress=lambda message: None)
    return dest, pins


def _archive(dest: Path, component: str, version: str) -> Path:
    spec = RELEASE_ARCHIVES[component]
    build = STANDIN_BUILD if spec.needs_build else None
    return dest / component / version / spec.archive_name(version, build)


def packed(pins: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The pins of the archives packed from Debian's builds (not Grafana's programs)."""
    return {component: versions for component, versions in pins.items() if component in DEBIAN}


DEBIAN = {name for name in RELEASE_ARCHIVES if name not in debian.NOT_IN_DEBIAN}


def _all_archives(dest: Path, pins: dict[str, dict[str, str]]) -> list[Path]:
    return [
        _archive(dest, component, version)
        for component, versions in packed(pins).items()
        for version in versions
    ]


def test_mirror_holds_two_versions_of_each_component(mirror):
    _, pins = mirror
    # Alloy and Grafana cannot be had here (Grafana's is the lab's stand-in); Loki is the
    # shared folder's real build (obslab/grafana.py).
    assert set(pins) == set(RELEASE_ARCHIVES) - {"alloy"}
    for component, versions in packed(pins).items():
        assert len(versions) == 2, f"{component}: {versions}"


def test_the_shared_loki_is_served_as_upstream_ships_it(mirror, tmp_path):
    dest, pins = mirror
    spec = RELEASE_ARCHIVES["loki"]
    assert pins["loki"], "no Loki in the mirror"
    for version, sha256 in pins["loki"].items():
        archive = _archive(dest, "loki", version)
        assert archive.name == "loki-linux-amd64.zip" and sha256_of(archive) == sha256
        sums = (archive.parent / spec.checksum_file(version)).read_text()
        assert f"{sha256}  {archive.name}" in sums
        with zipfile.ZipFile(archive) as packed_zip:
            assert packed_zip.namelist() == ["loki-linux-amd64"]
            packed_zip.extract("loki-linux-amd64", tmp_path / version)
        binary = tmp_path / version / "loki-linux-amd64"
        binary.chmod(0o755)
        first_line = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[0]
        assert parse_version(first_line) == version, first_line


def test_grafanas_stand_in_is_shaped_like_its_archive_and_says_what_it_is(mirror, tmp_path):
    dest, pins = mirror
    spec = RELEASE_ARCHIVES["grafana"]
    [(version, sha256)] = pins["grafana"].items()
    assert version == spec.pin.version
    archive = _archive(dest, "grafana", version)
    assert sha256_of(archive) == sha256
    sums = archive.parent / spec.checksum_file(version, STANDIN_BUILD)
    assert sums.read_text() == f"{sha256}  {archive.name}\n"
    top = f"grafana-{version}"
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [
            top, f"{top}/NOTICE", f"{top}/bin/grafana", f"{top}/lib/grafana_standin.py"
        ]
        tar.extractall(tmp_path, filter="data")
    notice = (tmp_path / top / "NOTICE").read_text()
    assert notice.startswith("NOT Grafana.")
    reported = subprocess.run(
        [str(tmp_path / top / "bin" / "grafana"), "--version"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert parse_version(reported) == version and "lab stand-in" in reported


def test_mirror_pins_are_valid_releases_settings(mirror):
    # Debian's revisions and "+ds" suffixes must not leak into the versions: the lab pins these.
    _, pins = mirror
    for component, versions in pins.items():
        for version, sha256 in versions.items():
            releases = {component: {"version": version, "sha256": sha256}}
            if RELEASE_ARCHIVES[component].needs_build:
                releases[component]["build"] = STANDIN_BUILD
            assert check_data({"releases": releases}, "mirror") == []


def test_prometheus_versions_differ_between_releases(mirror):
    bookworm, trixie = (debian.reported_versions(release) for release in RELEASES)
    assert bookworm["prometheus"] != trixie["prometheus"]
    _, pins = mirror
    assert set(pins["prometheus"]) == {bookworm["prometheus"], trixie["prometheus"]}


def test_archives_have_upstream_layout_owner_and_modes(mirror):
    dest, pins = mirror
    for component, versions in packed(pins).items():
        spec = RELEASE_ARCHIVES[component]
        for version in versions:
            top = spec.top_directory(version)
            prefix = f"{top}/" if top else ""
            with tarfile.open(_archive(dest, component, version)) as tar:
                members = {member.name: member for member in tar.getmembers()}
            files = {"LICENSE", "NOTICE", *spec.binaries}
            directories = {top} if top else set()
            assert set(members) == directories | {f"{prefix}{name}" for name in files}
            if top:
                assert members[top].isdir() and members[top].mode == 0o755
            for name in files:
                member = members[f"{prefix}{name}"]
                assert member.isreg()
                assert member.mode == (0o755 if name in spec.binaries else 0o644), name
            for member in members.values():
                owner = (member.uid, member.gid, member.uname, member.gname)
                assert owner == (0, 0, "root", "root"), member.name


def test_nginx_exporter_archives_are_goreleaser_shaped(mirror):
    dest, pins = mirror
    for version in pins["nginx_exporter"]:
        archive = _archive(dest, "nginx_exporter", version)
        assert archive.name == f"nginx-prometheus-exporter_{version}_linux_amd64.tar.gz"
        assert (archive.parent / f"nginx-prometheus-exporter_{version}_checksums.txt").is_file()
        with tarfile.open(archive) as tar:
            assert "nginx-prometheus-exporter" in tar.getnames()


def test_packed_binaries_report_the_version_they_are_filed_under(mirror, tmp_path):
    dest, pins = mirror
    for component, versions in packed(pins).items():
        spec = RELEASE_ARCHIVES[component]
        for version in versions:
            unpacked = tmp_path / component / version
            with tarfile.open(_archive(dest, component, version)) as tar:
                tar.extractall(unpacked, filter="data")
            for binary in spec.binaries:
                path = unpacked / (spec.top_directory(version) or "") / binary
                result = subprocess.run(
                    [str(path), "--version"], capture_output=True, text=True, check=True
                )
                first_line = (result.stdout or result.stderr).splitlines()[0]
                # Read as a deploy reads it; Debian builds append "+ds1" and the like.
                assert parse_version(first_line) == version, first_line


def test_sha256sums_and_pins_match_the_archives(mirror):
    dest, pins = mirror
    assert json.loads((dest / "pins.json").read_text()) == pins
    for component, versions in packed(pins).items():
        for version, sha256 in versions.items():
            archive = _archive(dest, component, version)
            assert sha256_of(archive) == sha256
            sums = (archive.parent / RELEASE_ARCHIVES[component].checksum_file(version)).read_text()
            assert sums == f"{sha256}  {archive.name}\n"


def test_gzip_header_has_no_name_and_no_time(mirror):
    dest, pins = mirror
    for archive in _all_archives(dest, pins):
        header = archive.read_bytes()[:10]
        flags, mtime = header[3], header[4:8]
        assert flags == 0 and mtime == b"\0\0\0\0", archive.name


def test_building_again_elsewhere_is_byte_identical(mirror, tmp_path):
    dest, pins = mirror
    # One release is enough to show the packing is deterministic, at half the time.
    again = build_mirror(tmp_path, ("bookworm",), progress=lambda message: None)
    for component, versions in again.items():
        for version, sha256 in versions.items():
            assert pins[component][version] == sha256
            first = _archive(dest, component, version).read_bytes()
            assert _archive(tmp_path, component, version).read_bytes() == first


def test_existing_archives_with_the_same_content_are_kept(mirror):
    dest, pins = mirror
    before = {archive: archive.stat().st_ino for archive in _all_archives(dest, pins)}
    messages: list[str] = []
    assert build_mirror(dest, RELEASES, progress=messages.append) == pins
    assert {archive: archive.stat().st_ino for archive in before} == before
    assert not any("packing" in message for message in messages), messages


def test_extracted_binaries_are_reused_without_apt(debian_available):
    for release in RELEASES:
        debian.extract_binaries(release, progress=lambda message: None)
    messages: list[str] = []
    started = time.monotonic()
    for release in RELEASES:
        bin_dir = debian.extract_binaries(release, progress=messages.append)
        names = {path.name for path in bin_dir.iterdir()}
        assert names == {
            binary for name in DEBIAN for binary in RELEASE_ARCHIVES[name].binaries
        }
    assert messages == []
    assert time.monotonic() - started < 5
