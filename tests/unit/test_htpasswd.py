"""htpasswd_file: stable bcrypt lines nginx accepts, that change when any input changes."""

from __future__ import annotations

import pytest
from passlib.hash import bcrypt

from obsstack.htpasswd import BCRYPT_ALPHABET, htpasswd_file, htpasswd_line, stable_salt

REALM = "obs.lab.test"


def hash_of(line: str) -> str:
    user, _, hashed = line.partition(":")
    assert user and hashed, line
    return hashed


def test_same_inputs_give_byte_identical_files():
    users = {"admin": "s3cret", "viewer": "another one"}
    assert htpasswd_file(users, REALM).encode() == htpasswd_file(dict(users), REALM).encode()


@pytest.mark.parametrize(
    ("user", "password", "realm"),
    [
        ("admin", "s3cret!", REALM),
        ("admin2", "s3cret", REALM),
        ("admin", "s3cret", "other.lab.test"),
    ],
    ids=["password", "user", "realm"],
)
def test_changing_password_user_or_realm_changes_the_hash(user, password, realm):
    before = hash_of(htpasswd_line("admin", "s3cret", REALM))
    assert hash_of(htpasswd_line(user, password, realm)) != before


def test_bcrypt_verifies_the_password_and_rejects_another():
    hashed = hash_of(htpasswd_line("admin", "s3cret", REALM))
    assert bcrypt.verify("s3cret", hashed)
    assert not bcrypt.verify("s3cret ", hashed)
    assert not bcrypt.verify("S3cret", hashed)


def test_hash_is_bcrypt_2b_with_cost_10():
    hashed = hash_of(htpasswd_line("admin", "s3cret", REALM))
    assert hashed.startswith("$2b$10$")
    info = bcrypt.from_string(hashed)
    assert (info.ident, info.rounds) == ("$2b$", 10)


@pytest.mark.parametrize("password", ["s3cret", "", "ünïcødé pass", "x" * 72])
def test_salt_is_22_bcrypt_characters_ending_in_a_canonical_one(password):
    """bcrypt would silently rewrite a last character outside `.Oeu`: the hash must carry
    the derived salt unchanged."""
    salt = stable_salt(password, "admin", REALM)
    assert len(salt) == 22
    assert set(salt) <= set(BCRYPT_ALPHABET)
    assert salt[-1] in ".Oeu"
    hashed = hash_of(htpasswd_line("admin", password, REALM))
    assert hashed[len("$2b$10$") :][:22] == salt
    assert len(hashed) == len("$2b$10$") + 22 + 31
    assert bcrypt.verify(password, hashed)


def test_users_are_sorted_one_line_each_newline_terminated():
    text = htpasswd_file({"zoe": "a", "admin": "b", "mike": "c"}, REALM)
    lines = text.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["admin", "mike", "zoe"]
    assert text.endswith("\n") and text.count("\n") == 3


def test_file_lines_are_the_single_user_lines():
    text = htpasswd_file({"viewer": "v", "admin": "a"}, REALM)
    lines = [htpasswd_line("admin", "a", REALM), htpasswd_line("viewer", "v", REALM)]
    assert text == "".join(line + "\n" for line in lines)


def test_empty_mapping_gives_an_empty_file():
    assert htpasswd_file({}, REALM) == ""
