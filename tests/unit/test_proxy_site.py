"""The nginx site: redirect and ACME on port 80, TLS and basic auth per location on 443."""

from __future__ import annotations

import re

import pytest

from deploys.proxy import ACME_WEBROOT, HTPASSWD_DIR, LOCATIONS, TLS_ROOT
from obsstack.render import render_template
from obsstack.settings import PROXY_LOCATIONS

DOMAIN = "obs.lab.test"
# Backend ports a host could have set (prometheus_port, alertmanager_port), others fixed.
PORTS = {"prometheus": 19090, "alertmanager": 19093}


def site(websocket: bool | None = None) -> str:
    """The site as deploys/proxy.py component() renders it; ``websocket`` overrides all."""
    locations = [
        {
            "path": location.path,
            "realm": f"{DOMAIN} {location.name}",
            "htpasswd": f"{HTPASSWD_DIR}/{location.name}",
            "port": PORTS.get(location.name, location.port),
            "websocket": location.websocket if websocket is None else websocket,
        }
        for location in LOCATIONS
    ]
    context = {
        "domain": DOMAIN,
        "acme_webroot": ACME_WEBROOT,
        "tls_dir": f"{TLS_ROOT}/{DOMAIN}",
        "locations": locations,
    }
    return render_template("nginx/site.conf.j2", context)


def blocks(text: str, opening: str) -> list[str]:
    """The bodies of the brace blocks whose opening line matches ``opening`` (a regex)."""
    found = []
    for match in re.finditer(rf"^\s*{opening}\s*\{{\n", text, re.MULTILINE):
        depth, position = 1, match.end()
        while depth:
            character = text[position]
            depth += {"{": 1, "}": -1}.get(character, 0)
            position += 1
        found.append(text[match.end() : position - 1])
    return found


def server(text: str, port: int) -> str:
    (body,) = [body for body in blocks(text, "server") if f"listen {port}" in body]
    return body


def location(server_body: str, path: str) -> str:
    (body,) = blocks(server_body, f"location {re.escape(path)}")
    return body


def test_proxy_locations_are_the_locations_settings_accept():
    names = [location.name for location in LOCATIONS]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(PROXY_LOCATIONS)


def test_location_paths_are_distinct_and_slash_terminated():
    paths = [location.path for location in LOCATIONS]
    assert len(paths) == len(set(paths))
    assert all(path.startswith("/") and path.endswith("/") for path in paths)


def test_braces_are_balanced():
    text = site()
    assert text.count("{") == text.count("}")


def test_port_80_answers_acme_challenges_before_redirecting_to_https():
    http = server(site(), 80)
    acme = http.index("location ^~ /.well-known/acme-challenge/")
    redirect = http.index("return 301 https://$host$request_uri;")
    assert acme < redirect
    assert f"root {ACME_WEBROOT};" in blocks(http, r"location \^~ /\.well-known/acme-challenge/")[0]
    assert "listen [::]:80;" in http
    assert f"server_name {DOMAIN};" in http


def test_port_443_has_one_location_block_per_location():
    https = server(site(), 443)
    assert len(blocks(https, r"location \S+")) == len(LOCATIONS)


@pytest.mark.parametrize("name", [location.name for location in LOCATIONS])
def test_each_location_is_behind_basic_auth_and_proxied_to_its_local_port(name):
    item = next(location for location in LOCATIONS if location.name == name)
    body = location(server(site(), 443), item.path)
    assert f"auth_basic_user_file {HTPASSWD_DIR}/{name};" in body
    assert f'auth_basic "{DOMAIN} {name}";' in body
    assert f"proxy_pass http://127.0.0.1:{PORTS.get(name, item.port)};" in body
    assert 'proxy_set_header Authorization "";' in body


def test_tls_allows_only_tls_1_2_and_1_3_with_the_certificate_from_the_tls_dir():
    https = server(site(), 443)
    assert re.findall(r"^\s*ssl_protocols .*$", https, re.MULTILINE) == [
        "    ssl_protocols TLSv1.2 TLSv1.3;"
    ]
    assert f"ssl_certificate {TLS_ROOT}/{DOMAIN}/fullchain.pem;" in https
    assert f"ssl_certificate_key {TLS_ROOT}/{DOMAIN}/privkey.pem;" in https
    assert "listen 443 ssl;" in https and "listen [::]:443 ssl;" in https


def test_websocket_map_and_upgrade_headers_only_where_a_location_has_websocket():
    text = site()
    https = server(text, 443)
    assert len(blocks(text, r"map \$http_upgrade \$obs_connection_upgrade")) == 1
    for item in LOCATIONS:
        body = location(https, item.path)
        assert ("proxy_set_header Upgrade $http_upgrade;" in body) is item.websocket
        assert ("$obs_connection_upgrade" in body) is item.websocket


def test_no_websocket_location_means_no_map_and_no_reference_to_its_variable():
    text = site(websocket=False)
    assert "map $http_upgrade" not in text
    assert "$obs_connection_upgrade" not in text
    assert "proxy_set_header Upgrade" not in text
