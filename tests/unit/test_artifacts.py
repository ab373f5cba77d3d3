"""Archives are fetched once into the cache and verified before anything else sees them."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import pytest

from obsstack.artifacts import ArtifactError, archive_location, fetch_archive


@pytest.fixture
def mirror(tmp_path):
    archive = tmp_path / "mirror" / "prometheus" / "2.53.3" / "prometheus-2.53.3.linux-amd64.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"release bytes")
    return tmp_path / "mirror", hashlib.sha256(b"release bytes").hexdigest()


@pytest.fixture
def http_mirror(mirror):
    directory, sha256 = mirror
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", sha256, server
    server.shutdown()


def test_github_is_the_default_upstream_layout():
    assert archive_location("node_exporter", "1.12.1", "github") == (
        "https://github.com/prometheus/node_exporter/releases/download/v1.12.1/"
        "node_exporter-1.12.1.linux-amd64.tar.gz"
    )


def test_local_directory_source(tmp_path, mirror):
    source, sha256 = mirror
    cached = fetch_archive("prometheus", "2.53.3", sha256, str(source), tmp_path / "cache")
    assert cached.read_bytes() == b"release bytes"


def test_http_mirror_is_downloaded_once(tmp_path, http_mirror):
    url, sha256, server = http_mirror
    first = fetch_archive("prometheus", "2.53.3", sha256, url, tmp_path / "cache")
    server.shutdown()  # a second fetch must come from the cache
    second = fetch_archive("prometheus", "2.53.3", sha256, url, tmp_path / "cache")
    assert first == second and second.read_bytes() == b"release bytes"


def test_mismatch_is_refused_and_the_bad_file_discarded(tmp_path, mirror):
    source, _ = mirror
    with pytest.raises(ArtifactError, match="sha256 mismatch") as error:
        fetch_archive("prometheus", "2.53.3", "0" * 64, str(source), tmp_path / "cache")
    assert "nothing was uploaded" in str(error.value)
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))


def test_missing_archive_names_where_it_looked(tmp_path, http_mirror):
    url, _, _ = http_mirror
    with pytest.raises(ArtifactError, match=r"cannot download .*9\.9\.9"):
        fetch_archive("prometheus", "9.9.9", "0" * 64, url, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))
