"""Exporters' version lines, read alike on controller and hosts; archives without top directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fakehost import run_operation
from prerequisites import require
from release_archives import mirror_archive

from operations.archive import install_archive
from operations.facts import parse_version, version_line_regex

# First lines of `--version` of the binaries in Debian 12 and 13's packages, as captured.
DEBIAN_VERSION_LINES = {
    # prometheus-nginx-exporter 0.11.0-1+b4 (bookworm): the pre-1.0 form, on stdout, with
    # Debian's package version in place of upstream's.
    "NGINX Prometheus Exporter version=0.11.0-1+b4 commit= date=, dirty=false, "
    "arch=linux/amd64, go=go1.19.8": "0.11.0",
    # 1.4.1-1+b5 (trixie): the Prometheus form (on stderr), naming itself nginx_exporter.
    "nginx_exporter, version 1.4.1 (branch: debian/sid, revision: 1.4.1-1+b5)": "1.4.1",
    "mysqld_exporter, version 0.14.0 (branch: debian/sid, revision: 0.14.0-3+b5)": "0.14.0",
    "mysqld_exporter, version 0.17.2 (branch: debian/sid, revision: 0.17.2-1+b4)": "0.17.2",
    "blackbox_exporter, version 0.23.0 (branch: debian/sid, revision: 0.23.0-4+b4)": "0.23.0",
    "blackbox_exporter, version 0.26.0 (branch: debian/sid, revision: 0.26.0-1)": "0.26.0",
    "prometheus, version 2.53.3+ds1 (branch: debian/sid, revision: 2.53.3+ds1-2)": "2.53.3",
}
NGINX_0 = next(line for line in DEBIAN_VERSION_LINES if line.startswith("NGINX"))
VERSION = "0.11.0"


@pytest.mark.parametrize(("line", "version"), DEBIAN_VERSION_LINES.items())
def test_debian_version_lines_give_the_upstream_version(line, version):
    assert parse_version(line) == version


@pytest.mark.parametrize(("line", "version"), DEBIAN_VERSION_LINES.items())
def test_the_check_on_hosts_accepts_exactly_what_the_parser_reads(line, version):
    # A pin the host check accepts but the fact reads differently would reinstall forever.
    for candidate in (version, f"{version}-1", f"{version}-rc.1", "9.9.9"):
        grep = subprocess.run(
            ["grep", "-Eq", version_line_regex(candidate)], input=line, text=True, check=False
        )
        assert (grep.returncode == 0) == (candidate == version), (line, candidate)


@pytest.fixture
def nginx_mirror(tmp_path: Path) -> tuple[Path, str]:
    """A local artifact source with a goreleaser-shaped nginx-prometheus-exporter archive."""
    return mirror_archive(
        tmp_path,
        "nginx_exporter",
        VERSION,
        f"nginx-prometheus-exporter_{VERSION}_linux_amd64.tar.gz",
        {
            "LICENSE": b"Apache License\n",
            "nginx-prometheus-exporter": f"#!/bin/sh\necho '{NGINX_0}'\n".encode(),
        },
    )


def install(tmp_path: Path, source: Path, sha256: str):
    return run_operation(
        install_archive,
        {},
        name="install",
        component="nginx_exporter",
        version=VERSION,
        sha256=sha256,
        source=str(source),
        cache_dir=str(tmp_path / "cache"),
        install_root=str(tmp_path / "opt"),
        bin_dir=str(tmp_path / "bin"),
    )


def test_an_archive_without_top_directory_is_unpacked_whole(tmp_path, nginx_mirror):
    run = install(tmp_path, *nginx_mirror)
    assert run.succeeded
    [unpack] = [command for command in run.commands if "tar -xzf" in command]
    assert "--strip-components" not in unpack
    version_dir = tmp_path / "opt" / "nginx_exporter" / VERSION
    assert any(
        f"ln -sfn {version_dir}/nginx-prometheus-exporter "
        f"{tmp_path}/bin/nginx-prometheus-exporter.obs-new" in command
        for command in run.commands
    )


def test_the_install_commands_unpack_check_and_link_for_real(tmp_path, nginx_mirror):
    require(os.geteuid() == 0, "the install commands give the files to root")
    source, sha256 = nginx_mirror
    run = install(tmp_path, source, sha256)
    # Run what the host would run: from the first command that changes anything, with the
    # upload (a file transfer, not a command) done by hand.
    first = next(i for i, command in enumerate(run.commands) if command.startswith("install -d"))
    archive = next(source.rglob("*.tar.gz"))
    (tmp_path / "bin").mkdir()
    for command in run.commands[first:]:
        subprocess.run(["sh", "-c", command], check=True)
        if command.startswith("install -d"):
            shutil.copy(archive, tmp_path / "opt" / "nginx_exporter" / f".{archive.name}")
    version_dir = tmp_path / "opt" / "nginx_exporter" / VERSION
    assert sorted(path.name for path in version_dir.iterdir()) == [
        "LICENSE", "nginx-prometheus-exporter",
    ]
    link = tmp_path / "bin" / "nginx-prometheus-exporter"
    assert os.readlink(link) == str(version_dir / "nginx-prometheus-exporter")
