#!/usr/bin/python3
"""The lab's stand-in for Grafana's ``grafana`` program. It is not Grafana.

Grafana's release archives cannot be downloaded on the lab's machines and no package
registry we reach carries Grafana (obslab/grafana.py). So that everything our deploy does
around Grafana runs on real hosts (the release archive's install and rollback, the account
and hardened unit, grafana.ini and the provisioning files, the admin password set through
the CLI from stdin, the proxy's one login, health, the scrape), the lab's mirror packs this
file as ``lib/grafana_standin.py`` beside ``bin/grafana`` (grafana_standin.c: the process
that holds Grafana's port is that executable, as with Grafana) in an archive shaped like
Grafana's. It does only the parts of Grafana's command line and HTTP API our deploy and
tests use, as Grafana's documentation describes them, with Python's standard library (the
lab's hosts have Debian's python3):

- ``grafana --version``: ``grafana version V (...)``, V the version it was packed as.
- ``grafana server --homepath=DIR --config=FILE``: bin/grafana runs ``_prepare``, which
  reads grafana.ini ([server] http_addr and http_port, [paths] data, [security] admin_user
  and admin_password with ``$__file{PATH}``, [auth.proxy], [users]) and creates the
  database (SQLite, ``<data>/grafana.db``) with the admin password at the first start only,
  as Grafana does; then it listens and runs ``_connection`` for each connection, which
  answers ``/api/health``, ``/metrics``, ``/api/user`` (the admin's basic auth checked
  against the database, or the auth proxy's user and role from a whitelisted address, with
  every value of those headers it was sent and how many Authorization headers) and, at
  any other path, a page saying what it is.
- ``grafana cli --homepath=DIR --config=FILE admin reset-admin-password
  --password-from-stdin``: the admin password in the database, from stdin.

It reads no data source and no dashboard and draws nothing: whether Grafana accepts our
provisioning files and draws the dashboards is never tested here.

Example, on any machine with Python 3::

    python3 obslab/grafana_standin.py --version    # grafana version 0.0.0 (lab stand-in ...)
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import socket
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler

# The mirror writes the version it packs this program as here.
VERSION = "0.0.0"
IDENTITY = "lab stand-in for Grafana, not Grafana: observability-stack's obslab/grafana_standin.py"
FILE_VALUE = re.compile(r"\$__file\{([^}]+)\}")
ROLES = ("Viewer", "Editor", "Admin")
HASH_ITERATIONS = 10_000


class ConfigError(Exception):
    """grafana.ini lacks what the stand-in needs, or says it in a form it does not read."""


class Settings:
    """What the stand-in reads of grafana.ini."""

    def __init__(self, path: str) -> None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path) as config:
                parser.read_file(config)
            self.address = parser.get("server", "http_addr")
            self.port = parser.getint("server", "http_port")
            self.database = os.path.join(parser.get("paths", "data"), "grafana.db")
            self.admin_user = parser.get("security", "admin_user")
            self._admin_password = parser.get("security", "admin_password")
            self.proxy_enabled = parser.getboolean("auth.proxy", "enabled")
            self.user_header = parser.get("auth.proxy", "header_name")
            self.role_header = _role_header(parser.get("auth.proxy", "headers"))
            self.whitelist = {
                item.strip() for item in parser.get("auth.proxy", "whitelist").split(",")
            }
            self.default_role = parser.get("users", "auto_assign_org_role")
        except (OSError, configparser.Error, ValueError) as error:
            raise ConfigError(f"{path}: {error}") from error
        if self.default_role not in ROLES:
            raise ConfigError(f"{path}: [users] auto_assign_org_role: {self.default_role!r}")

    def admin_password(self) -> str:
        """The configured admin password, ``$__file{PATH}`` read from its file."""
        found = FILE_VALUE.fullmatch(self._admin_password)
        if not found:
            return self._admin_password
        with open(found.group(1)) as secret:
            return secret.read().rstrip("\n")


def _role_header(headers: str) -> str | None:
    """The header ``[auth.proxy] headers`` names for the role (``Role:X-HEADER``)."""
    for item in headers.split():
        key, _, header = item.partition(":")
        if key == "Role":
            return header
    return None


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac(
        "sha256", password.encode(), salt.encode(), HASH_ITERATIONS
    ).hex()


class Database:
    """The users: the admin, with a password, and the auth proxy's users with their role."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS user (login TEXT PRIMARY KEY, salt TEXT,"
            " password TEXT, role TEXT NOT NULL)"
        )

    def set_password(self, login: str, password: str) -> None:
        salt = secrets.token_hex(8)
        self.connection.execute(
            "INSERT INTO user VALUES (?, ?, ?, 'Admin') ON CONFLICT(login)"
            " DO UPDATE SET salt = excluded.salt, password = excluded.password",
            (login, salt, _hash(password, salt)),
        )

    def password_matches(self, login: str, password: str) -> bool:
        row = self.connection.execute(
            "SELECT salt, password FROM user WHERE login = ?", (login,)
        ).fetchone()
        return bool(row and row[1]) and hmac.compare_digest(_hash(password, row[0]), row[1])

    def sign_in(self, login: str, role: str) -> None:
        """The auth proxy's user, signed up at first sight; its role synced from the header."""
        self.connection.execute(
            "INSERT INTO user (login, role) VALUES (?, ?)"
            " ON CONFLICT(login) DO UPDATE SET role = excluded.role",
            (login, role),
        )


