"""install_archive: verified before upload, skipped when active, a link switch if on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehost import run_operation
from release_archives import mirror_archive

from operations.archive import install_archive

VERSION = "1.9.0"
VERSION_DIR = f"/opt/node_exporter/{VERSION}"


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, str]:
    """A local artifact source holding one release-shaped node_exporter archive."""
    script = f"#!/bin/sh\necho 'node_exporter, version {VERSION} (branch: x)'\n".encode()
    stem = f"node_exporter-{VERSION}.linux-amd64"
    return mirror_archive(
        tmp_path, "node_exporter", VERSION, f"{stem}.tar.gz", {f"{stem}/node_exporter": script}
    )


def install(tmp_path: Path, responses: dict, source: Path, sha256: str):
    return run_operation(
        install_archive,
        responses,
        name="install",
        component="node_exporter",
        version=VERSION,
        sha256=sha256,
        source=str(source),
        cache_dir=str(tmp_path / "cache"),
    )


def link_line(target: str) -> str:
    return (
        "user=root group=root mode=lrwxrwxrwx atime=0 mtime=0 ctime=0 size=1 "
        f"'/usr/local/bin/node_exporter' -> '{target}'"
    )


def test_fresh_host_gets_upload_verify_unpack_version_check_and_link(tmp_path, mirror):
    source, sha256 = mirror
    run = install(tmp_path, {}, source, sha256)
    assert run.succeeded
    joined = "\n".join(run.commands)
    assert f"echo {sha256}'  '" in joined and "sha256sum --check" in joined
    assert f"mv -T {VERSION_DIR}.partial {VERSION_DIR}" in joined
    assert f"{VERSION_DIR}/node_exporter --version" in joined
    assert f"ln -sfn {VERSION_DIR}/node_exporter /usr/local/bin/node_exporter.obs-new" in joined
    assert (tmp_path / "cache" / "node_exporter" / VERSION).is_dir()


def test_active_pinned_version_does_nothing_and_downloads_nothing(tmp_path):
    responses = {
        "/usr/local/bin/node_exporter --version": f"node_exporter, version {VERSION}+ds1 (x)",
        "stat -c": link_line(f"{VERSION_DIR}/node_exporter"),
    }
    # The source does not exist: any attempt to fetch would fail the operation.
    run = install(tmp_path, responses, tmp_path / "no-such-mirror", "0" * 64)
    assert run.succeeded
    assert not any("sha256sum --check" in c or "ln -sfn" in c for c in run.commands)
    assert not (tmp_path / "cache").exists()


def test_version_already_on_disk_is_a_link_switch_without_download(tmp_path):
    responses = {
        "/usr/local/bin/node_exporter --version": "node_exporter, version 1.5.0 (x)",
        f"{VERSION_DIR}/node_exporter --version": f"node_exporter, version {VERSION} (x)",
        "stat -c": link_line("/opt/node_exporter/1.5.0/node_exporter"),
    }
    run = install(tmp_path, responses, tmp_path / "no-such-mirror", "0" * 64)
    assert run.succeeded
    assert any("ln -sfn" in c for c in run.commands)
    assert not any("sha256sum --check" in c for c in run.commands)


def test_checksum_mismatch_fails_before_any_change(tmp_path, mirror):
    source, _ = mirror
    run = install(tmp_path, {}, source, "f" * 64)
    assert not run.succeeded
    # Only fact lookups ran: no directory, upload, unpack or link command.
    assert all(" --version" in c or "stat -c" in c for c in run.commands), run.commands
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))


GRAFANA_VERSION, GRAFANA_BUILD = "13.2.3", "36482603486"
GRAFANA_DIR = f"/opt/grafana/{GRAFANA_VERSION}"


def test_a_program_tree_is_unpacked_whole_and_its_home_linked(tmp_path):
    """Grafana's tarball: a top directory whose name varies, bin/grafana beside its assets."""
    script = f"#!/bin/sh\necho 'grafana version {GRAFANA_VERSION}'\n".encode()
    source, sha256 = mirror_archive(
        tmp_path,
        "grafana",
        GRAFANA_VERSION,
        f"grafana_{GRAFANA_VERSION}_{GRAFANA_BUILD}_linux_amd64.tar.gz",
        {"grafana-v13.2.3/bin/grafana": script, "grafana-v13.2.3/conf/defaults.ini": b"[x]\n"},
    )
    run = run_operation(
        install_archive,
        {},
        name="install",
        component="grafana",
        version=GRAFANA_VERSION,
        sha256=sha256,
        build=GRAFANA_BUILD,
        source=str(source),
        cache_dir=str(tmp_path / "cache"),
    )
    assert run.succeeded
    joined = "\n".join(run.commands)
    # Whatever the top directory is called, it is stripped; nothing is renamed.
    assert "--no-same-owner --strip-components=1 && chown -R root:root" in joined
    assert f"{GRAFANA_DIR}/bin/grafana --version" in joined
    assert f"ln -sfn {GRAFANA_DIR}/bin/grafana /usr/local/bin/grafana.obs-new" in joined
    assert f"ln -sfn {GRAFANA_DIR} /opt/grafana/current.obs-new" in joined
