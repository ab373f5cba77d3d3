"""The nginx site: redirect and ACME on port 80, TLS and basic auth per location on 443."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fakehost import run_operation

from deploys.proxy import (
    ACME_WEBROOT,
    AUTH_BURST,
    AUTH_RATE_PER_SECOND,
    LOKI_PUSH_FILE,
    TLS_ROOT,
)
from obsstack.catalog import PROXY_LOCATIONS
from obsstack.catalog.server import (
    GRAFANA_ROLE_HEADER,
    GRAFANA_USER_HEADER,
    HTPASSWD_DIR,
    PROXY_PERMISSIONS,
)
from obsstack.render import render_template
from operations.nginx import DefaultSiteState, remove_packaged_default_site

DOMAIN = "obs.lab.test"
# Backend ports a host could have set (prometheus_port, alertmanager_port, loki_port, ...).
PORTS = {"prometheus": 19090, "alertmanager": 19093, "loki": 13100, "grafana": 13000}
# The read-only locations; Grafana's users do what their Grafana role lets them.
READ_ONLY = [location for location in PROXY_LOCATIONS if location.name != "grafana"]
# A user named like map's own parameter, who must stay a user.
ROLES = {"alice": "Editor", "default": "Admin"}


def site(grafana: bool = False, tls_dir: str = f"{TLS_ROOT}/{DOMAIN}") -> str:
    """The site as deploys/proxy.py config_files() renders it (with Grafana, or without as
    in the lab)."""
    context = {
        "domain": DOMAIN,
        "acme_webroot": ACME_WEBROOT,
        "tls_dir": tls_dir,
        "auth_rate": AUTH_RATE_PER_SECOND,
        "auth_burst": AUTH_BURST,
        "loki_push_htpasswd": LOKI_PUSH_FILE,
        **{
            location.name: {
                "realm": f"{DOMAIN} {location.name}",
                "htpasswd": f"{HTPASSWD_DIR}/{location.name}",
                "write_htpasswd": (
                    f"{HTPASSWD_DIR}/{location.write_permission}"
                    if location.write_permission
                    else None
                ),
                "port": PORTS[location.name],
            }
            for location in READ_ONLY
        },
        "grafana": {
            "realm": f"{DOMAIN} grafana",
            "htpasswd": f"{HTPASSWD_DIR}/grafana",
            "port": PORTS["grafana"],
            "roles": ROLES,
            "user_header": GRAFANA_USER_HEADER,
            "role_header": GRAFANA_ROLE_HEADER,
        }
        if grafana
        else None,
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


def servers(text: str, port: int) -> list[str]:
    return [body for body in blocks(text, "server") if f"listen {port}" in body]


def server(text: str, port: int) -> str:
    """The server of ``port`` that serves the domain."""
    (body,) = [body for body in servers(text, port) if f"server_name {DOMAIN};" in body]
    return body


def location(server_body: str, path: str) -> str:
    (body,) = blocks(server_body, f"location {re.escape(path)}")
    return body


def test_every_served_location_is_a_permission_settings_accept():
    names = [location.name for location in PROXY_LOCATIONS]
    assert len(names) == len(set(names))
    permissions = names + [loc.write_permission for loc in PROXY_LOCATIONS if loc.write_permission]
    assert set(permissions) <= set(PROXY_PERMISSIONS)


def test_without_grafana_the_root_is_not_found():
    text = site()
    https = server(text, 443)
    assert f"127.0.0.1:{PORTS['grafana']}" not in https
    assert location(https, "/").strip() == "return 404;"
    assert "$obs_grafana_role" not in text


def test_grafana_gets_the_proxy_login_and_role_and_never_a_clients_headers():
    text = site(grafana=True)
    body = location(server(text, 443), "/")
    assert f"auth_basic_user_file {HTPASSWD_DIR}/grafana;" in body
    assert f"proxy_pass http://127.0.0.1:{PORTS['grafana']};" in body
    # nginx sets these, replacing whatever a client sent under the same names.
    assert f"proxy_set_header {GRAFANA_USER_HEADER} $remote_user;" in body
    assert f"proxy_set_header {GRAFANA_ROLE_HEADER} $obs_grafana_role;" in body
    assert 'proxy_set_header Authorization "";' in body
    assert f"limit_req zone=obs_auth burst={AUTH_BURST} nodelay;" in body
    # Grafana's own metrics are Prometheus' to read, on loopback.
    assert location(server(text, 443), "= /metrics").strip() == "return 403;"
    (roles,) = blocks(text, r"map \$remote_user \$obs_grafana_role")
    lines = [line.strip() for line in roles.strip().splitlines()]
    assert lines == ["default Viewer;", "\\alice Editor;", "\\default Admin;"]


def test_loki_pushes_take_the_hosts_passwords_and_nothing_but_a_post():
    body = location(server(site(), 443), "= /loki/api/v1/push")
    assert f"auth_basic_user_file {LOKI_PUSH_FILE};" in body
    assert f"proxy_pass http://127.0.0.1:{PORTS['loki']};" in body
    assert 'proxy_set_header Authorization "";' in body
    # One tenant: a client's X-Scope-OrgID never reaches Loki.
    assert 'proxy_set_header X-Scope-OrgID "";' in body
    assert f"limit_req zone=obs_auth burst={AUTH_BURST} nodelay;" in body
    assert re.search(r"limit_except POST \{\s*deny all;\s*\}", body)
    # The readers' password file lets nobody push.
    assert f"{HTPASSWD_DIR}/loki;" not in body


def test_loki_queries_may_come_by_post_and_read_nothing_else():
    https = server(site(), 443)
    (queries,) = [
        body
        for body in blocks(https, r"location ~ \^/loki/api/v1/\(query\S*")
    ]
    assert f"auth_basic_user_file {HTPASSWD_DIR}/loki;" in queries
    assert re.search(r"limit_except GET POST \{\s*deny all;\s*\}", queries)
    assert 'proxy_set_header X-Scope-OrgID "";' in location(https, "/loki/")


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Path:
    """Debian 12's nginx binary (the package's, unpacked: nothing is installed)."""
    from obslab.debian import download_packages

    (deb,) = download_packages("bookworm", ["nginx"])
    root = tmp_path_factory.mktemp("nginx")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root / "usr/sbin/nginx"


def certificate(directory: Path) -> Path:
    """A self-signed fullchain.pem (and privkey.pem) in ``directory``, for the domain and
    127.0.0.1."""
    cert = directory / "fullchain.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN},IP:127.0.0.1",
         "-keyout", str(directory / "privkey.pem"), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert


def nginx_config(root: Path, site_text: str) -> Path:
    """An nginx.conf that serves ``site_text`` with every file it writes under ``root``."""
    (root / "site.conf").write_text(site_text)
    temp_paths = "".join(
        f"    {kind}_temp_path {root}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = root / "nginx.conf"
    # Workers as root: they read files under pytest's private temporary directory.
    config.write_text(
        f"user root;\npid {root}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n{temp_paths}    access_log off;\n    include {root}/site.conf;\n}}\n"
    )
    return config


@pytest.mark.parametrize("grafana", [False, True], ids=["without-grafana", "with-grafana"])
def test_real_nginx_accepts_the_site(nginx, tmp_path, grafana):
    """Here through Debian's nginx in test mode (it parses and opens files, binds nothing),
    with and without Grafana; the lab's deploys run nginx -t on the site with Grafana and,
    in the rollback test, without it."""
    certificate(tmp_path)
    config = nginx_config(tmp_path, site(grafana, tls_dir=str(tmp_path)))
    result = subprocess.run(
        [str(nginx), "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("grafana", [False, True])
def test_braces_are_balanced(grafana):
    text = site(grafana)
    assert text.count("{") == text.count("}")


def test_port_80_answers_acme_challenges_then_redirects_to_the_domain_only():
    http = server(site(), 80)
    acme = http.index("location ^~ /.well-known/acme-challenge/")
    redirect = http.index(f"return 301 https://{DOMAIN}$request_uri;")
    assert acme < redirect
    assert "$host" not in http, "a redirect to the Host header is an open redirect"
    assert f"root {ACME_WEBROOT};" in blocks(http, r"location \^~ /\.well-known/acme-challenge/")[0]
    assert "listen [::]:80;" in http


@pytest.mark.parametrize("port", [80, 443])
def test_names_other_than_the_domain_get_no_answer(port):
    text = site()
    first = servers(text, port)[0]
    assert "server_name" not in first, "the first server of a port is nginx's default"
    assert first.strip().endswith("return 444;")


@pytest.mark.parametrize("item", READ_ONLY, ids=lambda item: item.name)
def test_each_location_is_read_only_behind_basic_auth_and_rate_limited(item):
    body = location(server(site(), 443), item.path)
    assert f"auth_basic_user_file {HTPASSWD_DIR}/{item.name};" in body
    assert f'auth_basic "{DOMAIN} {item.name}";' in body
    assert f"proxy_pass http://127.0.0.1:{PORTS[item.name]};" in body
    assert 'proxy_set_header Authorization "";' in body
    assert f"limit_req zone=obs_auth burst={AUTH_BURST} nodelay;" in body
    assert re.search(r"limit_except GET \{\s*deny all;\s*\}", body)


def test_authentication_attempts_have_a_rate_per_client():
    text = site()
    zone = f"limit_req_zone $binary_remote_addr zone=obs_auth:10m rate={AUTH_RATE_PER_SECOND}r/s;"
    assert zone in text
    assert "limit_req_status 429;" in server(text, 443)
    # Uptime checks are not throttled.
    assert "limit_req" not in location(server(text, 443), "= /healthz")


@pytest.mark.parametrize(
    "path", ["/prometheus/debug/", "/prometheus/api/v1/admin/", "/prometheus/-/quit",
             "/prometheus/-/reload", "/alertmanager/debug/", "/alertmanager/-/reload",
             "/loki/api/v1/delete"]
)
def test_profiling_admin_and_lifecycle_paths_are_closed(path):
    body = location(server(site(), 443), f"^~ {path}")
    assert body.strip() == "return 403;"


def test_prometheus_queries_may_come_by_post_and_read_nothing_else():
    https = server(site(), 443)
    (query,) = blocks(https, r"location ~ \^/prometheus/api/v1/\(query\S*")
    assert re.search(r"limit_except GET POST \{\s*deny all;\s*\}", query)


def test_writing_silences_and_alerts_needs_the_write_permission():
    https = server(site(), 443)
    (writes,) = blocks(https, r"location ~ \^/alertmanager/api/v2/\(silences\S*")
    assert f"auth_basic_user_file {HTPASSWD_DIR}/alertmanager;" in writes
    (limit,) = blocks(writes, "limit_except GET")
    assert f"auth_basic_user_file {HTPASSWD_DIR}/alertmanager_write;" in limit
    assert "deny" not in limit


def test_tls_allows_only_tls_1_2_and_1_3_with_the_certificate_from_the_tls_dir():
    https = server(site(), 443)
    assert re.findall(r"^\s*ssl_protocols .*$", https, re.MULTILINE) == [
        "    ssl_protocols TLSv1.2 TLSv1.3;"
    ]
    assert f"ssl_certificate {TLS_ROOT}/{DOMAIN}/fullchain.pem;" in https
    assert f"ssl_certificate_key {TLS_ROOT}/{DOMAIN}/privkey.pem;" in https
    assert "listen 443 ssl;" in https and "listen [::]:443 ssl;" in https


@pytest.mark.parametrize(
    ("answer", "state"), [("absent", "absent"), ("packaged", "packaged"), ("changed", "changed")]
)
def test_the_default_site_is_removed_only_while_it_is_debians_own(answer, state):
    run = run_operation(
        remove_packaged_default_site,
        {"readlink -f": answer},
        name="default site",
        link="/etc/nginx/sites-enabled/default",
    )
    assert run.succeeded
    removed = "rm -f /etc/nginx/sites-enabled/default" in run.commands
    assert removed is (state == "packaged")


def test_an_answer_the_default_site_fact_does_not_give_fails_it():
    """Never read as "not Debian's": the lab runs the fact on Debian's nginx for real."""
    with pytest.raises(Exception, match="unexpected answer"):
        DefaultSiteState().process(["maybe"])
    assert DefaultSiteState().process(["packaged"]) == "packaged"