def open_database(settings: Settings) -> Database:
    """The database, created with the configured admin password if it does not exist."""
    created = not os.path.exists(settings.database)
    database = Database(settings.database)
    if created:
        database.set_password(settings.admin_user, settings.admin_password())
    return database


def serve_connection(settings: Settings, connection: socket.socket) -> None:
    """Answer the requests of one connection (handed over by bin/grafana on fd 3)."""
    database = Database(settings.database)

    class Handler(BaseHTTPRequestHandler):
        server_version = "grafana-lab-stand-in"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/api/health":
                database.connection.execute("SELECT 1")
                self._json(200, {"commit": "lab-stand-in", "database": "ok", "version": VERSION})
            elif path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", _metrics())
            else:
                login = self._login()
                if login is None:
                    self._json(401, {"message": "Unauthorized"})
                elif path == "/api/user":
                    self._json(200, login)
                else:
                    self._send(200, "text/html; charset=utf-8", _page(login))

        def _login(self) -> dict | None:
            """Who the request is, as Grafana's auth proxy or basic auth would say."""
            users = self.headers.get_all(settings.user_header) or []
            if settings.proxy_enabled and users:
                if self.client_address[0] not in settings.whitelist:
                    return None
                roles = (
                    (self.headers.get_all(settings.role_header) or [])
                    if settings.role_header
                    else []
                )
                role = roles[0] if roles and roles[0] in ROLES else settings.default_role
                database.sign_in(users[0], role)
                return {
                    "login": users[0],
                    "orgRole": role,
                    "authenticatedBy": "authproxy",
                    # What the proxy handed over, for the lab's tests (a login's password
                    # is only counted).
                    "received": {
                        settings.user_header: users,
                        settings.role_header: roles,
                        "Authorization": len(self.headers.get_all("Authorization") or []),
                    },
                }
            scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
            if scheme != "Basic":
                return None
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                return None
            if not database.password_matches(user, password):
                return None
            return {"login": user, "orgRole": "Admin", "authenticatedBy": "password"}

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # Like Grafana's router logging (off by default): failures only.
            if int(code) >= 400:
                super().log_request(code, size)

        def _json(self, status: int, body: dict) -> None:
            self._send(status, "application/json", json.dumps(body) + "\n")

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    Handler(connection, connection.getpeername(), None)
    connection.close()


def _metrics() -> str:
    return (
        "# HELP grafana_build_info A metric with a constant '1' value labeled by version.\n"
        "# TYPE grafana_build_info gauge\n"
        f'grafana_build_info{{edition="lab-stand-in",version="{VERSION}"}} 1\n'
    )


def _page(login: dict) -> str:
    return (
        "<!doctype html><title>Lab stand-in for Grafana</title>"
        f"<h1>This is the lab's stand-in for Grafana {html.escape(VERSION)}</h1>"
        "<p>Grafana cannot be obtained on the lab's machines, so the lab runs this small "
        "program in its place: the deploy installs, configures and checks it like Grafana, "
        "and the dashboards are provisioned in /etc/grafana/dashboards, but nothing draws "
        "them here.</p>"
        f"<p>You are {html.escape(login['login'])}, with the role "
        f"{html.escape(login['orgRole'])}.</p>"
    )


def _option(args: list[str], name: str) -> str:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    raise SystemExit(f"grafana (lab stand-in): --{name}=... is required")


def main(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-v"]):
        print(f"grafana version {VERSION} ({IDENTITY})")
        return 0
    command, options = (args[0], args[1:]) if args else ("", [])
    if command == "_prepare":
        settings = Settings(_option(options, "config"))
        open_database(settings)
        print(settings.address, settings.port)
        return 0
    if command == "_connection":
        serve_connection(Settings(_option(options, "config")), socket.socket(fileno=3))
        return 0
    if command == "cli" and [a for a in options if not a.startswith("--")] == [
        "admin", "reset-admin-password"
    ] and "--password-from-stdin" in options:
        settings = Settings(_option(options, "config"))
        password = sys.stdin.read().rstrip("\n")
        if not password:
            raise SystemExit("grafana (lab stand-in): no password on stdin")
        Database(settings.database).set_password(settings.admin_user, password)
        print("Admin password changed successfully")
        return 0
    raise SystemExit(f"grafana (lab stand-in): {' '.join(args)!r} is not something it does")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ConfigError as error:
        raise SystemExit(f"grafana (lab stand-in): {error}") from error
