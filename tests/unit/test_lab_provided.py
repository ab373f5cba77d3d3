"""The files the lab gives its hosts come from checked sources only: the shared web UI
asset must match its SHA256SUMS line (obslab/provided.py)."""

from __future__ import annotations

import hashlib

import pytest

from obslab.grafana import SharedReleaseError
from obslab.provided import WEB_UI_VERSION, web_ui_archive


def shared_ui(tmp_path, content: bytes, listed: bytes):
    folder = tmp_path / "prometheus-web-ui" / WEB_UI_VERSION
    folder.mkdir(parents=True)
    archive = folder / f"prometheus-web-ui-{WEB_UI_VERSION}.tar.gz"
    archive.write_bytes(content)
    digest = hashlib.sha256(listed).hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  {archive.name}\n")
    return archive


def test_an_asset_matching_its_sums_is_used(tmp_path):
    archive = shared_ui(tmp_path, b"the ui", b"the ui")
    assert web_ui_archive(tmp_path) == archive


def test_a_changed_or_missing_asset_is_refused(tmp_path):
    archive = shared_ui(tmp_path, b"tampered", b"the ui")
    with pytest.raises(SharedReleaseError, match="does not match"):
        web_ui_archive(tmp_path)
    archive.unlink()
    with pytest.raises(SharedReleaseError, match="is missing"):
        web_ui_archive(tmp_path)
