"""The lab's background daemons on the controller: one each, found again, replaced, stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from obslab import machines, services
from obslab.mailcatcher import TlsIdentity

# A stand-in daemon: listens on the port given, until SIGTERM ends it.
LISTEN_FOREVER = (
    "import socket, sys, time\n"
    "server = socket.create_server(('127.0.0.1', int(sys.argv[1])))\n"
    "time.sleep(3600)\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def daemon(tmp_path, monkeypatch) -> Iterator[services.Daemon]:
    """A daemon listening on loopback; its argv is unique to this test (no other matches)."""
    monkeypatch.setattr(machines, "STATE_DIR", tmp_path)
    port = free_port()
    test_daemon = services.Daemon(
        "test-daemon",
        (sys.executable, "-c", LISTEN_FOREVER, str(port), uuid.uuid4().hex),
        (("127.0.0.1", port),),
    )
    yield test_daemon
    test_daemon.stop()


def test_a_daemon_starts_once_and_stops(daemon):
    daemon.start()
    pid = daemon.recorded_pid()
    daemon.start()

    assert daemon.processes() == {pid}
    assert daemon.pid_file == machines.STATE_DIR / "test-daemon.pid"
    daemon.stop()
    assert daemon.processes() == set()
    assert not daemon.pid_file.exists()


def test_an_instance_without_our_record_is_replaced(daemon, tmp_path):
    # Started through another path to the same program, as by another virtualenv.
    other_path = tmp_path / "python-elsewhere"
    other_path.symlink_to(sys.executable)
    stray = subprocess.Popen([str(other_path), *daemon.argv[1:]])
    try:
        machines.wait_for(lambda: daemon.processes() == {stray.pid}, 5, "the stray's argv in /proc")

        daemon.start()

        assert stray.poll() is not None
        assert daemon.processes() == {daemon.recorded_pid()} != {stray.pid}
    finally:
        stray.kill()
        stray.wait()


def test_a_daemon_that_exits_at_once_is_reported_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(machines, "STATE_DIR", tmp_path)
    failing = services.Daemon(
        "broken",
        (sys.executable, "-c", "print('no such config'); raise SystemExit(3)", uuid.uuid4().hex),
        (("127.0.0.1", free_port()),),
    )

    with pytest.raises(machines.LabError, match=r"exited with status 3(.|\n)*no such config"):
        failing.start()


def test_pebble_serves_acme_on_the_gateway_with_the_labs_identity():
    identity = TlsIdentity(Path("/lab/ca.pem"), Path("/lab/server.pem"), Path("/lab/server.key"))

    config = services.pebble_config(identity)["pebble"]

    assert config["listenAddress"] == "10.99.0.1:14000"
    assert config["managementListenAddress"] == "10.99.0.1:15000"
    assert (config["certificate"], config["privateKey"]) == ("/lab/server.pem", "/lab/server.key")
    assert (config["httpPort"], config["tlsPort"]) == (80, 443)
    assert services.ACME_DIRECTORY_URL == "https://10.99.0.1:14000/dir"
    assert services.ACME_CA_BUNDLE == services.SMTP_IDENTITY_DIR / "ca.pem"


def test_pebble_runs_without_random_sleeps_nonce_rejections_or_authorization_reuse():
    assert services.PEBBLE.argv[1:3] == ("-config", str(services.PEBBLE_CONFIG))
    assert dict(services.PEBBLE.environment) == {
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
