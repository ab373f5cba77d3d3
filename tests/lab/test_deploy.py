"""After a deploy to the lab: accounts, files, units, ports, versions, APIs — on real hosts."""

from __future__ import annotations

import subprocess

import pytest
from conftest import LAB_INVENTORY, TEST_DATA, address, assert_unchanged, deploy, server_get
from waiting import wait_until

from obslab import machines
from obslab.services import MIRROR_DIR, mirror_releases
from obsstack.deploy import REPO_ROOT, DeployResult, _count_results, pyinfra_argv
from obsstack.history import list_releases

pytestmark = pytest.mark.lab

OBS = "obs"
ALL_HOSTS = [host.name for host in machines.HOSTS if host.groups]
DAEMONS = {
    # user, unit, listening address ("{host}": the host's own), data dir
    "node_exporter": (
        "node-exp", "node_exporter.service", "tcp://{host}:9100", "/var/lib/node_exporter"
    ),
    # Behind the proxy: loopback only.
    "prometheus": (
        "prometheus", "prometheus.service", "tcp://127.0.0.1:9090", "/var/lib/prometheus"
    ),
    "alertmanager": (
        "alertmanager", "alertmanager.service", "tcp://127.0.0.1:9093", "/var/lib/alertmanager"
    ),
}
SERVER_ONLY = ("prometheus", "alertmanager")


def daemons_on(name: str) -> list[str]:
    return ["node_exporter"] + (list(SERVER_ONLY) if name == OBS else [])


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_daemons_run_as_their_own_locked_down_users(deployed, hosts, name):
    host = hosts[name]
    for daemon in daemons_on(name):
        user, unit, listening, data_dir = DAEMONS[daemon]
        account = host.user(user)
        assert account.exists and account.shell == "/usr/sbin/nologin"
        assert host.file(data_dir).is_directory
        assert host.file(data_dir).user == user and host.file(data_dir).mode == 0o750
        service = host.service(unit)
        assert service.is_enabled and service.is_running
        own = "127.0.0.1" if name == OBS else address(name)
        assert host.socket(listening.format(host=own)).is_listening
        pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
        assert host.check_output(f"ps -o user= -p {pid}") == user
        unit_text = host.file(f"/etc/systemd/system/{unit}").content_string
        for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                          "PrivateTmp=yes"):
            assert hardening in unit_text


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_binaries_report_the_pinned_versions(deployed, hosts, name):
    pins = mirror_releases(MIRROR_DIR)
    for daemon in daemons_on(name):
        version = pins[daemon]["version"]
        binary = hosts[name].file(f"/usr/local/bin/{daemon}")
        assert binary.is_symlink and binary.linked_to == f"/opt/{daemon}/{version}/{daemon}"
        output = hosts[name].check_output(f"/usr/local/bin/{daemon} --version 2>&1 | head -n1")
        assert output.startswith(f"{daemon}, version {version}")


def test_config_files_are_private_to_their_daemon(deployed, hosts):
    host = hosts[OBS]
    for path, group in (
        ("/etc/prometheus/prometheus.yml", "prometheus"),
        ("/etc/prometheus/rules/node.rules.yml", "prometheus"),
        ("/etc/prometheus/file_sd/node.yml", "prometheus"),
        ("/etc/alertmanager/alertmanager.yml", "alertmanager"),
        ("/etc/alertmanager/smtp_password", "alertmanager"),
    ):
        config = host.file(path)
        assert (config.user, config.group, config.mode) == ("root", group, 0o640), path


def test_prometheus_scrapes_every_target_with_inventory_labels(deployed):
    def all_up():
        targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_until(all_up, timeout=60, what="every Prometheus target up")
    node_targets = {
        target["labels"]["instance"]: target["labels"]
        for target in targets
        if target["labels"]["job"] == "node"
    }
    assert set(node_targets) == set(ALL_HOSTS)
    assert node_targets[OBS]["role"] == "observability"
    assert node_targets["web1"]["role"] == "monitored"
    assert all(labels["env"] == "lab" for labels in node_targets.values())
    jobs = {t["labels"]["job"] for t in targets}
    # Plus the jobs of agents and probes, where the lab runs them (tests/lab/test_agents.py).
    assert {"node", "prometheus", "alertmanager"} <= jobs


def test_alertmanager_is_ready_and_knows_the_mail_route(deployed):
    assert server_get("/alertmanager/-/ready").status_code == 200
    status = server_get("/alertmanager/api/v2/status").json()
    assert "smtp_auth_password_file" in status["config"]["original"]
    assert "ops@lab.test" in status["config"]["original"]


def test_baseline_rules_are_loaded(deployed):
    groups = server_get("/prometheus/api/v1/rules").json()
    names = {rule["name"] for group in groups["data"]["groups"] for rule in group["rules"]}
    assert {"Watchdog", "InstanceDown"} <= names


def test_second_deploy_changes_nothing(deployed):
    assert_unchanged(deploy())


def test_a_plain_pyinfra_run_detects_agents_itself_and_changes_nothing(deployed):
    """``pyinfra inventories/lab.py deploys/site.py``, as a pyinfra user runs it: no
    detected_agents handed in, so every host's agents come from its facts."""
    argv = pyinfra_argv(LAB_INVENTORY, data=TEST_DATA, verbosity=1)  # -v: facts named
    run = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    result = DeployResult(run.returncode, run.stderr)
    _count_results(result, run.stdout)
    assert_unchanged(result)
    detected = [line for line in run.stderr.splitlines() if "DetectedAgents" in line]
    assert {"web1", "app1"} <= {name for name in ALL_HOSTS for line in detected if name in line}


def test_a_host_deployed_through_sudo_gets_the_same_as_the_others(deployed, hosts):
    """app1's deploys log in as the lab's deploy user and become root with sudo."""
    app1 = hosts["app1"]
    logins = app1.check_output("journalctl -u ssh -o cat | grep -c 'Accepted publickey for deploy'")
    assert int(logins) > 0, "deploys reached app1 as its deploy user"
    history = list_releases(LAB_INVENTORY)["app1"]
    assert history and history[0].current, "its release history reads like any other"
    for path, mode in (
        ("/etc/systemd/system/node_exporter.service", 0o644),
        ("/var/lib/observability-stack/digest.key", 0o600),
        (f"/var/lib/observability-stack/releases/{history[0].id}.json", 0o600),
    ):
        written = app1.file(path)
        assert (written.user, written.group, written.mode) == ("root", "root", mode), path
    # Uploads went through private directories, all gone.
    assert app1.run("ls -d /tmp/obs-upload.* 2>/dev/null").stdout == ""
