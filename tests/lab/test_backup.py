"""Backups of the lab's observability server with the real restic, to a real SFTP server.

The repository is on outsider (obslab/services.py: an SFTP-only account there, whose key
the server's generated ``backup_sftp_key`` is): a host that is not the server, as a
storage host elsewhere would be. Everything runs as users run it: the timers' own units
(``invoke backup``, ``backup.check``, ``backup.drill`` start them), ``invoke backups`` and
``invoke restore``. test_disaster_recovery.py loses the whole server and restores it.
"""

from __future__ import annotations

import json
import time
from secrets import token_hex

import pytest
from conftest import (
    LAB_INVENTORY,
    OBS_NAME,
    PROXY_USER,
    deploy,
    invoke,
    on_host,
    prometheus_query,
    prometheus_query_at,
    proxy_password,
    proxy_request,
    server_get,
    silence,
    watching_argv,
)
from waiting import wait_until

from obslab import services
from obsstack import backups, secrets
from obsstack.catalog.backup import (
    BACKUP_CONFIG_DIR,
    BACKUP_PASSWORD,
    BACKUP_SCRIPT,
    BACKUP_SFTP_KEY,
)
from obsstack.sshkey import private_key_file

pytestmark = pytest.mark.lab

PASSWORD_FILE = BACKUP_PASSWORD.kept_in
SNAPSHOTS_DIR = "/var/lib/prometheus/snapshots"


def metric(name: str) -> float:
    """The server's value of a backup metric, as Prometheus scraped it (job node)."""
    result = prometheus_query(f'{name}{{job="node", instance="{OBS_NAME}"}}')
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def scraped_after(name: str, moment: float) -> None:
    """Wait until Prometheus holds a value of ``name`` written after ``moment``."""
    wait_until(lambda: metric(name) > moment, timeout=60, what=f"{name} newer than {moment:.0f}")


def silences() -> list[dict]:
    return server_get("/alertmanager/api/v2/silences").json()


def silence_state(silence_id: str) -> str:
    return server_get(f"/alertmanager/api/v2/silence/{silence_id}").json()["status"]["state"]


@pytest.fixture(scope="module")
def backed_up(deployed) -> list[backups.Snapshot]:
    """A backup made now through ``invoke backup``; the snapshots afterwards."""
    started = time.time()
    ran = invoke("backup", "-i", LAB_INVENTORY)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "snapshot " in ran.stdout, ran.stdout
    scraped_after("obs_backup_last_success_timestamp_seconds", started)
    return backups.list_snapshots(LAB_INVENTORY)[OBS_NAME]


def test_admin_api_is_on_loopback_and_closed_at_the_proxy(deployed):
    """The backup's TSDB snapshot needs Prometheus' admin API; users never reach it."""
    direct = on_host(
        OBS_NAME,
        "curl -s -o /dev/null -w '%{http_code}' -X POST "
        "http://127.0.0.1:9090/prometheus/api/v1/admin/tsdb/clean_tombstones",
    )
    assert direct.stdout == "204", direct.stdout + direct.stderr
    for method, path in (
        ("POST", "/prometheus/api/v1/admin/tsdb/snapshot"),
        ("PUT", "/prometheus/api/v1/admin/tsdb/clean_tombstones"),
        ("POST", "/prometheus/api/v1/admin/tsdb/delete_series?match[]=up"),
        ("POST", "/prometheus/api/v1/%61dmin/tsdb/snapshot"),
    ):
        status = on_host(
            OBS_NAME,
            f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} -K - "
            f"--resolve obs.lab.test:443:127.0.0.1 -k 'https://obs.lab.test{path}'",
            stdin=f'user = "{PROXY_USER}:{proxy_password()}"\n',
        )
        assert status.stdout == "403", (method, path, status.stdout)
    # No snapshot was taken by any of those.
    assert on_host(OBS_NAME, f"ls -A {SNAPSHOTS_DIR}").stdout == ""


