"""Grafana's one login through a real nginx: the site with Grafana, served by Debian's nginx
on the controller's loopback in front of a stand-in backend that echoes the headers it gets.

Grafana itself cannot be obtained here, so the backend is no Grafana: it shows what Grafana
would be handed. What this proves is nginx's side of the auth proxy: no login, no request;
the user and role headers are nginx's, whatever a client sends; /metrics stays closed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from test_proxy_site import (  # noqa: F401 (nginx: a fixture)
    DOMAIN,
    PORTS,
    ROLES,
    certificate,
    nginx,
    nginx_config,
    site,
)

from obsstack.catalog.server import GRAFANA_ROLE_HEADER, GRAFANA_USER_HEADER, HTPASSWD_DIR
from obsstack.htpasswd import TOKEN_COST, htpasswd_file

PASSWORDS = {"alice": "alice-password-1", "default": "default-password-2", "bob": "bob-pw-3"}


class EchoHeaders(BaseHTTPRequestHandler):
    """Answers every request with its path and headers (every value of each), as JSON."""

    def do_GET(self) -> None:
        headers = {name.lower(): self.headers.get_all(name) for name in self.headers}
        body = json.dumps({"path": self.path, "headers": headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(nginx, tmp_path_factory) -> Iterator[tuple[str, Path]]:  # noqa: F811
    """``(base URL, CA file)`` of the site with Grafana, served by a real nginx."""
    backend = ThreadingHTTPServer(("127.0.0.1", 0), EchoHeaders)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("proxy")
    cert = certificate(root)
    (root / "htpasswd").mkdir()
    (root / "htpasswd" / "grafana").write_text(htpasswd_file(PASSWORDS, DOMAIN, TOKEN_COST))
    port = free_port()
    text = site(grafana=True, tls_dir=str(root))
    text = text.replace(f"127.0.0.1:{PORTS['grafana']}", f"127.0.0.1:{backend.server_port}")
    text = text.replace(f"{HTPASSWD_DIR}/", f"{root}/htpasswd/")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    text = text.replace("listen [::]:443 ssl;\n", "").replace("listen [::]:80;\n", "")
    config = nginx_config(root, text)
    server = subprocess.Popen(
        [str(nginx), "-e", "stderr", "-p", str(root), "-c", str(config), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not healthz(base, cert):
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not answer /healthz within 20s"
            time.sleep(0.1)
        yield base, cert
    finally:
        server.terminate()
        server.wait(timeout=10)
        backend.shutdown()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthz(base: str, cert: Path) -> bool:
    try:
        return get(base, cert, "/healthz").status_code == 200
    except requests.ConnectionError:
        return False


def get(base: str, cert: Path, path: str, auth=None, headers=None) -> requests.Response:
    return requests.get(
        f"{base}{path}",
        auth=auth,
        headers={"Host": DOMAIN, **(headers or {})},
        verify=str(cert),
        timeout=10,
    )


def test_no_login_no_grafana(proxy):
    base, cert = proxy
    assert get(base, cert, "/").status_code == 401
    assert get(base, cert, "/", auth=("alice", "wrong")).status_code == 401
    # A forged user header without a login gets nowhere either.
    assert get(base, cert, "/", headers={GRAFANA_USER_HEADER: "admin"}).status_code == 401


@pytest.mark.parametrize(("user", "role"), [("alice", "Editor"), ("default", "Admin"),
                                            ("bob", "Viewer")])
def test_grafana_is_handed_the_login_and_its_role_never_a_clients_headers(proxy, user, role):
    base, cert = proxy
    forged = {GRAFANA_USER_HEADER: "admin", GRAFANA_ROLE_HEADER: "Admin"}
    response = get(base, cert, "/d/fleet?x=1", auth=(user, PASSWORDS[user]), headers=forged)
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert response.json()["path"] == "/d/fleet?x=1"
    assert seen[GRAFANA_USER_HEADER.lower()] == [user]
    assert seen[GRAFANA_ROLE_HEADER.lower()] == [role]
    # The proxy's credentials are not Grafana's.
    assert "authorization" not in seen


def test_grafanas_metrics_stay_closed(proxy):
    base, cert = proxy
    assert get(base, cert, "/metrics", auth=("alice", PASSWORDS["alice"])).status_code == 403
