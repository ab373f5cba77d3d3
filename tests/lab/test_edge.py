"""The observability server's edge: HTTPS from a real ACME CA, basic auth, firewall.

certbot on obs obtains its certificate from pebble, a real ACME server running on the
controller (Debian's package), over HTTP-01 through nginx. Everything is checked from the
controller and from ``outsider``, a lab host in no group, as a stranger on the internet.

Debian's Prometheus build (the lab's mirror repackages it) ships without the web UI's
files, so its UI pages answer 500 even directly; the checks use its API and /-/ready.
"""

from __future__ import annotations

import secrets as token_source
import socket
import ssl
import warnings

import pytest
import requests
from conftest import (
    OBS_NAME,
    PROXY_USER,
    address,
    curl_from_outsider,
    deploy,
    on_host,
    pebble_root_file,
    proxy_password,
    server_get,
    tcp_connects,
    watching_argv,
)
from cryptography import x509
from waiting import wait_until

from obslab import machines, services
from obsstack import secrets
from obsstack.catalog.server import PROXY_PASSWORD

pytestmark = pytest.mark.lab

OUTSIDER = "outsider"
PROTECTED = (
    "/prometheus/-/ready",
    "/alertmanager/-/ready",
    "/alertmanager/",
    "/loki/api/v1/labels",
    "/",
)
DOMAIN = machines.LAB_DOMAIN


