"""managed_config: validate before going live, back up, swap atomically, keep secrets quiet."""

from __future__ import annotations

import hashlib
import logging
import re

from fakehost import run_operation

from operations.config import managed_config

DEST = "/etc/prometheus/prometheus.yml"
CANDIDATE = DEST + ".obs-new"


def sha256_line(content: str) -> str:
    return f"{hashlib.sha256(content.encode()).hexdigest()}  {DEST}"


def stat_line(user="root", group="prometheus", mode="-rw-r-----") -> str:
    return f"user={user} group={group} mode={mode} atime=0 mtime=0 ctime=0 size=6 '{DEST}'"


def test_new_content_is_validated_then_backed_up_then_renamed_into_place():
    run = run_operation(
        managed_config,
        {"sha256sum": sha256_line("old\n")},
        name="config",
        dest=DEST,
        content="new\n",
        validate="promtool check config {path}",
        group="prometheus",
        mode="0640",
    )
    commands = run.commands
    validate = next(i for i, c in enumerate(commands) if c.startswith("promtool check config"))
    backup = next(i for i, c in enumerate(commands) if "cp -p" in c)
    swap = commands.index(f"mv -f {CANDIDATE} {DEST}")
    assert validate < backup < swap
    assert CANDIDATE in commands[validate]
    assert commands[0].startswith("test -e") and "install -m 0600" in commands[1]
    assert "chmod 0640" in commands[2] and "chown root:prometheus" in commands[2]


def test_failing_validator_stops_before_the_live_file_is_touched():
    run = run_operation(
        managed_config,
        {"sha256sum": sha256_line("old\n"), "promtool": {"success": False, "stderr": "FAILED"}},
        name="config",
        dest=DEST,
        content="broken\n",
        validate="promtool check config {path}",
    )
    assert not run.succeeded
    assert not any(command.startswith("mv ") for command in run.commands)
    assert not any("cp -p" in command for command in run.commands)
    assert "rm -f " + CANDIDATE in run.commands[-1]


def test_same_content_and_metadata_is_a_noop():
    run = run_operation(
        managed_config,
        {"sha256sum": sha256_line("same\n"), "stat ": stat_line()},
        name="config",
        dest=DEST,
        content="same\n",
        group="prometheus",
        mode="0640",
    )
    assert run.succeeded
    # Only the two fact lookups ran: the checksum and the file's metadata.
    assert len(run.commands) == 2, run.commands
    assert "sha256sum" in run.commands[0] and "stat -c" in run.commands[1]


def test_only_metadata_differs_fixes_owner_and_mode_without_replacing():
    run = run_operation(
        managed_config,
        {"sha256sum": sha256_line("same\n"), "stat ": stat_line(group="root", mode="-rw-r--r--")},
        name="config",
        dest=DEST,
        content="same\n",
        group="prometheus",
        mode="0640",
    )
    assert f"chown root:prometheus {DEST}" in run.commands
    assert f"chmod 0640 {DEST}" in run.commands
    assert not any(command.startswith("mv ") for command in run.commands)


def test_diff_is_shown_for_plain_files(caplog):
    caplog.set_level(logging.INFO, logger="pyinfra")
    run_operation(
        managed_config, {}, diff=True, name="config", dest=DEST, content="visible-line\n"
    )
    assert "visible-line" in caplog.text


def test_secret_files_never_show_a_diff(caplog):
    caplog.set_level(logging.DEBUG)
    secret = "hunter2-very-secret"
    run = run_operation(
        managed_config, {}, diff=True, name="password", dest=DEST, content=secret, secret=True
    )
    assert run.succeeded
    assert secret not in caplog.text
    assert not any(secret in command for command in run.commands)


def test_backups_are_pruned_to_the_configured_count():
    run = run_operation(
        managed_config, {}, name="config", dest=DEST, content="x\n", keep_backups=3
    )
    backup = next(command for command in run.commands if "cp -p" in command)
    assert "tail -n +4" in backup
    assert "/var/backups/observability-stack/etc/prometheus/prometheus.yml." in backup


KEY = "ab" * 32
# The controller's read of the host's key (the digest fact's command starts otherwise).
KEY_READ = re.compile(r"^cat /var/lib/observability-stack/digest\.key 2>")
SECRET = "hunter2-very-secret"


def keyed(content: str) -> str:
    return hashlib.sha256(KEY.encode() + content.encode()).hexdigest()


def write_secret(live_digest: str, **responses: str):
    """managed_config of SECRET on a host with key KEY whose file has ``live_digest``."""
    return run_operation(
        managed_config,
        {KEY_READ: KEY, "sha256sum": live_digest, **responses},
        name="password",
        dest=DEST,
        content=SECRET,
        mode="0640",
        secret=True,
    )


def test_a_secret_file_is_compared_by_a_keyed_digest_never_a_plain_hash():
    """At -vvv pyinfra prints every fact: a plain sha256 of a password is guessable."""
    run = write_secret(keyed("old"))
    assert run.succeeded
    digest = next(command for command in run.commands if "sha256sum" in command)
    assert "cat /var/lib/observability-stack/digest.key /etc/prometheus/prometheus.yml" in digest
    assert not any(hashlib.sha256(SECRET.encode()).hexdigest() in c for c in run.commands)


def test_an_unchanged_secret_file_is_left_alone():
    run = write_secret(keyed(SECRET), **{"stat ": stat_line(group="root", mode="-rw-r-----")})
    assert run.succeeded
    assert not any(command.startswith(("install ", "mv ")) for command in run.commands)


def test_a_replaced_secret_file_keeps_no_backup_and_drops_older_ones():
    run = write_secret(keyed("old"))
    assert not any("cp -p" in command for command in run.commands)
    assert "rm -f /var/backups/observability-stack/etc/prometheus/prometheus.yml.*" in run.commands


def test_a_host_without_a_key_gets_its_secret_files_written():
    run = run_operation(
        managed_config,
        {KEY_READ: "", "sha256sum": ""},
        name="password",
        dest=DEST,
        content=SECRET,
        secret=True,
    )
    assert run.succeeded
    assert f"mv -f {CANDIDATE} {DEST}" in run.commands


def test_through_sudo_the_content_goes_through_a_private_directory():
    """SFTP writes as the login user: never into a name in /tmp that others can read."""
    run = run_operation(
        managed_config,
        {"sha256sum": sha256_line("old\n")},
        data={"_sudo": True},
        name="config",
        dest=DEST,
        content="new\n",
    )
    assert run.succeeded
    commands = run.commands
    made = next(i for i, c in enumerate(commands) if c.startswith("mkdir -m 0700 /tmp/obs-upload."))
    staging = commands[made].split()[-1]
    copied = commands.index(f"cp {staging}/content {CANDIDATE}")
    removed = commands.index(f"rm -rf {staging}")
    assert commands.index(f"install -m 0600 -o root -g root /dev/null {CANDIDATE}") < made
    assert made < copied < removed
