"""The observability server's front door: nginx with TLS from an ACME CA and basic auth.

    prepare()       packages, ACME webroot, a stand-in certificate (before the site)
    config_files()  the site and its password files (converged and recorded like any daemon)
    certificate()   certbot's certificate, deploy hook and renewal timer (after the site)
    remove_site()   the site, when the stack is uninstalled (nginx and certbot stay)


Prometheus (/prometheus/), Alertmanager (/alertmanager/), Loki (/loki/) and Grafana (/)
listen on localhost only; nginx serves them over HTTPS for ``domain``, each behind basic
auth for the users ``proxy_users`` lets in, read only unless a user may write
(``alertmanager_write``: silences and alerts). Grafana gets the logged-in user's name and
role (``grafana_roles``) in the headers of its auth proxy, never a client's own. Loki's
push endpoint takes each monitored host's own push password instead
(``loki_push_password_<host>``), and nothing else. Port 80 answers ACME
challenges and redirects everything else to HTTPS; names other than ``domain`` get no
answer on either port. certbot obtains the certificate on the first deploy and renews it
with its systemd timer; its deploy hook hands nginx the new files and reloads it.
"""

from __future__ import annotations

import posixpath

from pyinfra import host, inventory
from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys.common import installation
from obsstack import secrets
from obsstack.catalog import PROXIED, running
from obsstack.catalog.server import (
    GRAFANA,
    GRAFANA_ROLE_HEADER,
    GRAFANA_USER_HEADER,
    HTPASSWD_DIR,
    LOKI_PUSH_PASSWORD,
    NGINX,
    NGINX_GROUP,
    PROXY_PASSWORD,
)
from obsstack.fields import instance_label
from obsstack.htpasswd import TOKEN_COST, htpasswd_file
from obsstack.inventory import repo_path
from obsstack.render import render_template
from operations.acme import acme_certificate, placeholder_certificate
from operations.config import in_config_tree, managed_config
from operations.converge import ConfigFile
from operations.nginx import remove_nginx_conf, remove_packaged_default_site
from operations.packages import deb_packages
from operations.service import reload_if_running

SITE = "/etc/nginx/conf.d/observability-stack.conf"
LOKI_PUSH_FILE = f"{HTPASSWD_DIR}/loki_push"
DEFAULT_SITE = "/etc/nginx/sites-enabled/default"
TLS_ROOT = "/etc/nginx/tls"
ACME_WEBROOT = "/var/www/acme"
ACME_CA_BUNDLE = "/etc/observability-stack/acme-ca.pem"
DEPLOY_HOOK = "/usr/local/lib/observability-stack/certbot-deploy-hook"
CERTBOT_DROP_IN = "/etc/systemd/system/certbot.service.d/observability-stack.conf"
# Per request, per client, to the protected locations (the leaky bucket of limit_req).
AUTH_RATE_PER_SECOND = 5
AUTH_BURST = 30


@deploy("Reverse proxy")
def prepare() -> None:
    """What the nginx component needs before its site can pass ``nginx -t``."""
    domain = host.data.domain
    deb_packages(name="Install nginx and certbot", packages=["nginx", "certbot"])
    files.directory(name=f"Create {ACME_WEBROOT}", path=ACME_WEBROOT, mode="0755")
    placeholder_certificate(
        name=f"Stand-in certificate for {domain} until certbot has one",
        directory=tls_dir(),
        common_name=domain,
        lineage=f"/etc/letsencrypt/live/{domain}",
    )
    # Debian's welcome page would answer every name but ours; a site the user changed
    # is theirs and stays.
    default_site = remove_packaged_default_site(
        name=f"Remove {DEFAULT_SITE} while it is Debian's own", link=DEFAULT_SITE
    )
    reload_if_running(NGINX.unit.name, f"{DEFAULT_SITE} removed", default_site.did_change)


