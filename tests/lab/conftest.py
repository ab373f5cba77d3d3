"""Fixtures for tests on the lab: real Debian 13 hosts booted with systemd-nspawn.

The lab needs root and systemd-nspawn. Outside CI a missing prerequisite skips these tests
with the reason; in CI (``CI`` set) or with ``OBS_REQUIRE_LAB=1`` it fails them instead,
so a green CI run always means the lab tests ran.

Release archives cannot be downloaded on our CI machines: the lab installs from a local
mirror of release-shaped archives built from the Debian 12 and 13 packages' binaries
(obsstack/mirror.py), pinned by the sha256 computed when the mirror was built.
"""

from __future__ import annotations

import functools
import os
import runpy
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
import testinfra

from obsstack import lab, labdata, secrets
from obsstack.deploy import DeployResult, run_deploy
from obsstack.mailcatcher import Spool

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = labdata.LAB_INVENTORY
OBS_NAME = "obs"
LAB_ORDER = ("test_lab.py",)  # lifecycle tests reboot hosts: run them before the deploy tests
# Short durations so alerts fire within seconds, configured for the tests (no sleeps).
# pyinfra replaces whole keys, so alert_rules is the full default dict with one change.
TEST_DATA = {
    "alertmanager_group_wait": "1s",
    "alertmanager_group_interval": "5s",
    "alert_rules": {
        **runpy.run_path(str(REPO / "group_data" / "all.py"))["alert_rules"],
        "instance_down_for": "10s",
    },
}


def lab_unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (systemd-nspawn, bridges, NAT)"
    if not Path("/proc/sys/net/ipv4/ip_forward").exists():
        return "no IPv4 forwarding control: not a machine the lab can run on"
    return None


def pytest_collection_modifyitems(config, items):
    def order(item) -> int:
        name = Path(str(item.fspath)).name
        return LAB_ORDER.index(name) if name in LAB_ORDER else len(LAB_ORDER)

    items.sort(key=order)


def require_lab() -> None:
    """Skip (or, in CI, fail) the calling test when the lab cannot run here."""
    reason = lab_unavailable_reason()
    if reason:
        if os.environ.get("CI") or os.environ.get("OBS_REQUIRE_LAB"):
            pytest.fail(f"lab tests are required here but cannot run: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_ready() -> None:
    require_lab()
    lab.up()
    labdata.prepare()


@pytest.fixture(scope="session")
def mail(lab_ready) -> Spool:
    """What the lab's SMTP relay (started by lab_ready, always running) has received."""
    return labdata.mail_spool()


def deploy(verbosity: int = 0, diff: bool = False, **data) -> DeployResult:
    """Deploy to the lab like a user, with the test durations plus ``data`` overrides."""
    return run_deploy(
        LAB_INVENTORY, data={**TEST_DATA, **data}, verbosity=verbosity, diff=diff, echo=False
    )


@pytest.fixture(scope="session")
def deployed(lab_ready, mail) -> DeployResult:
    result = deploy()
    assert result.ok, result.log[-5000:]
    return result


@pytest.fixture(scope="session")
def ssh_config(lab_ready, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ssh") / "config"
    path.write_text(
        "".join(
            f"Host {host.name}\n  HostName {host.address}\n  User root\n"
            f"  IdentityFile {lab.SSH_KEY}\n  UserKnownHostsFile {lab.KNOWN_HOSTS}\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n"
            for host in lab.HOSTS
        )
    )
    return path


@pytest.fixture(scope="session")
def hosts(ssh_config):
    """testinfra connections by lab host name."""
    return {
        host.name: testinfra.get_host(f"ssh://{host.name}", ssh_config=str(ssh_config))
        for host in lab.HOSTS
    }


def address(name: str) -> str:
    return next(host.address for host in lab.HOSTS if host.name == name)


PROXY_USER = "admin"  # the proxy user group_data/observability.py defines


@functools.cache
def _pebble_root_file(pebble_pid: int | None) -> str:
    """pebble's current root in a file; pebble makes a new root whenever it starts."""
    path = Path(tempfile.mkdtemp(prefix="obs-pebble-")) / "root.pem"
    path.write_text(labdata.pebble_root())
    return str(path)


def pebble_root_file() -> str:
    return _pebble_root_file(labdata.PEBBLE.recorded_pid())


def proxy_password(user: str = PROXY_USER) -> str:
    return secrets.read(secrets.proxy_password_name(user), labdata.SECRETS_DIR)


ADMIN = ("admin credentials",)  # server_get's default: the proxy admin's current password


def server_get(
    path: str, auth: tuple[str, ...] | None = ADMIN, **kwargs: object
) -> requests.Response:
    """GET ``path`` from the observability server as a user does: HTTPS for the lab's
    domain, the certificate checked against pebble's root, the admin's basic auth
    (``auth=None``: no credentials at all)."""
    return requests.get(
        f"https://{lab.LAB_DOMAIN}{path}",
        auth=(PROXY_USER, proxy_password()) if auth is ADMIN else auth,
        verify=pebble_root_file(),
        timeout=10,
        **kwargs,
    )


def prometheus_query(expression: str) -> list[dict]:
    """The result vector of an instant query, through the proxy as a user makes it."""
    answer = server_get("/prometheus/api/v1/query", params={"query": expression}).json()
    return answer["data"]["result"]


def on_host(name: str, command: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run ``command`` on lab host ``name`` over SSH (``stdin`` fed to it)."""
    return subprocess.run(
        lab.ssh_argv(name, command),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tcp_connects(source: str, target: str, port: int) -> bool:
    """Whether a TCP connection from lab host ``source`` to ``target:port`` opens within 3 s."""
    return on_host(source, f"timeout 3 bash -c 'exec 3<>/dev/tcp/{target}/{port}'").returncode == 0
