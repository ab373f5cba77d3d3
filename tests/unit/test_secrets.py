"""Secrets come from a private store or the environment, and errors never show a value."""

from __future__ import annotations

import os
import stat

import pytest

from obsstack import secrets


def test_init_generates_only_what_we_may_generate(tmp_path):
    store = tmp_path / "secrets"
    report = secrets.init(store)
    assert report["smtp_password"].startswith("missing: write your value to")
    assert not (store / "smtp_password").exists()


def test_lab_init_generates_provided_secrets_with_private_modes(tmp_path):
    store = tmp_path / "secrets"
    assert secrets.init(store, include_provided=True)["smtp_password"] == "generated"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "smtp_password").stat().st_mode) == 0o600
    value = secrets.read("smtp_password", store)
    assert len(value) >= 32
    assert secrets.init(store, include_provided=True)["smtp_password"] == "present"
    assert secrets.read("smtp_password", store) == value


def test_environment_wins_over_the_store(tmp_path, monkeypatch):
    secrets.write("smtp_password", "from-file", tmp_path)
    monkeypatch.setenv("OBS_SECRET_SMTP_PASSWORD", "from-env")
    assert secrets.read("smtp_password", tmp_path) == "from-env"


def test_group_readable_secret_is_refused_without_showing_it(tmp_path):
    path = secrets.write("smtp_password", "do-not-print-me", tmp_path)
    os.chmod(path, 0o640)
    with pytest.raises(secrets.SecretError) as error:
        secrets.read("smtp_password", tmp_path)
    assert "chmod 0600" in str(error.value)
    assert "do-not-print-me" not in str(error.value)


def test_missing_secret_names_the_file_and_the_variable(tmp_path):
    with pytest.raises(secrets.SecretError) as error:
        secrets.read("smtp_password", tmp_path)
    assert str(tmp_path / "smtp_password") in str(error.value)
    assert "OBS_SECRET_SMTP_PASSWORD" in str(error.value)


def test_unknown_secret_is_an_error(tmp_path):
    with pytest.raises(secrets.SecretError, match="unknown secret 'db_password'"):
        secrets.read("db_password", tmp_path)
