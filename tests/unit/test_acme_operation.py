"""acme_certificate and placeholder_certificate: certbot runs only when the lineage differs."""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess

from fakehost import run_operation
from prerequisites import require

from operations.acme import CertbotLineage, acme_certificate, placeholder_certificate

DOMAIN = "obs.lab.test"
PEBBLE = "https://10.99.0.1:14000/dir"
LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
LE_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
HOOK = "/usr/local/lib/observability-stack/certbot-deploy-hook"
WEBROOT = "/var/www/acme"
CA_BUNDLE = "/etc/observability-stack/acme-ca.pem"
TLS_DIR = f"/etc/nginx/tls/{DOMAIN}"

# /etc/letsencrypt/renewal/obs.lab.test.conf as certbot 4.0 wrote it on a lab host.
RENEWAL_CONF = """\
# renew_before_expiry = 30 days
version = 4.0.0
archive_dir = /etc/letsencrypt/archive/obs.lab.test
cert = /etc/letsencrypt/live/obs.lab.test/cert.pem
privkey = /etc/letsencrypt/live/obs.lab.test/privkey.pem
chain = /etc/letsencrypt/live/obs.lab.test/chain.pem
fullchain = /etc/letsencrypt/live/obs.lab.test/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 6faf2a1718b6916f523330da9c65b23f
renew_hook = /usr/local/lib/observability-stack/certbot-deploy-hook
server = https://10.99.0.1:14000/dir
authenticator = webroot
webroot_path = /var/www/acme,
key_type = ecdsa
[[webroot_map]]
obs.lab.test = /var/www/acme
"""

RENEWAL_FILE = f"/etc/letsencrypt/renewal/{DOMAIN}.conf"


def certificate(responses: dict, directory_url: str = PEBBLE, **overrides):
    arguments = {
        "domain": DOMAIN,
        "email": "ops@lab.test",
        "directory_url": directory_url,
        "webroot": WEBROOT,
        "deploy_hook": HOOK,
        **overrides,
    }
    return run_operation(acme_certificate, responses, **arguments)


def certbot_commands(run) -> list[str]:
    """The operation's commands, without the lineage lookup (which is run first)."""
    assert RENEWAL_FILE in run.commands[0], run.commands
    return run.commands[1:]


def option(words: list[str], flag: str) -> str:
    return words[words.index(flag) + 1]


# --- CertbotLineage -------------------------------------------------------------------------


def test_lineage_reads_the_renewal_settings_certbot_decides_with():
    lineage = CertbotLineage().process(RENEWAL_CONF.splitlines())
    assert lineage is not None
    assert lineage["server"] == PEBBLE
    assert lineage["renew_hook"] == HOOK
    assert lineage["authenticator"] == "webroot"
    assert lineage["key_type"] == "ecdsa"
    assert lineage["account"] == "6faf2a1718b6916f523330da9c65b23f"
    assert lineage["fullchain"] == f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem"
    assert lineage["version"] == "4.0.0"


def test_lineage_of_an_unknown_certificate_is_none():
    assert CertbotLineage().process([]) is None
    run = certificate({RENEWAL_FILE: ""})
    # The empty fact led to a first issuance, not a renewal.
    assert "--keep-until-expiring" in certbot_commands(run)[0]


def test_lineage_command_never_fails_when_the_file_is_missing():
    command = str(CertbotLineage().command(DOMAIN))
    assert command.startswith(f"cat {RENEWAL_FILE}")
    assert command.endswith("|| true")


# --- acme_certificate -----------------------------------------------------------------------


def test_first_issuance_is_one_certbot_certonly_with_webroot_hook_and_server():
    run = certificate({RENEWAL_FILE: ""})
    assert run.succeeded
    commands = certbot_commands(run)
    assert len(commands) == 1
    words = shlex.split(commands[0])
    assert words[:2] == ["certbot", "certonly"]
    assert option(words, "--webroot-path") == WEBROOT
    assert option(words, "--deploy-hook") == HOOK
    assert option(words, "--server") == PEBBLE
    assert option(words, "--domain") == DOMAIN
    assert option(words, "--cert-name") == DOMAIN
    assert option(words, "--email") == "ops@lab.test"
    assert {"--webroot", "--non-interactive", "--agree-tos", "--keep-until-expiring"} <= set(words)
    assert "--force-renewal" not in words
    assert "REQUESTS_CA_BUNDLE" not in commands[0]


def test_ca_bundle_is_passed_to_certbot_through_requests_ca_bundle():
    run = certificate({RENEWAL_FILE: ""}, ca_bundle=CA_BUNDLE)
    (command,) = certbot_commands(run)
    assert command.startswith(f"REQUESTS_CA_BUNDLE={CA_BUNDLE} certbot certonly ")


