"""A secret never shows in any host's process list, nor in the deploy output at -vvv --diff,
whether it comes from the store or from the environment (as deploy.yml passes it); an empty
one is refused before any host is touched."""

from __future__ import annotations

import hashlib
import secrets as token_source
import time

import pytest
from conftest import (
    DEPLOYED,
    OBS_NAME,
    PROXY_USER,
    deploy,
    on_host,
    proxy_password,
    server_get,
    watching_argv,
)
from loki_push import push_from_web1, stream

from obslab import services
from obsstack import secrets
from obsstack.catalog.server import RECEIVER_SECRET
from obsstack.settings import SettingsError
from operations.digest import KEY_FILE

pytestmark = pytest.mark.lab


def unhashed(*values: str) -> list[str]:
    """What an unkeyed hash of each value (or of a file holding it) looks like."""
    return [hashlib.sha256(value.encode()).hexdigest() for value in values]


def test_rotated_secrets_travel_without_showing(deployed, hosts, mail):
    """The relay's password, a webhook receiver's URL with a new token in it, and a host's
    Loki push password, rotated together and deployed at -vvv --diff: none shows in argv
    or output, each file is 0640 and keeps no backup, and the old push password is refused
    from then on while the new one pushes."""
    push = "loki_push_password_web1"
    old_push = secrets.read(push, services.SECRETS_DIR)
    new_push = secrets.read(push, secrets.rotate(push, services.SECRETS_DIR).parent)
    old = secrets.read("smtp_password", services.SECRETS_DIR)
    new = token_source.token_urlsafe(24)
    secrets.write("smtp_password", new, services.SECRETS_DIR)
    hook = RECEIVER_SECRET.name_for("lab-hook")
    old_url = secrets.read(hook, services.SECRETS_DIR)
    token = token_source.token_hex(16)
    new_url = f"{old_url.partition('?')[0]}?token={token}"
    secrets.write(hook, new_url, services.SECRETS_DIR)
    key = hosts[OBS_NAME].file(KEY_FILE)
    assert (key.user, key.mode) == ("root", 0o600)

    with watching_argv([old, new, token, old_push, new_push]):
        result = deploy(verbosity=3, diff=True)

    assert result.ok, result.log[-3000:]
    assert result.changed["obs"] > 0, "the new password must really have been deployed"
    assert "Loaded fact" in result.log, "-vvv prints facts: the check must see them"
    hashes = unhashed(old, new, old_url, new_url, old_push, new_push)
    for shown in (old, new, token, old_push, new_push, key.content_string, *hashes):
        assert shown not in result.log
    url_file = hosts[OBS_NAME].file("/etc/alertmanager/receivers/lab-hook")
    assert url_file.content_string == new_url
    assert (url_file.user, url_file.group, url_file.mode) == ("root", "alertmanager", 0o640)
    password_file = hosts[OBS_NAME].file("/etc/alertmanager/smtp_password")
    assert password_file.content_string == new
    assert (password_file.user, password_file.group, password_file.mode) == (
        "root", "alertmanager", 0o640
    )
    assert not hosts[OBS_NAME].file("/etc/alertmanager/smtp_password.obs-new").exists
    # The old password and URL do not live on in a backup.
    backups = hosts[OBS_NAME].run("ls -R /var/backups/observability-stack/etc/alertmanager/")
    assert "smtp_password" not in backups.stdout and "lab-hook" not in backups.stdout
    push_file = hosts[OBS_NAME].file("/etc/nginx/htpasswd/loki_push")
    assert (push_file.user, push_file.group, push_file.mode) == ("root", "www-data", 0o640)
    assert old_push not in push_file.content_string and new_push not in push_file.content_string
    backups = hosts[OBS_NAME].run("ls -a /var/backups/observability-stack/etc/nginx/htpasswd/")
    assert "loki_push" not in backups.stdout
    line = [stream({"job": "lab_test", "host": "web1"}, ["after rotation"])]
    assert push_from_web1(line, password=old_push) == 401
    assert push_from_web1(line) == 204


def test_a_secret_from_the_environment_travels_without_showing(deployed, monkeypatch):
    """deploy.yml hands secrets to the deploy as OBS_SECRET_* variables."""
    stored = proxy_password()
    from_env = token_source.token_urlsafe(24)
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", from_env)
    with watching_argv([stored, from_env]):
        result = deploy(verbosity=3)
    assert result.ok, result.log[-3000:]
    assert from_env not in result.log and stored not in result.log
    assert server_get("/prometheus/-/ready", auth=(PROXY_USER, from_env)).status_code == 200
    assert server_get("/prometheus/-/ready", auth=(PROXY_USER, stored)).status_code == 401

    monkeypatch.delenv("OBS_SECRET_PROXY_PASSWORD_ADMIN")
    assert deploy().ok
    assert server_get("/prometheus/-/ready").status_code == 200


def ssh_logins(name: str, since: float, until: float) -> int:
    """SSH logins the lab host's sshd accepted between two moments (the clock is shared)."""
    found = on_host(
        name,
        f"journalctl -u ssh --since @{since:.3f} --until @{until:.3f} -o cat"
        " | grep -c 'Accepted publickey' || true",
    )
    return int(found.stdout.strip() or 0)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_environment_secret_is_refused_and_touches_no_host(
    deployed, hosts, monkeypatch, value
):
    htpasswd = hosts[OBS_NAME].file("/etc/nginx/htpasswd/prometheus").content_string
    password = proxy_password()
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", value)
    started = time.time()
    with pytest.raises(SettingsError, match=r"\$OBS_SECRET_PROXY_PASSWORD_ADMIN is empty"):
        deploy()
    finished = time.time()
    for name in sorted(DEPLOYED):
        assert ssh_logins(name, started, finished) == 0, f"{name} was contacted"
    # Control: a login in such a window is seen.
    before = time.time()
    on_host("web1", "true")
    assert ssh_logins("web1", before, time.time()) == 1
    assert hosts[OBS_NAME].file("/etc/nginx/htpasswd/prometheus").content_string == htpasswd
    assert server_get("/prometheus/-/ready", auth=(PROXY_USER, "")).status_code == 401
    assert server_get("/prometheus/-/ready", auth=(PROXY_USER, password)).status_code == 200