def served_certificate(**context_options) -> x509.Certificate:
    """The certificate obs serves for the lab domain, its chain verified against pebble's
    root and its name against the domain (the handshake fails otherwise)."""
    context = ssl.create_default_context(cafile=pebble_root_file())
    for option, value in context_options.items():
        setattr(context, option, value)
    with (
        socket.create_connection((DOMAIN, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_certificate_comes_from_the_acme_ca_for_the_domain(deployed):
    certificate = served_certificate()
    issuer = certificate.issuer.rfc4514_string()
    assert issuer.startswith("CN=Pebble Intermediate CA"), issuer
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == [DOMAIN]


def test_tls_below_1_2_is_refused(deployed):
    served_certificate(minimum_version=ssl.TLSVersion.TLSv1_2)  # control: 1.2 works
    # The client offers only TLS 1.1 (deprecated, hence allowed explicitly at security
    # level 0), so the refusal is the server's protocol_version alert.
    context = ssl.create_default_context(cafile=pebble_root_file())
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        pytest.raises(ssl.SSLError, match="TLSV1_ALERT_PROTOCOL_VERSION"),
        socket.create_connection((DOMAIN, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN),
    ):
        pass


@pytest.mark.parametrize("path", PROTECTED)
def test_locations_need_the_right_credentials(deployed, path):
    assert server_get(path).status_code == 200  # admin's credentials
    unauthenticated = server_get(path, auth=None)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert server_get(path, auth=(PROXY_USER, "not-the-password")).status_code == 401
    assert server_get(path, auth=("nobody", proxy_password())).status_code == 401


def test_prometheus_root_needs_credentials_then_redirects_within_its_prefix(deployed):
    assert server_get("/prometheus/", auth=None).status_code == 401
    assert server_get("/prometheus/", auth=(PROXY_USER, "not-the-password")).status_code == 401
    answer = server_get("/prometheus/", allow_redirects=False)
    assert answer.status_code == 302  # to its UI page, which Debian's build lacks (see above)
    assert answer.headers["Location"].startswith("/prometheus/")


def test_prometheus_api_works_through_its_prefix(deployed):
    answer = server_get("/prometheus/api/v1/query", params={"query": "up"})
    assert answer.status_code == 200
    series = answer.json()["data"]["result"]
    assert {s["metric"]["job"] for s in series} >= {"node", "prometheus", "alertmanager"}
    # Links Prometheus makes point at the proxy, under the prefix.
    flags = server_get("/prometheus/api/v1/status/flags").json()["data"]
    assert flags["web.external-url"] == f"https://{DOMAIN}/prometheus/"


def test_alertmanager_ui_and_api_work_through_its_prefix(deployed):
    page = server_get("/alertmanager/")
    assert page.status_code == 200 and "<title>Alertmanager</title>" in page.text
    status = server_get("/alertmanager/api/v2/status").json()
    assert status["config"]["original"]


def test_responses_carry_security_headers(deployed):
    headers = server_get("/prometheus/-/ready").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "nginx/" not in headers.get("Server", "")


def test_http_redirects_to_https_but_serves_acme_challenges(deployed, hosts):
    redirect = requests.get(f"http://{DOMAIN}/prometheus/", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"https://{DOMAIN}/prometheus/"
    # Another name in the Host header gets no redirect anywhere: the server closes.
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"http://{DOMAIN}/x", headers={"Host": "evil.example"}, allow_redirects=False,
            timeout=10,
        )
    token = token_source.token_urlsafe(16)
    challenge_dir = "/var/www/acme/.well-known/acme-challenge"
    hosts[OBS_NAME].check_output(f"mkdir -p {challenge_dir} && echo {token} > {challenge_dir}/t")
    try:
        answer = requests.get(
            f"http://{DOMAIN}/.well-known/acme-challenge/t", allow_redirects=False, timeout=10
        )
        assert (answer.status_code, answer.text.strip()) == (200, token)
    finally:
        hosts[OBS_NAME].check_output(f"rm -f {challenge_dir}/t")


def test_outsider_gets_in_with_credentials_only(outsider_trusts_pebble):
    assert curl_from_outsider("/prometheus/-/ready", proxy_password()) == 200
    assert curl_from_outsider("/prometheus/-/ready", None) == 401
    assert curl_from_outsider("/prometheus/-/ready", "wrong") == 401
    assert curl_from_outsider("/alertmanager/-/ready", proxy_password()) == 200


def test_firewall_leaves_only_ssh_http_and_https_open_to_outsiders(deployed, hosts):
    obs = address(OBS_NAME)
    for port in (22, 80, 443):
        assert tcp_connects(OUTSIDER, obs, port), f"port {port} must be open"
    for port in (9090, 9093, 9100, 9115):
        assert not tcp_connects(OUTSIDER, obs, port), f"port {port} must be closed"
    # The daemons behind the proxy listen on loopback only, node_exporter included: its
    # own Prometheus scrapes it there.
    for port in (9090, 9093, 9100, 9115):
        assert hosts[OBS_NAME].socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not hosts[OBS_NAME].socket(f"tcp://0.0.0.0:{port}").is_listening
        assert not hosts[OBS_NAME].socket(f"tcp://:::{port}").is_listening
    assert tcp_connects(OBS_NAME, "127.0.0.1", 9100)
    ssh_banner = on_host(OUTSIDER, f"timeout 3 bash -c 'exec 3<>/dev/tcp/{obs}/22; head -c 8 <&3'")
    assert ssh_banner.stdout.startswith("SSH-2.0")


def test_files_holding_passwords_are_private(deployed, hosts):
    permissions = ("prometheus", "alertmanager", "alertmanager_write", "loki", "loki_push",
                   "grafana")
    for permission in permissions:
        htpasswd = hosts[OBS_NAME].file(f"/etc/nginx/htpasswd/{permission}")
        assert (htpasswd.user, htpasswd.group, htpasswd.mode) == ("root", "www-data", 0o640)
        assert proxy_password() not in htpasswd.content_string
    users = hosts[OBS_NAME].file("/etc/nginx/htpasswd/alertmanager_write").content_string
    assert users.startswith("admin:") and "viewer:" not in users
    assert hosts[OBS_NAME].file("/etc/nginx/tls/obs.lab.test/privkey.pem").mode == 0o600


def test_a_site_nginx_rejects_never_goes_live(deployed, hosts):
    """Through the real deploy: the site for a new domain names a certificate file that is
    not one (someone left garbage there), so nginx -t rejects it; the live site stays."""
    obs = hosts[OBS_NAME]
    site = "/etc/nginx/conf.d/observability-stack.conf"
    before = obs.file(site).content_string
    other = "mon2.lab.test"
    obs.check_output(
        f"install -d /etc/nginx/tls/{other} && echo garbage > /etc/nginx/tls/{other}/fullchain.pem"
        f" && echo garbage > /etc/nginx/tls/{other}/privkey.pem"
    )
    try:
        result = deploy(domain=other)
        assert not result.ok
        assert result.failed.get(OBS_NAME), result.failed
        assert "cannot load certificate" in result.log
        assert obs.file(site).content_string == before
        assert not obs.file(f"{site}.obs-new").exists
        assert obs.run("nginx -t").rc == 0
        assert server_get("/prometheus/-/ready").status_code == 200, "the old site still serves"
    finally:
        obs.check_output(f"rm -rf /etc/nginx/tls/{other}")
    restored = deploy()
    assert restored.ok, restored.log[-3000:]


def test_renewal_reloads_nginx_with_the_new_certificate(deployed, hosts):
    obs = hosts[OBS_NAME]
    before = served_certificate()
    nginx_pid = obs.check_output("systemctl show -p MainPID --value nginx.service")
    # What certbot.timer runs, forced; the unit's environment trusts the ACME server.
    environment = obs.check_output("systemctl show -p Environment --value certbot.service")
    assert "REQUESTS_CA_BUNDLE=/etc/observability-stack/acme-ca.pem" in environment
    assert obs.service("certbot.timer").is_enabled
    obs.check_output(
        f"{environment} certbot renew --force-renewal --no-random-sleep-on-renew --quiet"
    )

    def renewed_certificate() -> x509.Certificate | None:
        certificate = served_certificate()
        return certificate if certificate.serial_number != before.serial_number else None

    renewed = wait_until(
        renewed_certificate, timeout=30, what="nginx to serve the renewed certificate"
    )
    assert renewed.not_valid_after_utc >= before.not_valid_after_utc
    assert obs.check_output("systemctl show -p MainPID --value nginx.service") == nginx_pid


def test_rotated_proxy_password_replaces_the_old_one_without_showing(deployed, hosts):
    old = proxy_password()
    with watching_argv([old]) as sampler:
        # What `invoke secrets.rotate proxy_password_admin` does.
        secrets.rotate(PROXY_PASSWORD.name_for(PROXY_USER), services.SECRETS_DIR)
        new = proxy_password()
        sampler.needles.append(new.encode())
        result = deploy(verbosity=3, diff=True)
    assert result.ok, result.log[-3000:]
    assert result.changed[OBS_NAME] > 0
    assert old not in result.log and new not in result.log
    assert new != old
    for path in PROTECTED:
        assert server_get(path, auth=(PROXY_USER, old)).status_code == 401
        assert server_get(path, auth=(PROXY_USER, new)).status_code == 200
    # No copy of a password file with the old hash is kept.
    backups = hosts[OBS_NAME].run("ls -A /var/backups/observability-stack/etc/nginx/htpasswd")
    assert backups.stdout.strip() == ""
    # That an unchanged password gives the same hash: test_deploy's second deploy.
