"""A secret never shows in any host's process list, nor in the deploy output at -vv --diff."""

from __future__ import annotations

import secrets as token_source

import pytest
from argv_sampler import ArgvSampler
from conftest import OBS_NAME, deploy

from obsstack import labdata, secrets

pytestmark = pytest.mark.lab


def test_rotated_smtp_password_travels_without_showing(deployed, hosts, mail):
    old = secrets.read("smtp_password", labdata.SECRETS_DIR)
    new = token_source.token_urlsafe(24)
    secrets.write("smtp_password", new, labdata.SECRETS_DIR)

    with ArgvSampler([old, new]) as sampler:
        result = deploy(verbosity=2, diff=True)

    assert result.ok, result.log[-3000:]
    assert result.changed["obs"] > 0, "the new password must really have been deployed"
    assert sampler.rate >= 20, f"sampled only {sampler.rate:.1f} times a second"
    assert sampler.hits == []
    assert new not in result.log and old not in result.log
    password_file = hosts[OBS_NAME].file("/etc/alertmanager/smtp_password")
    assert password_file.content_string == new
    assert (password_file.user, password_file.group, password_file.mode) == (
        "root", "alertmanager", 0o640
    )
    assert not hosts[OBS_NAME].file("/etc/alertmanager/smtp_password.obs-new").exists
