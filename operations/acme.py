"""TLS certificates from an ACME CA (Let's Encrypt by default) with certbot's webroot plugin.

nginx needs a certificate file before it can even load a TLS server block, and certbot
needs nginx answering HTTP-01 challenges before it can obtain one. A self-signed stand-in
breaks that circle: nginx starts with it, certbot replaces it through its deploy hook.

Example (a deploy file)::

    from operations.acme import acme_certificate, placeholder_certificate
    placeholder_certificate(name="Stand-in certificate", directory="/etc/nginx/tls/x.tld",
                            common_name="x.tld")
    acme_certificate(
        name="Certificate for x.tld", domain="x.tld", email="ops@x.tld",
        directory_url="https://acme-v02.api.letsencrypt.org/directory",
        webroot="/var/www/acme", deploy_hook="/usr/local/lib/observability-stack/hook",
    )
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, operation
from pyinfra.facts.files import File, Sha256File
from typing_extensions import override

LETSENCRYPT_DIR = "/etc/letsencrypt"


class CertbotLineage(FactBase[dict[str, str] | None]):
    """
    Returns the settings certbot renews certificate ``cert_name`` with (``key = value`` lines
    of its renewal file), or ``None`` when certbot has no such certificate.

    + cert_name: the certificate name (``--cert-name``)

    .. code:: python

        {"authenticator": "webroot", "server": "https://...", "renew_hook": "/usr/..."}
    """

    @override
    def command(self, cert_name: str) -> StringCommand:
        path = f"{LETSENCRYPT_DIR}/renewal/{cert_name}.conf"
        return StringCommand("cat", QuoteString(path), "2>/dev/null || true")

    @override
    def process(self, output: list[str]) -> dict[str, str] | None:
        settings = dict(
            (part.strip() for part in line.split("=", 1))
            for line in output
            if "=" in line and not line.lstrip().startswith("#")
        )
        return settings or None


@operation()
def placeholder_certificate(
    directory: str, common_name: str, lineage: str | None = None, days: int = 30
):
    """
    Give nginx a certificate where it has none yet, so it can start: certbot's own when
    it has one already, else a self-signed one.

    + directory: gets ``fullchain.pem`` (0644) and ``privkey.pem`` (0600)
    + common_name: the name in a self-signed certificate
    + lineage: certbot's directory of the certificate (``/etc/letsencrypt/live/DOMAIN``);
      a server restored from a backup has it before its first deploy, and nginx takes it
      as it is (certbot then has nothing to obtain, and delivers nothing)
    + days: validity; the health check reports a self-signed certificate either way

    The key is generated on the host and never leaves it; an existing certificate (the
    real one, once certbot has delivered it) is never touched.
    """
    if host.get_fact(File, path=f"{directory}/fullchain.pem"):
        host.noop(f"{directory} already has a certificate")
        return
    q_dir = shlex.quote(directory)
    yield f"install -d -m 0755 {q_dir}"
    # certbot's live files are links into its archive: a checksum follows them.
    if lineage and host.get_fact(Sha256File, path=f"{lineage}/fullchain.pem"):
        q_lineage = shlex.quote(lineage)
        yield f"install -m 0600 {q_lineage}/privkey.pem {q_dir}/privkey.pem"
        yield f"install -m 0644 {q_lineage}/fullchain.pem {q_dir}/fullchain.pem"
        return
    yield (
        "(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
        f" -nodes -days {int(days)} -subj {shlex.quote('/CN=' + common_name)}"
        f" -keyout {q_dir}/privkey.pem -out {q_dir}/fullchain.pem 2>&1)"
    )
    yield f"chmod 0644 {q_dir}/fullchain.pem"


@operation()
def acme_certificate(
    domain: str,
    email: str,
    directory_url: str,
    webroot: str,
    deploy_hook: str,
    ca_bundle: str | None = None,
):
    """
    Obtain the certificate for ``domain`` with certbot (HTTP-01 via a webroot).

    + domain: the name to certify; also the certificate's name in certbot
    + email: the ACME account's contact address
    + directory_url: the ACME CA's directory
    + webroot: the directory nginx serves ``/.well-known/acme-challenge/`` from
    + deploy_hook: a command certbot runs after every issuance and renewal (stored with
      the certificate, so the renewal timer runs it too)
    + ca_bundle: a CA bundle on the host to trust the ACME server with (internal CAs)

    Nothing runs when certbot already renews this certificate from the same CA, webroot
    and hook. A change of any of them obtains a fresh certificate, since certbot only
    records those settings when it issues.
    """
    lineage = host.get_fact(CertbotLineage, cert_name=domain)
    wanted = {
        "authenticator": "webroot",
        "server": directory_url,
        "renew_hook": deploy_hook,
        # certbot writes the list of webroots with a trailing comma.
        "webroot_path": f"{webroot},",
    }
    if lineage and all(lineage.get(key) == value for key, value in wanted.items()):
        host.noop(f"certbot already manages the certificate of {domain}")
        return
    environment = f"REQUESTS_CA_BUNDLE={shlex.quote(ca_bundle)} " if ca_bundle else ""
    yield (
        f"{environment}certbot certonly --non-interactive --agree-tos"
        f" --email {shlex.quote(email)} --no-eff-email"
        f" --webroot --webroot-path {shlex.quote(webroot)}"
        f" --domain {shlex.quote(domain)} --cert-name {shlex.quote(domain)}"
        f" --server {shlex.quote(directory_url)} --deploy-hook {shlex.quote(deploy_hook)}"
        + (" --force-renewal" if lineage else " --keep-until-expiring")
    )