def test_a_backup_holds_every_part_and_reports_it(backed_up):
    newest = backed_up[0]
    assert newest.parts == list(backups.PARTS)
    assert newest.size_bytes > 100_000 and newest.files > 10, newest
    # invoke backups --json is what a machine reads; the table what a person does.
    listed = invoke("backups", "-i", LAB_INVENTORY, "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[OBS_NAME][0]["id"] == newest.id
    table = invoke("backups", "-i", LAB_INVENTORY)
    assert newest.id in table.stdout and "prometheus,alertmanager" in table.stdout
    # The metrics, through Prometheus.
    assert metric("obs_backup_last_run_success") == 1
    assert metric("obs_backup_snapshots") == len(backed_up)
    assert metric("obs_backup_size_bytes") == newest.size_bytes
    assert metric("obs_backup_duration_seconds") > 0
    # The TSDB snapshot it took is gone again; nothing is left in the staging area's place.
    assert on_host(OBS_NAME, f"ls -A {SNAPSHOTS_DIR}").stdout == ""


def test_the_repository_check_and_the_drill_pass_and_say_so(backed_up):
    started = time.time()
    checked = invoke("backup.check", "-i", LAB_INVENTORY)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no errors were found" in checked.stdout
    drilled = invoke("backup.drill", "-i", LAB_INVENTORY)
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    assert f"restore drill of snapshot {backed_up[0].id} passed" in drilled.stdout
    assert "up series at the first sample" in drilled.stdout
    scraped_after("obs_backup_drill_last_success_timestamp_seconds", started)
    assert metric("obs_backup_check_success") == 1
    assert metric("obs_backup_drill_success") == 1
    # The drill's throwaway Prometheus and its scratch copy are gone.
    assert on_host(OBS_NAME, "pgrep -f 'storage.tsdb.path=/var/tmp'").returncode == 1
    assert on_host(OBS_NAME, "ls /var/tmp | grep -c obs-backup-drill").stdout.strip() in ("", "0")


def test_a_wrong_password_is_a_clear_error_and_changes_nothing(backed_up):
    before = on_host(OBS_NAME, "cat /var/lib/node_exporter/obs_backup_backup.prom").stdout
    inode = on_host(OBS_NAME, "stat -c %i /var/lib/alertmanager").stdout
    swapped = on_host(
        OBS_NAME,
        f"cp -p {PASSWORD_FILE} {PASSWORD_FILE}.good && echo not-the-password > {PASSWORD_FILE}",
    )
    assert swapped.returncode == 0, swapped.stderr
    try:
        ran = invoke("backup", "-i", LAB_INVENTORY)
        # The script itself: invoke restore would first put the right password back.
        restored = on_host(OBS_NAME, f"{BACKUP_SCRIPT} restore --only alertmanager --yes")
    finally:
        back = on_host(OBS_NAME, f"mv {PASSWORD_FILE}.good {PASSWORD_FILE}")
        assert back.returncode == 0, back.stderr
    for output, status in ((ran.stdout, ran.returncode), (restored.stderr, restored.returncode)):
        assert status != 0
        assert "refuses the password in backup_password" in output, output
        assert "nothing was changed" in output
    # No snapshot was taken, nothing was restored, and the failed run says so.
    assert on_host(OBS_NAME, f"ls -A {SNAPSHOTS_DIR}").stdout == ""
    assert on_host(OBS_NAME, "stat -c %i /var/lib/alertmanager").stdout == inode
    after = on_host(OBS_NAME, "cat /var/lib/node_exporter/obs_backup_backup.prom").stdout
    assert "obs_backup_last_run_success 0" in after
    assert before != after
    assert len(backups.list_snapshots(LAB_INVENTORY)[OBS_NAME]) == len(backed_up)


def test_a_rebuilt_server_given_the_wrong_secret_is_refused_before_anything_changes(backed_up):
    """A server without the repository's password (a rebuilt one) and a backup_password
    that is not the repository's: the restore's deploy of the backup tools refuses to put
    that password in place, and no restore runs."""
    inode = on_host(OBS_NAME, "stat -c %i /var/lib/alertmanager").stdout
    aside = on_host(OBS_NAME, f"mv {PASSWORD_FILE} {PASSWORD_FILE}.good")
    assert aside.returncode == 0, aside.stderr
    try:
        wrong = {secrets.env_name(BACKUP_PASSWORD.name): "a-password-that-opens-nothing-here"}
        restored = invoke("restore", "-i", LAB_INVENTORY, "--only", "alertmanager", env=wrong)
        still_missing = on_host(OBS_NAME, f"test -e {PASSWORD_FILE}").returncode == 1
    finally:
        back = on_host(OBS_NAME, f"mv {PASSWORD_FILE}.good {PASSWORD_FILE}")
        assert back.returncode == 0, back.stderr
    assert restored.returncode != 0
    output = restored.stdout + restored.stderr
    assert "refuses the new password and there is no current one" in output, output[-3000:]
    assert "could not install the backup tools" in output
    assert still_missing
    assert on_host(OBS_NAME, "stat -c %i /var/lib/alertmanager").stdout == inode


def test_a_backup_killed_half_way_leaves_the_repository_sound(backed_up):
    """restic killed while it uploads: the repository still checks clean and the next
    backup succeeds (a bulk file in Grafana's directory makes the upload take a while)."""
    bulk = "/var/lib/grafana/bulk-for-test"
    made = on_host(OBS_NAME, f"head -c 400M /dev/urandom > {bulk}")
    assert made.returncode == 0, made.stderr
    try:
        on_host(OBS_NAME, "systemctl start --no-block obs-backup.service")

        def uploading() -> str | None:
            pid = on_host(OBS_NAME, "pgrep -f '^restic .* backup --json'").stdout.split()
            if not pid:
                return None
            read = on_host(OBS_NAME, f"awk '/^rchar/ {{print $2}}' /proc/{pid[0]}/io").stdout
            return pid[0] if read.strip() and int(read) > 50_000_000 else None

        pid = wait_until(uploading, timeout=120, what="restic to be uploading", interval=0.1)
        assert on_host(OBS_NAME, f"kill -9 {pid}").returncode == 0
        wait_until(
            lambda: (
                on_host(OBS_NAME, "systemctl is-active obs-backup.service").stdout.strip()
                == "failed"
            ),
            timeout=60,
            what="the killed backup's unit to fail",
        )
    finally:
        on_host(OBS_NAME, f"rm -f {bulk}")
    checked = invoke("backup.check", "-i", LAB_INVENTORY)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no errors were found" in checked.stdout
    ran = invoke("backup", "-i", LAB_INVENTORY)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The killed run's Prometheus snapshot went with the next run.
    assert on_host(OBS_NAME, f"ls -A {SNAPSHOTS_DIR}").stdout == ""


def test_a_restore_refuses_newer_data_and_with_yes_puts_the_backup_back(deployed):
    comment = f"kept by the backup {token_hex(4)}"
    created = proxy_request("POST", "/alertmanager/api/v2/silences", json=silence(comment))
    assert created.status_code == 200, created.text
    kept = created.json()["silenceID"]
    ran = invoke("backup", "-i", LAB_INVENTORY)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    backup_time = time.time()
    # After the backup: the silence is expired and Prometheus goes on writing.
    expired = proxy_request("DELETE", f"/alertmanager/api/v2/silence/{kept}")
    assert expired.status_code == 200
    inode = on_host(OBS_NAME, "stat -c %i /var/lib/prometheus").stdout
    refused = invoke("restore", "-i", LAB_INVENTORY, "--only", "prometheus,alertmanager")
    assert refused.returncode == backups.REFUSED, refused.stdout + refused.stderr
    assert "prometheus: /var/lib/prometheus changed" in refused.stdout
    assert "nothing was changed" in refused.stdout
    assert on_host(OBS_NAME, "stat -c %i /var/lib/prometheus").stdout == inode
    assert silence_state(kept) == "expired"

    restored = invoke("restore", "-i", LAB_INVENTORY, "--only", "prometheus,alertmanager", "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored prometheus" in restored.stdout and "restored alertmanager" in restored.stdout
    assert on_host(OBS_NAME, "stat -c %i /var/lib/prometheus").stdout != inode
    # The silence is active again (recreated: Alertmanager had not written it to disk).
    active = [s for s in silences() if s["comment"] == comment]
    assert [s["status"]["state"] for s in active if s["status"]["state"] == "active"] == ["active"]
    # The series from before the backup answer at their time; the server is healthy.
    before = prometheus_query_at('up{job="prometheus"}', backup_time - 15)
    assert before and before[0]["value"][1] == "1", before
    assert "0 fail" in restored.stdout, restored.stdout[-2000:]
    # Owners are this server's users again.
    owners = on_host(OBS_NAME, "stat -c %U /var/lib/prometheus /var/lib/alertmanager").stdout
    assert owners.split() == ["prometheus", "alertmanager"]


def test_the_backup_secrets_never_show_in_argv_or_output(backed_up):
    """A new repository password goes live only once the repository took it, and neither
    password, nor the SFTP key, shows in any process' argv, the deploy's -vvv --diff output
    or a file others can read, through a deploy, a backup, a drill and a restore."""
    store = services.SECRETS_DIR
    old_password = secrets.read(BACKUP_PASSWORD.name, store)
    seed = secrets.read(BACKUP_SFTP_KEY.name, store)
    key_line = private_key_file(seed).splitlines()[1]
    secrets.rotate(BACKUP_PASSWORD.name, store, include_provided=True)
    new_password = secrets.read(BACKUP_PASSWORD.name, store)
    needles = [old_password, new_password, seed, key_line]
    with watching_argv(needles, on=OBS_NAME):
        result = deploy(verbosity=3, diff=True)
        ran = invoke("backup", "-i", LAB_INVENTORY)
        drilled = invoke("backup.drill", "-i", LAB_INVENTORY)
        restored = invoke("restore", "-i", LAB_INVENTORY, "--only", "history", "--yes")
    assert result.ok, result.log[-3000:]
    for output in (result.log, ran.stdout + ran.stderr, drilled.stdout, restored.stdout):
        for needle in needles:
            assert needle not in output
    assert ran.returncode == 0 and drilled.returncode == 0 and restored.returncode == 0
    # The repository opens with the new password only (restic reads each from stdin).
    for password, status in ((new_password, 0), (old_password, 12)):
        opened = on_host(
            OBS_NAME,
            f"RESTIC_REPOSITORY_FILE={BACKUP_CONFIG_DIR}/repository "
            "RESTIC_PASSWORD_FILE=/dev/stdin "
            f"restic -o 'sftp.args=-F /dev/null -i {BACKUP_SFTP_KEY.kept_in} "
            f"-o UserKnownHostsFile={BACKUP_CONFIG_DIR}/known_hosts' cat config",
            stdin=password + "\n",
        )
        assert opened.returncode == status, opened.stderr
    modes = on_host(OBS_NAME, f"stat -c '%a %U %G %n' {BACKUP_CONFIG_DIR} {BACKUP_CONFIG_DIR}/*")
    for line in modes.stdout.splitlines():
        mode, user, group, _ = line.split(" ", 3)
        assert user == "root" and group == "root", line
        assert mode in ("700", "600"), line
