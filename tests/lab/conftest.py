"""Fixtures for tests on the lab: real Debian 13 hosts booted with systemd-nspawn.

The lab needs root and systemd-nspawn. Outside CI a missing prerequisite skips these tests
with the reason; in CI (``CI`` set) or with ``OBS_REQUIRE_LAB=1`` it fails them instead,
so a green CI run always means the lab tests ran.

Release archives cannot be downloaded on our CI machines: the lab installs from a local
mirror of release-shaped archives built from the Debian 12 and 13 packages' binaries
(obsstack/mirror.py), pinned by the sha256 computed when the mirror was built.
"""

from __future__ import annotations

import contextlib
import functools
import os
import runpy
import secrets as token_source
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import testinfra
from argv_sampler import ArgvSampler
from prerequisites import require

from obslab import machines, services
from obslab.mailcatcher import Spool
from obsstack import secrets
from obsstack.catalog.server import PROXY_PASSWORD
from obsstack.deploy import DeployResult, run_deploy

REPO = Path(__file__).resolve().parents[2]
LAB_INVENTORY = services.LAB_INVENTORY
OBS_NAME = "obs"
LAB_ORDER = ("test_lab.py",)  # lifecycle tests reboot hosts: run them before the deploy tests
LAB_LAST = ("test_disaster_recovery.py",)  # replaces the server every other test talks to
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
# Debian 12's Alertmanager 0.25 (the mirror's older release) has no url_file for webhooks:
# the lab's receivers stay out while it runs (with them, its check of alertmanager.yml
# stops the deploy).
ALERTMANAGER_0_25 = {
    "alertmanager_receivers": {},
    "alertmanager_routes": [],
    "alertmanager_time_intervals": {},
    "alertmanager_heartbeat": None,
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
        if name in LAB_LAST:
            return len(LAB_ORDER) + 1 + LAB_LAST.index(name)
        return LAB_ORDER.index(name) if name in LAB_ORDER else len(LAB_ORDER)

    items.sort(key=order)


def require_lab() -> None:
    """Skip (or, in CI, fail) the calling test when the lab cannot run here."""
    reason = lab_unavailable_reason()
    require(reason is None, f"the lab: {reason}")


@pytest.fixture(scope="session")
def lab_ready() -> None:
    require_lab()
    machines.up()
    services.prepare()


@pytest.fixture(scope="session")
def mail(lab_ready) -> Spool:
    """What the lab's SMTP relay (started by lab_ready, always running) has received."""
    return services.mail_spool()


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
def web1_services(deployed):
    """web1 with the services a user's web server runs (tests/lab/web_services.py)."""
    from web_services import install_web_services

    return install_web_services(deploy)


@pytest.fixture(scope="session")
def ssh_config(lab_ready, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ssh") / "config"
    path.write_text(
        "".join(
            f"Host {host.name}\n  HostName {host.address}\n  User root\n"
            f"  IdentityFile {machines.SSH_KEY}\n  UserKnownHostsFile {machines.KNOWN_HOSTS}\n"
            "  StrictHostKeyChecking yes\n  BatchMode yes\n"
            for host in machines.HOSTS
        )
    )
    return path


@pytest.fixture(scope="session")
def hosts(ssh_config):
    """testinfra connections by lab host name."""
    return {
        host.name: testinfra.get_host(f"ssh://{host.name}", ssh_config=str(ssh_config))
        for host in machines.HOSTS
    }


def address(name: str) -> str:
    return next(host.address for host in machines.HOSTS if host.name == name)


PROXY_USER = "admin"  # the proxy user group_data/observability.py defines


@functools.cache
def _pebble_root_file(pebble_pid: int | None) -> str:
    """pebble's current root in a file; pebble makes a new root whenever it starts."""
    path = Path(tempfile.mkdtemp(prefix="obs-pebble-")) / "root.pem"
    path.write_text(services.pebble_root())
    return str(path)


def pebble_root_file() -> str:
    return _pebble_root_file(services.PEBBLE.recorded_pid())


def proxy_password(user: str = PROXY_USER) -> str:
    return secrets.read(PROXY_PASSWORD.name_for(user), services.SECRETS_DIR)


ADMIN = ("admin credentials",)  # server_get's default: the proxy admin's current password


def server_get(
    path: str, auth: tuple[str, ...] | None = ADMIN, **kwargs: object
) -> requests.Response:
    """GET ``path`` from the observability server as a user does: HTTPS for the lab's
    domain, the certificate checked against pebble's root, the admin's basic auth
    (``auth=None``: no credentials at all)."""
    return requests.get(
        f"https://{machines.LAB_DOMAIN}{path}",
        auth=(PROXY_USER, proxy_password()) if auth is ADMIN else auth,
        verify=pebble_root_file(),
        timeout=10,
        **kwargs,
    )


def prometheus_query(expression: str) -> list[dict]:
    """The result vector of an instant query, through the proxy as a user makes it."""
    answer = server_get("/prometheus/api/v1/query", params={"query": expression}).json()
    return answer["data"]["result"]


def prometheus_query_at(expression: str, moment: float) -> list[dict]:
    answer = server_get(
        "/prometheus/api/v1/query", params={"query": expression, "time": f"{moment:.3f}"}
    ).json()
    return answer["data"]["result"]


def proxy_request(method: str, path: str, **kwargs: object) -> requests.Response:
    """A request through the proxy as its admin, TLS checked against the lab's CA."""
    return requests.request(
        method,
        f"https://{machines.LAB_DOMAIN}{path}",
        auth=(PROXY_USER, proxy_password()),
        verify=pebble_root_file(),
        timeout=10,
        **kwargs,
    )


def silence(comment: str, hours: int = 2) -> dict:
    now = time.time()
    return {
        "matchers": [{"name": "alertname", "value": "BackupTest", "isRegex": False}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + hours * 3600)),
        "createdBy": "test_backup",
        "comment": comment,
    }


def invoke(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """An invoke task as a user runs it, from the repository (``env``: more variables)."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *arguments],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def on_host(name: str, command: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run ``command`` on lab host ``name`` over SSH (``stdin`` fed to it)."""
    return subprocess.run(
        machines.ssh_argv(name, command),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tcp_connects(source: str, target: str, port: int) -> bool:
    """Whether a TCP connection from lab host ``source`` to ``target:port`` opens within 3 s.

    An SSH failure is an error, never "closed": a closed-port check must not pass because
    the check itself could not run. Pair each "closed" with an "open" control anyway.
    """
    result = on_host(source, f"timeout 3 bash -c 'exec 3<>/dev/tcp/{target}/{port}'")
    if result.returncode == 255:
        raise AssertionError(f"cannot run the check on {source}: {result.stderr}")
    return result.returncode == 0


def curl_from_outsider(
    path: str, password: str | None, headers: dict[str, str] | None = None
) -> int:
    """HTTP status of ``path`` fetched by curl on outsider (a stranger on the internet) as
    PROXY_USER with ``password`` (None: no login) and extra ``headers``, pebble's root
    trusted (the ``outsider_trusts_pebble`` fixture puts it there).

    The credentials reach curl as a config file on stdin: never in a command line.
    """
    config = f'user = "{PROXY_USER}:{password}"\n' if password else ""
    options = "".join(f" -H '{name}: {value}'" for name, value in (headers or {}).items())
    result = on_host(
        "outsider",
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert /tmp/pebble-root.pem -K -"
        f"{options} https://{machines.LAB_DOMAIN}{path}",
        stdin=config,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.fixture(scope="module")
def outsider_trusts_pebble(deployed) -> None:
    with open(pebble_root_file()) as root:
        result = on_host("outsider", "cat > /tmp/pebble-root.pem", stdin=root.read())
    assert result.returncode == 0, result.stderr


# Every host pyinfra deploys in the lab (outsider is in no group).
DEPLOYED = frozenset(host.name for host in machines.HOSTS if host.groups)


def assert_unchanged(result: DeployResult, hosts: frozenset[str] = DEPLOYED) -> None:
    """A deploy that succeeded, reported on every one of ``hosts``, and changed nothing."""
    assert result.ok, result.log[-3000:]
    assert result.hosts >= hosts, f"pyinfra reported only {sorted(result.hosts)}"
    assert result.total_changed == 0, result.changed


# The sampler sweeps /proc some hundred times a second; a gap this long would let a
# command's argv (a short-lived process) go unseen.
LONGEST_SAMPLER_GAP = 0.25


@contextlib.contextmanager
def watching_argv(needles: list[str], on: str = "web1") -> Iterator[ArgvSampler]:
    """Sample every argv while the block runs; afterwards prove the sampler could see: a
    process with a random marker, run on lab host ``on`` meanwhile (its command reaches
    the host on stdin, so the marker is in that host's process only), and pyinfra's own
    command line on the controller."""
    marker = f"obs-argv-marker-{token_source.token_hex(8)}"
    with ArgvSampler(needles, markers=[marker, "deploys/site.py"]) as sampler:
        running = threading.Thread(
            target=on_host, args=(on, "bash -s"), kwargs={"stdin": f"exec -a {marker} sleep 3"}
        )
        running.start()
        yield sampler
        running.join()
    assert sampler.hits == [], sampler.hits
    assert sampler.saw(marker), "the sampler never saw the marker process on the lab host"
    assert sampler.saw("deploys/site.py"), "the sampler never saw pyinfra's command line"
    assert sampler.longest_gap < LONGEST_SAMPLER_GAP, f"blind for {sampler.longest_gap:.3f}s"


# What a deploy decides on a host: its managed configs, units and binary links.
STATE_SCRIPT = r"""
for f in /etc/prometheus/prometheus.yml /etc/prometheus/rules/*.yml /etc/prometheus/file_sd/*.yml \
         /etc/alertmanager/alertmanager.yml /etc/blackbox_exporter/blackbox.yml \
         /etc/loki/config.yml /etc/loki/rules/fake/*.yml \
         /etc/systemd/system/*.service /etc/systemd/system/*.timer \
         /etc/nginx/conf.d/observability-stack*.conf \
         /etc/grafana/grafana.ini /etc/grafana/provisioning/*/*.yml \
         /etc/grafana/dashboards/*/*.json; do
  [ -f "$f" ] && md5sum "$f"
done
for link in /usr/local/bin/*; do [ -L "$link" ] && echo "link $link $(readlink "$link")"; done
true
"""


def host_state(name: str) -> dict[str, str]:
    """``{path: md5 or link target}`` of what a deploy manages on lab host ``name``, read on
    the host itself (not from the tool's release records)."""
    result = on_host(name, "bash -s", stdin=STATE_SCRIPT)
    assert result.returncode == 0, result.stderr
    state = {}
    for line in result.stdout.splitlines():
        if line.startswith("link "):
            _, path, target = line.split(" ", 2)
            state[path] = target
        else:
            checksum, path = line.split(None, 1)
            state[path] = checksum
    return state


RUNNING_SCRIPT = r"""
for unit in node_exporter prometheus alertmanager loki blackbox_exporter \
            nginx_exporter mysqld_exporter grafana; do
  pid=$(systemctl show -p MainPID --value "$unit.service" 2>/dev/null)
  [ -n "$pid" ] && [ "$pid" != 0 ] && echo "$unit $(readlink "/proc/$pid/exe")"
done
true
"""


def running_versions(name: str) -> dict[str, str]:
    """``{component: version}`` of the processes running now on lab host ``name``, from
    the binary each one was started from (``/opt/<component>/<version>/...``)."""
    result = on_host(name, "bash -s", stdin=RUNNING_SCRIPT)
    assert result.returncode == 0, result.stderr
    versions = {}
    for line in result.stdout.splitlines():
        component, executable = line.split(" ", 1)
        parts = executable.removesuffix(" (deleted)").split("/")
        assert parts[1:3] == ["opt", component], executable
        versions[component] = parts[3]
    return versions
