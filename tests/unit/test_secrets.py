"""Secrets come from a private store or the environment, and errors never show a value."""

from __future__ import annotations

import os
import stat

import pytest

from obsstack import secrets


def test_init_generates_only_what_we_may_generate(tmp_path):
    store = tmp_path / "secrets"
    report = secrets.init(store, ["smtp_password", "proxy_password_admin"])
    assert report["smtp_password"].startswith("missing: write your value to")
    assert not (store / "smtp_password").exists()
    assert report["proxy_password_admin"] == "generated"
    assert len(secrets.read("proxy_password_admin", store)) >= 32


def test_lab_init_generates_provided_secrets_with_private_modes(tmp_path):
    store = tmp_path / "secrets"
    assert secrets.init(store, ["smtp_password"], include_provided=True) == {
        "smtp_password": "generated"
    }
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "smtp_password").stat().st_mode) == 0o600
    value = secrets.read("smtp_password", store)
    assert len(value) >= 32
    report = secrets.init(store, ["smtp_password"], include_provided=True)
    assert report["smtp_password"] == "present"
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


def test_rotate_replaces_a_generated_secret(tmp_path):
    secrets.init(tmp_path, ["proxy_password_admin"])
    old = secrets.read("proxy_password_admin", tmp_path)
    path = secrets.rotate("proxy_password_admin", tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    new = secrets.read("proxy_password_admin", tmp_path)
    assert new != old and len(new) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["proxy_password_admin"]  # no partial left


def test_rotate_refuses_a_provided_secret_and_says_how_to_set_it(tmp_path):
    secrets.write("smtp_password", "relay-issued", tmp_path)
    with pytest.raises(secrets.SecretError, match=r"invoke secrets.set smtp_password"):
        secrets.rotate("smtp_password", tmp_path)
    assert secrets.read("smtp_password", tmp_path) == "relay-issued"


def test_rotate_refuses_a_secret_set_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", "from-env")
    with pytest.raises(secrets.SecretError, match=r"change that variable"):
        secrets.rotate("proxy_password_admin", tmp_path)


def test_set_value_stores_a_given_value_and_refuses_an_empty_one(tmp_path):
    secrets.set_value("smtp_password", "new-relay-password\n", tmp_path)
    assert secrets.read("smtp_password", tmp_path) == "new-relay-password"
    with pytest.raises(secrets.SecretError, match=r"nothing was changed"):
        secrets.set_value("smtp_password", "  \n", tmp_path)
    assert secrets.read("smtp_password", tmp_path) == "new-relay-password"


def test_unknown_secret_names_list_the_known_ones(tmp_path):
    known = (
        r"known: backup_password, backup_s3_secret_access_key, backup_sftp_key, "
        r"grafana_admin_password, mysql_exporter_password, smtp_password, "
        r"loki_push_password_<host>, prometheus_scrape_<job>, "
        r"prometheus_remote_write_<endpoint>, alertmanager_receiver_<receiver>, "
        r"proxy_password_<user>"
    )
    with pytest.raises(secrets.SecretError, match=known):
        secrets.read("smtp_pasword", tmp_path)


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_an_empty_environment_secret_is_refused_not_used(tmp_path, monkeypatch, value):
    """An unset GitHub secret arrives as an empty variable: it must never become a login."""
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", value)
    with pytest.raises(secrets.SecretError, match=r"\$OBS_SECRET_PROXY_PASSWORD_ADMIN is empty"):
        secrets.read("proxy_password_admin", tmp_path)


def test_a_whitespace_only_file_secret_is_refused(tmp_path):
    path = secrets.write("smtp_password", "  \n", tmp_path)
    with pytest.raises(secrets.SecretError, match=f"from {path} is empty"):
        secrets.read("smtp_password", tmp_path)


@pytest.mark.parametrize(
    "weak", ["hunter2", "aaaaaaaaaaaaaaaaaaaaaaaa", "password1234567", "abababababababababab"]
)
def test_a_weak_value_for_a_generated_kind_of_secret_is_refused(tmp_path, monkeypatch, weak):
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", weak)
    with pytest.raises(secrets.SecretError) as error:
        secrets.read("proxy_password_admin", tmp_path)
    assert "too weak" in str(error.value)
    assert weak not in str(error.value)


def test_a_provided_secret_may_be_short_but_not_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("OBS_SECRET_SMTP_PASSWORD", "short")
    assert secrets.read("smtp_password", tmp_path) == "short"


def test_a_line_break_inside_a_secret_is_refused(tmp_path, monkeypatch):
    """In .my.cnf or htpasswd a line break would start a second entry."""
    monkeypatch.setenv("OBS_SECRET_MYSQL_EXPORTER_PASSWORD", "a-long-password\nhost=evil")
    with pytest.raises(secrets.SecretError, match="control character"):
        secrets.read("mysql_exporter_password", tmp_path)


def test_the_mysql_password_keeps_to_what_its_cnf_file_can_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("OBS_SECRET_MYSQL_EXPORTER_PASSWORD", "abcdefgh#ijklmnop;q")
    with pytest.raises(secrets.SecretError, match="may only use"):
        secrets.read("mysql_exporter_password", tmp_path)


def test_generated_secrets_are_long_and_varied_and_pass_their_own_checks(tmp_path):
    values = {secrets.generate() for _ in range(20)}
    assert len(values) == 20
    for value in values:
        assert len(value) >= 43 and len(set(value)) >= secrets.MIN_DISTINCT_CHARACTERS
        for name in ("proxy_password_admin", "mysql_exporter_password"):
            assert secrets.checked(secrets.spec_for(name), value, "test") == value


def test_secrets_init_reports_an_empty_environment_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OBS_SECRET_PROXY_PASSWORD_ADMIN", "")
    report = secrets.init(tmp_path, ["proxy_password_admin"])
    assert report["proxy_password_admin"].startswith("refused: ")


def test_set_refuses_what_read_would_refuse(tmp_path):
    with pytest.raises(secrets.SecretError, match="too weak"):
        secrets.set_value("proxy_password_admin", "admin\n", tmp_path)
    assert not (tmp_path / "proxy_password_admin").exists()
