"""What a login lets a user do through the proxy, on the real nginx, Prometheus and
Alertmanager: read by default, write (silences, alerts) only with ``alertmanager_write``,
never profiling, admin or lifecycle paths; a stream of bad logins is throttled; names other
than the domain get nothing; a default site the user changed stays.

The lab has two proxy users (group_data/lab.py): ``admin`` may write, ``viewer`` may not.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from conftest import (
    OBS_NAME,
    PROXY_USER,
    assert_unchanged,
    deploy,
    on_host,
    pebble_root_file,
    proxy_password,
    server_get,
)
from waiting import wait_until

from obslab import machines
from obslab.browser import basic_auth

pytestmark = pytest.mark.lab

DOMAIN = machines.LAB_DOMAIN
VIEWER = "viewer"


def viewer() -> tuple[str, str]:
    return (VIEWER, proxy_password(VIEWER))


def admin() -> tuple[str, str]:
    return (PROXY_USER, proxy_password())


def server(method: str, path: str, auth: tuple[str, str] | None, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"https://{DOMAIN}{path}",
        auth=auth,
        verify=pebble_root_file(),
        timeout=10,
        **kwargs,
    )


def raw_get(path: str, auth: tuple[str, str]) -> int:
    """The status of GET ``path`` sent exactly as written."""
    connection = http.client.HTTPSConnection(
        DOMAIN, context=ssl.create_default_context(cafile=pebble_root_file()), timeout=10
    )
    try:
        connection.request("GET", path, headers=basic_auth(*auth))
        return connection.getresponse().status
    finally:
        connection.close()


def silence(comment: str) -> dict:
    now = datetime.now(UTC)
    return {
        "matchers": [{"name": "alertname", "value": ".+", "isRegex": True, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
        "createdBy": "lab test",
        "comment": comment,
    }


def test_a_reader_sees_silences_but_cannot_silence_all_paging(deployed):
    path = "/alertmanager/api/v2/silences"
    assert server("GET", path, viewer()).status_code == 200
    refused = server("POST", path, viewer(), json=silence("a reader silencing everything"))
    assert refused.status_code == 401
    listed = server("GET", path, admin()).json()
    assert not [s for s in listed if s["comment"] == "a reader silencing everything"]


def test_a_reader_cannot_inject_alerts(deployed):
    alert = [{"labels": {"alertname": "Injected", "severity": "critical"}}]
    assert server("POST", "/alertmanager/api/v2/alerts", viewer(), json=alert).status_code == 401
    assert server("GET", "/alertmanager/api/v2/alerts", viewer()).status_code == 200


def test_a_writer_creates_and_expires_a_silence(deployed):
    created = server("POST", "/alertmanager/api/v2/silences", admin(), json=silence("writer"))
    assert created.status_code == 200, created.text
    silence_id = created.json()["silenceID"]
    # The reader may not expire it; the writer may.
    one = f"/alertmanager/api/v2/silence/{silence_id}"
    assert server("DELETE", one, viewer()).status_code == 401
    expired = server("DELETE", one, admin())
    assert expired.status_code == 200
    state = server("GET", f"/alertmanager/api/v2/silence/{silence_id}", viewer()).json()
    assert state["status"]["state"] == "expired"


def test_prometheus_is_read_only_through_the_proxy(deployed):
    query = {"query": "up"}
    assert server("GET", "/prometheus/api/v1/query", viewer(), params=query).status_code == 200
    assert server("POST", "/prometheus/api/v1/query", viewer(), data=query).status_code == 200
    for method, path in (
        ("POST", "/prometheus/api/v1/write"),
        ("POST", "/prometheus/-/reload"),
        ("PUT", "/prometheus/-/quit"),
        ("POST", "/prometheus/api/v1/admin/tsdb/delete_series?match[]=up"),
    ):
        assert server(method, path, admin()).status_code == 403, (method, path)


def test_profiling_is_closed_at_the_proxy_though_prometheus_serves_it(deployed):
    """Prometheus serves pprof (always on): only the proxy keeps it from users."""
    path = "/prometheus/debug/pprof/"
    direct = on_host(
        OBS_NAME, f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:9090{path}"
    )
    assert direct.stdout == "200"
    assert server("GET", path, admin()).status_code == 403


@pytest.mark.parametrize("path", ["/prometheus/debug/pprof/", "/alertmanager/debug/pprof/"])
def test_profiling_paths_are_closed_at_the_proxy(deployed, path):
    """Closed before any backend is asked (Debian's Alertmanager build answers 404 for
    its pprof path; upstream's serves it under the route prefix)."""
    assert server("GET", path, admin()).status_code == 403
    # An encoded path reaches the same place in nginx's eyes, and is closed too (sent
    # as is: requests would decode it first).
    assert raw_get(path.replace("debug", "%64ebug"), admin()) == 403


def test_a_burst_of_bad_logins_is_throttled_while_others_get_in(deployed):
    def bad_login(_: int) -> int:
        return server("GET", "/prometheus/-/ready", (PROXY_USER, "wrong")).status_code

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(bad_login, range(80)))
    assert 429 in answers, answers
    assert set(answers) <= {401, 429}
    # A good login from another client is not slowed down by it.
    password_config = f'user = "{PROXY_USER}:{proxy_password()}"\n'
    from_outsider = on_host(
        "outsider",
        "curl -sS -o /dev/null -w '%{http_code}' -K - --resolve "
        f"{DOMAIN}:443:{machines.lab_host(OBS_NAME).address} --insecure https://{DOMAIN}/prometheus/-/ready",
        stdin=password_config,
    )
    assert from_outsider.stdout == "200", from_outsider.stderr
    # The controller's own bucket drains at the configured rate.
    wait_until(
        lambda: server_get("/prometheus/-/ready").status_code == 200,
        timeout=30,
        what="the controller to be let in again",
    )


def handshake_then_read(server_name: str | None) -> bytes:
    """Whatever obs sends after a TLS handshake with ``server_name`` and a request for
    another name than the domain."""
    context = ssl.create_default_context(cafile=pebble_root_file())
    context.check_hostname = False
    with (
        socket.create_connection((machines.lab_host(OBS_NAME).address, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        tls.sendall(b"GET /prometheus/-/ready HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        return tls.recv(4096)


def test_other_names_on_https_get_no_content(deployed):
    assert handshake_then_read("evil.example") == b""
    assert handshake_then_read(DOMAIN) == b""  # our certificate, but another Host
    assert server_get("/prometheus/-/ready").status_code == 200  # control


CUSTOM_DEFAULT = """\
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root /var/www/html;
    server_name _;
    location / { return 200 "the user's own default site\\n"; }
}
"""


def test_a_default_site_the_user_changed_is_left_as_it_is(deployed, hosts):
    obs = hosts[OBS_NAME]
    link = "/etc/nginx/sites-enabled/default"
    assert not obs.file(link).exists, "Debian's own default site is removed"
    obs.check_output("cp /etc/nginx/sites-available/default /tmp/packaged-default")
    on_host(OBS_NAME, "cat > /etc/nginx/sites-available/default", stdin=CUSTOM_DEFAULT)
    obs.check_output(f"ln -s /etc/nginx/sites-available/default {link} && systemctl reload nginx")
    try:
        result = deploy()
        assert_unchanged(result)
        assert obs.file(link).is_symlink
        answer = requests.get(f"http://{machines.lab_host(OBS_NAME).address}/", timeout=10)
        assert answer.text == "the user's own default site\n"
    finally:
        obs.check_output(
            f"rm -f {link} && cp /tmp/packaged-default /etc/nginx/sites-available/default"
            " && systemctl reload nginx"
        )