def test_lineage_with_the_same_server_hook_and_webroot_runs_nothing():
    run = certificate({RENEWAL_FILE: RENEWAL_CONF})
    assert run.succeeded
    assert certbot_commands(run) == []


def test_moving_from_staging_to_production_forces_a_new_certificate():
    staging = RENEWAL_CONF.replace(f"server = {PEBBLE}", f"server = {LE_STAGING}")
    run = certificate({RENEWAL_FILE: staging}, directory_url=LE_PRODUCTION)
    (command,) = certbot_commands(run)
    words = shlex.split(command)
    assert option(words, "--server") == LE_PRODUCTION
    assert "--force-renewal" in words
    assert "--keep-until-expiring" not in words


def test_a_changed_deploy_hook_forces_a_new_certificate():
    old_hook = RENEWAL_CONF.replace(f"renew_hook = {HOOK}", "renew_hook = systemctl reload nginx")
    run = certificate({RENEWAL_FILE: old_hook})
    (command,) = certbot_commands(run)
    assert "--force-renewal" in shlex.split(command)


def test_a_lineage_without_a_deploy_hook_forces_a_new_certificate():
    no_hook = RENEWAL_CONF.replace(f"renew_hook = {HOOK}\n", "")
    run = certificate({RENEWAL_FILE: no_hook})
    (command,) = certbot_commands(run)
    assert "--force-renewal" in shlex.split(command)


def test_a_changed_webroot_forces_a_new_certificate():
    old_webroot = RENEWAL_CONF.replace(WEBROOT, "/var/lib/letsencrypt/webroot")
    run = certificate({RENEWAL_FILE: old_webroot})
    assert len(certbot_commands(run)) == 1


# --- placeholder_certificate ----------------------------------------------------------------

FULLCHAIN = f"{TLS_DIR}/fullchain.pem"


def placeholder(responses: dict, directory: str = TLS_DIR):
    return run_operation(
        placeholder_certificate, responses, directory=directory, common_name=DOMAIN
    )


def test_existing_certificate_is_left_alone():
    stat_line = (
        "user=root group=root mode=-rw-r--r-- atime=1764201600 mtime=1764201600"
        f" ctime=1764201600 size=1302 '{FULLCHAIN}'"
    )
    run = placeholder({"stat -c": stat_line})
    assert run.succeeded
    assert len(run.commands) == 1 and FULLCHAIN in run.commands[0]


def test_a_certificate_certbot_has_already_is_what_nginx_gets():
    """A server restored from a backup: certbot's lineage is back before nginx has a
    certificate; nginx takes it, and no self-signed one is made."""
    lineage = f"/etc/letsencrypt/live/{DOMAIN}"
    run = run_operation(
        placeholder_certificate,
        {f"{lineage}/fullchain.pem": f"{'ab' * 32}  {lineage}/fullchain.pem"},
        directory=TLS_DIR,
        common_name=DOMAIN,
        lineage=lineage,
    )
    assert run.succeeded
    commands = [c for c in run.commands if "stat " not in c and "sha256sum" not in c]
    assert commands == [
        f"install -d -m 0755 {TLS_DIR}",
        f"install -m 0600 {lineage}/privkey.pem {TLS_DIR}/privkey.pem",
        f"install -m 0644 {lineage}/fullchain.pem {TLS_DIR}/fullchain.pem",
    ]


def test_missing_certificate_gets_a_self_signed_one_generated_under_umask_077():
    run = placeholder({})
    assert run.succeeded
    commands = run.commands[1:]
    openssl = next(command for command in commands if "openssl req" in command)
    assert openssl.startswith("(umask 077 && openssl req -x509 ")
    assert f"-keyout {TLS_DIR}/privkey.pem" in openssl
    assert f"-out {TLS_DIR}/fullchain.pem" in openssl
    assert f"-subj /CN={DOMAIN}" in openssl
    assert commands[0] == f"install -d -m 0755 {TLS_DIR}"
    assert commands[-1] == f"chmod 0644 {TLS_DIR}/fullchain.pem"


def test_placeholder_commands_make_a_private_key_and_a_readable_certificate(tmp_path):
    require(shutil.which("openssl") is not None, "openssl is not installed here")
    """Run the generated commands locally in a directory whose name needs quoting."""
    directory = tmp_path / "tls dir" / DOMAIN
    run = placeholder({}, directory=str(directory))
    for command in run.commands[1:]:
        subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    key, cert = directory / "privkey.pem", directory / "fullchain.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    subject = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert DOMAIN in subject