def config_files() -> tuple[ConfigFile, ...]:
    """nginx's password files and site: recorded with each release, so rollback restores
    them."""
    domain = host.data.domain
    # Only what runs here gets a location and a password file (Grafana may not).
    served = [
        component
        for component in running(host.groups, host.data.dict(), agents=[])
        if component in PROXIED
    ]
    locations = [component.proxy for component in served]
    password_files = {
        permission: ConfigFile(
            f"{HTPASSWD_DIR}/{permission}",
            htpasswd_file(passwords_for(permission), realm=domain),
            group=NGINX_GROUP,
            secret=True,
        )
        for location in locations
        for permission in filter(None, (location.name, location.write_permission))
    }
    push_file = ConfigFile(
        LOKI_PUSH_FILE,
        htpasswd_file(push_passwords(), realm=f"{domain} loki push", cost=TOKEN_COST),
        group=NGINX_GROUP,
        secret=True,
    )
    locations = {
        component.proxy.name: {
            "realm": f"{domain} {component.proxy.name}",
            "htpasswd": password_files[component.proxy.name].path,
            "write_htpasswd": (
                password_files[component.proxy.write_permission].path
                if component.proxy.write_permission
                else None
            ),
            "port": component.listen.number(host.data.dict()),
        }
        for component in served
    }
    if GRAFANA in served:
        locations[GRAFANA.proxy.name] |= {
            "roles": host.data.grafana_roles,
            "user_header": GRAFANA_USER_HEADER,
            "role_header": GRAFANA_ROLE_HEADER,
        }
    site = render_template(
        "nginx/site.conf.j2",
        {
            "domain": domain,
            "loki_push_htpasswd": push_file.path,
            "acme_webroot": ACME_WEBROOT,
            "tls_dir": tls_dir(),
            "auth_rate": AUTH_RATE_PER_SECOND,
            "auth_burst": AUTH_BURST,
            GRAFANA.proxy.name: None,
            **locations,
        },
    )
    return (
        *password_files.values(),
        push_file,
        ConfigFile(SITE, site, validate=in_config_tree(SITE, "nginx -t -q"), mode="0644"),
    )


@deploy("Remove the reverse proxy site")
def remove_site() -> None:
    """No site of ours in nginx; nginx, certbot (and the certificate) stay."""
    remove_nginx_conf(SITE)


def tls_dir() -> str:
    return f"{TLS_ROOT}/{host.data.domain}"


@deploy("TLS certificate")
def certificate() -> None:
    """certbot: the CA's trust bundle, the deploy hook, the certificate, the renewal timer."""
    domain = host.data.domain
    keep = installation().keep_backups
    ca_bundle = host.data.acme_ca_bundle
    for path in host.loop((ACME_CA_BUNDLE, CERTBOT_DROP_IN, DEPLOY_HOOK)):
        parent = posixpath.dirname(path)
        files.directory(name=f"Create {parent}", path=parent, mode="0755")
    if ca_bundle:
        managed_config(
            name=f"ACME server CA bundle {ACME_CA_BUNDLE}",
            dest=ACME_CA_BUNDLE,
            content=repo_path(ca_bundle).read_text(),
            mode="0644",
            keep_backups=keep,
        )
    drop_in = managed_config(
        name=f"certbot renewal environment {CERTBOT_DROP_IN}",
        dest=CERTBOT_DROP_IN,
        content=render_template(
            "certbot/certbot.service.d.conf.j2",
            {"ca_bundle": ACME_CA_BUNDLE if ca_bundle else None},
        ),
        keep_backups=keep,
    )
    systemd.daemon_reload(name="Reload systemd units for certbot", _if=drop_in.did_change)
    managed_config(
        name=f"certbot deploy hook {DEPLOY_HOOK}",
        dest=DEPLOY_HOOK,
        content=render_template(
            "certbot/deploy-hook.sh.j2", {"domain": domain, "tls_dir": tls_dir()}
        ),
        mode="0755",
        keep_backups=keep,
    )
    acme_certificate(
        name=f"Certificate for {domain} from {host.data.acme_directory_url}",
        domain=domain,
        email=host.data.acme_email,
        directory_url=host.data.acme_directory_url,
        webroot=ACME_WEBROOT,
        deploy_hook=DEPLOY_HOOK,
        ca_bundle=ACME_CA_BUNDLE if ca_bundle else None,
    )
    systemd.service(
        name="Enable certbot's renewal timer", service="certbot.timer", running=True,
        enabled=True,
    )


def push_passwords() -> dict[str, str]:
    """``{host: its Loki push password}`` for every monitored host of the inventory."""
    store = repo_path(host.data.secrets_dir)
    return {
        name: secrets.read(LOKI_PUSH_PASSWORD.name_for(name), store)
        for name in (
            instance_label(target.name) for target in inventory if "monitored" in target.groups
        )
    }


def passwords_for(permission: str) -> dict[str, str]:
    """``{user: password}`` of the proxy users that ``proxy_users`` gives ``permission``."""
    store = repo_path(host.data.secrets_dir)
    return {
        user: secrets.read(PROXY_PASSWORD.name_for(user), store)
        for user, permissions in host.data.proxy_users.items()
        if permission in permissions
    }
