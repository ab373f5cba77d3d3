"""The backups' pieces that need no host: the SSH key made from its secret, the units of
the scheduled jobs, what the server's script is told to back up, the controller's checks
of a restore request, and the script's metrics and summaries."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest

from deploys.backup import jobs, script_config
from obsstack.backups import PARTS, BackupError, parse_snapshots, restore_arguments
from obsstack.catalog import setting_defaults
from obsstack.catalog.backup import repository_kind
from obsstack.render import TEMPLATES_DIR
from obsstack.sshkey import private_key_file, public_key_line
from operations.scheduled import ScheduledJob, service_text, timer_text

SEED = "c2VlZC1vZi1hLXRlc3Qta2V5LXRoYXQtaXMtMzJieXQ"


def test_the_key_file_is_the_same_for_the_same_seed_and_ssh_reads_it(tmp_path):
    key = tmp_path / "key"
    key.write_text(private_key_file(SEED))
    key.chmod(0o600)
    assert private_key_file(SEED) == key.read_text()
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True
    )
    assert derived.stdout.split()[:2] == public_key_line(SEED, "obs-backup").split()[:2]


def test_a_seed_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        private_key_file("c2hvcnQ")


@pytest.mark.parametrize(
    ("repository", "kind"),
    [
        ("/mnt/backup-disk/restic", "local"),
        ("sftp:obs-backup@vault.ops.lan:/srv/restic/obs", "sftp"),
        ("s3:https://s3.eu-west-1.amazonaws.com/ops-backups/obs", "s3"),
        ("sftp:obs@vault.ops.lan:/srv/restic; rm -rf /", None),
        ("s3:http://insecure.ops.lan/bucket", None),
        ("relative/path", None),
    ],
)
def test_repository_kinds(repository, kind):
    assert repository_kind(repository) == kind


def test_a_calendar_job_catches_up_after_downtime_and_an_interval_job_runs_from_boot():
    calendar = ScheduledJob(
        "obs-backup",
        "Back up",
        ("/usr/local/lib/x", "run"),
        on_calendar="daily",
        randomized_delay="1h",
        service=(("ProtectSystem", "strict"),),
    )
    timer = timer_text(calendar)
    assert "OnCalendar=daily\n" in timer and "Persistent=true\n" in timer
    assert "RandomizedDelaySec=1h\n" in timer and "OnBootSec" not in timer
    service = service_text(calendar)
    assert "Type=oneshot\nExecStart=/usr/local/lib/x run\nProtectSystem=strict\n" in service
    interval = ScheduledJob("obs-m", "Metrics", ("/bin/m", "a b%"), every="30s")
    assert "OnBootSec=30s\nOnUnitActiveSec=30s\n" in timer_text(interval)
    assert 'ExecStart=/bin/m "a b%%"\n' in service_text(interval)


def lab_like_settings(**overrides) -> dict:
    return {
        **setting_defaults(),
        "backup_repository": "sftp:obs-backup@10.99.0.13:/srv/restic/obs",
        "backup_sftp_known_hosts": "keys/known_hosts",
        **overrides,
    }


def test_the_script_is_told_every_part_and_where_the_keys_are():
    config = script_config(lab_like_settings(), "obs")
    assert list(config["parts"]) == list(PARTS)
    assert config["parts"]["prometheus"]["url"] == "http://127.0.0.1:9090/prometheus"
    assert config["sftp_key"].endswith("/sftp_key") and config["s3_env"] is None
    assert config["keep"] == {"daily": 7, "weekly": 4, "monthly": 6}
    # What runs does not change it (the script backs up what runs): a rollback to a
    # release with Grafana leaves it as it is. A local repository has no key files.
    local = script_config(
        lab_like_settings(
            grafana_enabled=False, backup_repository="/srv/b", backup_sftp_known_hosts=None
        ),
        "obs",
    )
    assert local["parts"] == config["parts"]
    assert local["sftp_key"] is None and local["known_hosts"] is None


def test_every_job_is_confined_and_only_the_backup_may_write_prometheus_data():
    backup, check, drill = jobs(lab_like_settings())
    assert backup.on_calendar == "daily" and check.on_calendar == drill.on_calendar == "weekly"
    for job in (backup, check, drill):
        service = dict(job.service)
        assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert "/var/lib/prometheus" in dict(backup.service)["ReadWritePaths"]
    assert "/var/lib/prometheus" not in dict(drill.service)["ReadWritePaths"]


@pytest.mark.parametrize(
    ("snapshot", "only"), [("latest; reboot", None), ("../x", None), ("latest", "prometheus,etc")]
)
def test_a_malformed_restore_request_is_refused(snapshot, only):
    with pytest.raises(BackupError):
        restore_arguments(snapshot, only, False)


def test_a_restore_request_becomes_the_scripts_arguments():
    assert restore_arguments("latest", None, False) == ["restore", "--snapshot", "latest"]
    assert restore_arguments("0a1b2c3d", "prometheus,alertmanager", True) == [
        "restore",
        "--snapshot",
        "0a1b2c3d",
        "--only",
        "prometheus,alertmanager",
        "--yes",
    ]


def test_snapshots_are_listed_newest_first_with_their_parts():
    listed = json.dumps(
        [
            {
                "short_id": "aaaa1111",
                "time": "2026-12-01T03:00:00.5Z",
                "tags": ["observability-stack", "part-prometheus"],
                "summary": {
                    "total_bytes_processed": 10,
                    "data_added": 2,
                    "total_files_processed": 3,
                },
            },
            {"short_id": "bbbb2222", "time": "2026-12-02T03:00:00Z", "tags": ["part-config"]},
        ]
    )
    newest, oldest = parse_snapshots(listed)
    assert (newest.id, newest.parts, newest.size_bytes) == ("bbbb2222", ["config"], 0)
    assert (oldest.time, oldest.parts, oldest.files) == ("2026-12-01 03:00:00", ["prometheus"], 3)


@pytest.fixture
def script(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "obs_backup", TEMPLATES_DIR / "backup" / "obs-backup.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failed_run_keeps_the_last_success_in_the_metrics(script, tmp_path):
    config = {"state_dir": str(tmp_path), "textfile_dir": str(tmp_path)}
    script.record(config, "backup", True, size_bytes=123, snapshots=2)
    first = (tmp_path / "obs_backup_backup.prom").read_text()
    script.record(config, "backup", False)
    after = (tmp_path / "obs_backup_backup.prom").read_text()
    success = [line for line in first.splitlines() if "last_success_timestamp" in line][-1]
    assert success in after
    assert "obs_backup_last_run_success 0\n" in after and "obs_backup_size_bytes 123\n" in after
    assert "# TYPE obs_backup_snapshots gauge\n" in after


def test_the_backup_summary_is_read_from_restics_last_message(script):
    output = '{"message_type":"status"}\n{"message_type":"summary","snapshot_id":"ab"}\n'
    assert script.backup_summary(output)["snapshot_id"] == "ab"
    with pytest.raises(script.Failure):
        script.backup_summary('{"message_type":"status"}\n')


def test_the_script_asks_only_daemons_on_loopback(script):
    with pytest.raises(script.Failure, match="only the daemons on loopback"):
        script.http("http://10.0.0.5:9090/metrics")
