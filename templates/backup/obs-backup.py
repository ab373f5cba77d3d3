#!/usr/bin/python3
"""Backups of the observability server with restic: back up, check, drill, restore.

Managed by observability-stack. Run as root by obs-backup.timer (``run``),
obs-backup-check.timer (``check``) and obs-backup-drill.timer (``drill``); invoke runs
``snapshots`` and ``restore`` over SSH. Everything it needs is in backup.json, which the
deploy writes; restic reads the repository and its password from files
(RESTIC_REPOSITORY_FILE, RESTIC_PASSWORD_FILE) and storage keys from its environment,
never from its arguments.

Each part of the server is backed up consistently:
- prometheus: a TSDB snapshot taken through the admin API on loopback, then removed;
- alertmanager: its data directory, and its silences as the API lists them (Alertmanager
  writes its silences to disk every 15 minutes only);
- loki: its data directory, after /flush wrote out what it held in memory;
- grafana: its directory, with the SQLite database copied by SQLite's online backup;
- letsencrypt, config and history: /etc/letsencrypt, our configs, the release history.

Usage:
  obs-backup run | check | drill | metrics
  obs-backup snapshots                      (JSON)
  obs-backup restore [--snapshot ID] [--only PART,...] [--yes]
  obs-backup adopt-password --path NEW_PASSWORD_FILE   (the deploy's check of a new password)

Exit status: 0 done; 1 failed (the message says why); 3 a restore would replace data
newer than the snapshot and --yes was not given (nothing was changed).
"""

import argparse
import calendar
import contextlib
import fcntl
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CONFIG = "/etc/observability-stack/backup/backup.json"
TAG = "observability-stack"
PART_TAG = "part-"
# restic's exit codes (restic 0.17 and later).
RESTIC_NO_REPOSITORY = 10
RESTIC_WRONG_PASSWORD = 12
REFUSED = 3


class Failure(Exception):
    """A step failed; the message says which and why (never a secret)."""


# -- restic -----------------------------------------------------------------------------


def restic_environment(config, password_file=None):
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": config["state_dir"],
        "RESTIC_REPOSITORY_FILE": config["repository_file"],
        "RESTIC_PASSWORD_FILE": password_file or config["password_file"],
        "RESTIC_CACHE_DIR": config["cache_dir"],
        "RESTIC_PROGRESS_FPS": "0.016",
    }
    if config.get("s3_env"):
        with open(config["s3_env"]) as variables:
            for line in variables:
                name, separator, value = line.strip().partition("=")
                if separator:
                    env[name] = value
    return env


def restic_options(config):
    if not config.get("sftp_key"):
        return []
    ssh = [
        "-F /dev/null",
        f"-i {config['sftp_key']}",
        "-o IdentitiesOnly=yes",
        f"-o UserKnownHostsFile={config['known_hosts']}",
        "-o GlobalKnownHostsFile=/dev/null",
        "-o StrictHostKeyChecking=yes",
        "-o BatchMode=yes",
        "-o ConnectTimeout=30",
        "-o ServerAliveInterval=30",
    ]
    return ["-o", "sftp.args=" + " ".join(ssh)]


def restic(config, *arguments, check=True, stdout=subprocess.PIPE, quiet=(), password_file=None):
    """Run restic; its stderr (it never holds the password) passes through, except for an
    exit status in ``quiet`` that the caller handles."""
    command = ["restic", *restic_options(config), *arguments]
    result = subprocess.run(
        command,
        env=restic_environment(config, password_file),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    if result.stderr and result.returncode not in quiet:
        sys.stderr.write(result.stderr)
    if check and result.returncode != 0:
        raise Failure(f"restic {arguments[0]} exited {result.returncode}")
    return result


def open_repository(config, create=False):
    """Fail before anything changes when the repository cannot be read: a wrong password,
    a damaged or unreachable repository. Create it only when it does not exist at all."""
    probe = restic(
        config, "cat", "config", check=False, quiet=(RESTIC_NO_REPOSITORY,) if create else ()
    )
    if probe.returncode == 0:
        # A run killed half-way (its process gone) leaves its lock: an exclusive lock
        # (check, prune) would wait for it for half an hour. Only such stale locks go.
        restic(config, "unlock")
        return
    if probe.returncode == RESTIC_WRONG_PASSWORD:
        raise Failure(
            "the repository refuses the password in backup_password: wrong password or not "
            "our repository; nothing was changed"
        )
    if probe.returncode == RESTIC_NO_REPOSITORY and create:
        restic(config, "init")
        print("created the restic repository")
        return
    if probe.returncode == RESTIC_NO_REPOSITORY:
        raise Failure("there is no restic repository at backup_repository yet; nothing was changed")
    raise Failure(
        f"the repository cannot be read (restic exited {probe.returncode}; see above); "
        "nothing was changed"
    )


def adopt_password_command(config, arguments):
    """Make the repository open with the password in file ``--path`` (a new
    backup_password, before it replaces the live file): add it as a key with the current
    password, then remove the current key. The deploy runs this as the password file's
    validator, so a new password never goes live unless the repository takes it."""
    candidate = arguments.path
    probe = restic(
        config,
        "cat",
        "config",
        check=False,
        password_file=candidate,
        quiet=(RESTIC_NO_REPOSITORY, RESTIC_WRONG_PASSWORD),
    )
    if probe.returncode in (0, RESTIC_NO_REPOSITORY):
        return
    if probe.returncode != RESTIC_WRONG_PASSWORD:
        raise Failure(
            f"the repository cannot be read (restic exited {probe.returncode}): the new "
            "password was not put in place"
        )
    if not os.path.exists(config["password_file"]):
        raise Failure("the repository refuses the new password and there is no current one")
    keys = json.loads(restic(config, "key", "list", "--json").stdout)
    (current,) = [key["id"] for key in keys if key.get("current")]
    restic(config, "key", "add", "--new-password-file", candidate)
    restic(config, "key", "remove", current, password_file=candidate)
    print("the repository now opens with the new password only")


def snapshots(config, latest=False):
    arguments = ["snapshots", "--json", "--host", config["host"], "--tag", TAG]
    if latest:
        arguments += ["--latest", "1"]
    return json.loads(restic(config, *arguments).stdout or "[]")


def find_snapshot(config, snapshot_id):
    found = snapshots(config)
    if not found:
        raise Failure(f"the repository holds no snapshot of {config['host']}")
    if snapshot_id in (None, "latest"):
        return max(found, key=lambda s: s["time"])
    matches = [s for s in found if s["id"].startswith(snapshot_id) or s["short_id"] == snapshot_id]
    if len(matches) != 1:
        raise Failure(
            f"no single snapshot {snapshot_id!r} of {config['host']} (see invoke backups)"
        )
    return matches[0]


def parts_of(snapshot):
    return sorted(
        tag[len(PART_TAG) :] for tag in snapshot.get("tags", []) if tag.startswith(PART_TAG)
    )


# -- the server's daemons ---------------------------------------------------------------


def http(url, method="GET", data=None, timeout=30):
    """A request to a daemon on loopback (every URL comes from backup.json's parts)."""
    if not url.startswith("http://127.0.0.1:"):
        raise Failure(f"{url}: only the daemons on loopback are asked")
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        return answer.read()


def unit_active(unit):
    return subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0


def systemctl(*arguments):
    result = subprocess.run(["systemctl", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise Failure(f"systemctl {' '.join(arguments)}: {result.stderr.strip()}")


def wait_ready(url, timeout=180.0, alive=None):
    """Until ``url`` answers (or the process ``alive`` ended, or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            http(url, timeout=5)
            return
        except (OSError, urllib.error.URLError):
            if alive is not None and alive.poll() is not None:
                raise Failure(f"the process that should answer {url} exited") from None
            if time.monotonic() > deadline:
                raise Failure(f"{url} did not answer within {timeout:.0f}s") from None
            time.sleep(0.5)


def gauge(metrics_text, name):
    for line in metrics_text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise Failure(f"Prometheus does not report {name}")


def chown_tree(path, user):
    account = pwd.getpwnam(user)
    for root, directories, names in os.walk(path):
        os.lchown(root, account.pw_uid, account.pw_gid)
        for name in directories + names:
            os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)


# -- metrics ----------------------------------------------------------------------------


def load_state(config, job):
    try:
        with open(os.path.join(config["state_dir"], f"{job}.json")) as state:
            return json.load(state)
    except FileNotFoundError:
        return {}


def save_state(config, job, state):
    write_atomically(os.path.join(config["state_dir"], f"{job}.json"), json.dumps(state), 0o600)


def write_atomically(path, text, mode=0o644):
    """Readers (node_exporter) never see half a file: write aside, then rename."""
    directory = os.path.dirname(path)
    descriptor, partial = tempfile.mkstemp(dir=directory, prefix=".obs-backup-")
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


METRICS = {
    "backup": {
        "configured_timestamp_seconds": "When backups were set up on this server.",
        "last_run_timestamp_seconds": "When the last backup ended.",
        "last_run_success": "Whether the last backup succeeded.",
        "last_success_timestamp_seconds": "When the last successful backup ended (0: never).",
        "duration_seconds": "How long the last successful backup took.",
        "size_bytes": "How much data the last snapshot holds.",
        "added_bytes": "How much new data the last backup added to the repository.",
        "snapshots": "How many snapshots of this server the repository holds.",
    },
    "check": {
        "check_last_run_timestamp_seconds": "When the last repository check ended.",
        "check_success": "Whether the last repository check passed.",
        "check_last_success_timestamp_seconds": "When a repository check last passed (0: never).",
    },
    "drill": {
        "drill_last_run_timestamp_seconds": "When the last restore drill ended.",
        "drill_success": "Whether the last restore drill passed.",
        "drill_last_success_timestamp_seconds": "When a restore drill last passed (0: never).",
        "drill_duration_seconds": "How long the last passing restore drill took.",
    },
}


def write_metrics(config, job, state):
    if not os.path.isdir(config["textfile_dir"]):
        return
    lines = []
    for key, help_text in METRICS[job].items():
        if key in state:
            name = f"obs_backup_{key}"
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {state[key]}"]
    path = os.path.join(config["textfile_dir"], f"obs_backup_{job}.prom")
    write_atomically(path, "\n".join(lines) + "\n")


def record(config, job, success, **values):
    """Keep the run's result and rewrite the job's metrics from it."""
    prefix = "" if job == "backup" else f"{job}_"
    now = round(time.time(), 3)
    state = load_state(config, job)
    state[f"{prefix}last_run_timestamp_seconds"] = now
    state["last_run_success" if job == "backup" else f"{job}_success"] = int(success)
    state.setdefault(f"{prefix}last_success_timestamp_seconds", 0)
    if success:
        state[f"{prefix}last_success_timestamp_seconds"] = now
        state.update(values)
    save_state(config, job, state)
    write_metrics(config, job, state)


def metrics_command(config, _arguments):
    """Write every job's metrics from its state (at deploy: backups are set up now)."""
    for job in METRICS:
        state = load_state(config, job)
        if job == "backup" and "configured_timestamp_seconds" not in state:
            state["configured_timestamp_seconds"] = round(time.time(), 3)
            save_state(config, job, state)
        write_metrics(config, job, state)


# -- back up ----------------------------------------------------------------------------


def staging_dir(config):
    return os.path.join(config["state_dir"], "staging")


def fresh_directory(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)
    return path


def prepare_prometheus(part, staging, manifest, state):
    own_metrics = http(part["url"] + "/metrics").decode()
    answer = json.loads(http(part["url"] + "/api/v1/admin/tsdb/snapshot", method="POST"))
    name = answer["data"]["name"]
    state["pending_snapshot"] = name
    manifest["prometheus"] = {
        "snapshot": name,
        "first_sample": gauge(own_metrics, "prometheus_tsdb_lowest_timestamp_seconds"),
        "last_sample": gauge(own_metrics, "prometheus_tsdb_head_max_time_seconds"),
    }
    return [os.path.join(part["data"], "snapshots", name)], []


def prepare_alertmanager(part, staging, manifest, state):
    silences = json.loads(http(part["url"] + "/api/v2/silences"))
    with open(os.path.join(staging, "alertmanager-silences.json"), "w") as out:
        json.dump(silences, out)
    active = [s for s in silences if s["status"]["state"] != "expired"]
    manifest["alertmanager"] = {"silences": len(silences), "unexpired_silences": len(active)}
    return [part["data"]], []


def prepare_loki(part, staging, manifest, state):
    http(part["url"] + "/flush", method="POST", data=b"")
    manifest["loki"] = {}
    return [part["data"]], []


def prepare_grafana(part, staging, manifest, state):
    database = os.path.join(part["data"], part["database"])
    copy = os.path.join(staging, part["database"])
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    try:
        target = sqlite3.connect(copy)
        with target:
            source.backup(target)
        target.close()
    finally:
        source.close()
    manifest["grafana"] = {"database": part["database"]}
    excluded = [database + suffix for suffix in ("", "-journal", "-wal", "-shm")]
    return [part["data"]], excluded


def prepare_paths(part, staging, manifest, state):
    present = [path for path in part["paths"] if os.path.exists(path)]
    return present, part.get("exclude", [])


PREPARE = {
    "prometheus": prepare_prometheus,
    "alertmanager": prepare_alertmanager,
    "loki": prepare_loki,
    "grafana": prepare_grafana,
}


def part_present(part):
    if "unit" in part:
        return os.path.isdir(part["data"]) and unit_active(part["unit"])
    return any(os.path.exists(path) for path in part["paths"])


def remove_pending_snapshot(config, state):
    name = state.pop("pending_snapshot", None)
    if name and "prometheus" in config["parts"]:
        shutil.rmtree(
            os.path.join(config["parts"]["prometheus"]["data"], "snapshots", name),
            ignore_errors=True,
        )


def backup_summary(output):
    for line in reversed(output.splitlines()):
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if message.get("message_type") == "summary":
                return message
    raise Failure("restic backup reported no summary")


def run_command(config, _arguments):
    started = time.monotonic()
    try:
        open_repository(config, create=True)
        state = load_state(config, "backup")
        # A run killed half-way leaves its Prometheus snapshot: it goes now.
        remove_pending_snapshot(config, state)
        staging = fresh_directory(staging_dir(config))
        manifest = {"host": config["host"], "time": time.time()}
        paths, excluded, parts = [staging], [], []
        try:
            for name, part in config["parts"].items():
                if not part_present(part):
                    continue
                prepare = PREPARE.get(name, prepare_paths)
                part_paths, part_excluded = prepare(part, staging, manifest, state)
                save_state(config, "backup", state)
                paths += part_paths
                excluded += part_excluded
                parts.append(name)
            manifest["parts"] = parts
            with open(os.path.join(staging, "manifest.json"), "w") as out:
                json.dump(manifest, out)
            arguments = ["backup", "--json", "--host", config["host"], "--tag", TAG]
            for name in parts:
                arguments += ["--tag", PART_TAG + name]
            for path in excluded:
                arguments += ["--exclude", path]
            summary = backup_summary(restic(config, *arguments, *paths).stdout)
        finally:
            remove_pending_snapshot(config, state)
            save_state(config, "backup", state)
        keep = config["keep"]
        restic(
            config,
            "forget",
            "--prune",
            "--host",
            config["host"],
            "--tag",
            TAG,
            "--group-by",
            "host",
            "--keep-daily",
            str(keep["daily"]),
            "--keep-weekly",
            str(keep["weekly"]),
            "--keep-monthly",
            str(keep["monthly"]),
        )
        count = len(snapshots(config))
    except (Failure, OSError, urllib.error.URLError, sqlite3.Error, KeyError, ValueError) as error:
        record(config, "backup", False)
        raise Failure(f"backup failed: {error}") from None
    duration = round(time.monotonic() - started, 3)
    record(
        config,
        "backup",
        True,
        duration_seconds=duration,
        size_bytes=summary.get("total_bytes_processed", 0),
        added_bytes=summary.get("data_added", 0),
        snapshots=count,
    )
    print(
        f"snapshot {summary['snapshot_id'][:8]} of {', '.join(parts)}: "
        f"{summary.get('total_bytes_processed', 0)} bytes, "
        f"{summary.get('data_added', 0)} added, {duration:.1f}s; {count} snapshots kept"
    )


# -- check ------------------------------------------------------------------------------


def check_command(config, _arguments):
    try:
        open_repository(config)
        restic(config, "check", f"--read-data-subset={config['read_subset']}", stdout=None)
    except (Failure, OSError) as error:
        record(config, "check", False)
        raise Failure(f"check failed: {error}") from None
    record(config, "check", True)
    print(f"repository check passed (read {config['read_subset']} of the data)")


# -- restore ----------------------------------------------------------------------------


def restore_into(config, snapshot, target, paths):
    fresh_directory(target)
    arguments = ["restore", snapshot["id"], "--target", target]
    for path in paths:
        arguments += ["--include", path]
    restic(config, *arguments, stdout=subprocess.DEVNULL)


def read_manifest(scratch, config):
    with open(os.path.join(scratch + staging_dir(config), "manifest.json")) as manifest:
        return json.load(manifest)


def restored_paths(config, name, scratch, manifest):
    """{where it goes: its restored copy} of part ``name``. Configs are the deploy's to
    write: theirs go beside, for reading."""
    part = config["parts"][name]
    if name == "prometheus":
        snapshot = os.path.join(part["data"], "snapshots", manifest["prometheus"]["snapshot"])
        return {part["data"]: scratch + snapshot}
    if "data" in part:
        return {part["data"]: scratch + part["data"]}
    found = [path for path in part["paths"] if os.path.lexists(scratch + path)]
    if part.get("beside"):
        return {part["beside"] + path: scratch + path for path in found}
    return {path: scratch + path for path in found}


def newest_change(path):
    """The newest modification time of anything under ``path`` (0 where there is nothing)."""
    if not os.path.lexists(path):
        return 0.0
    newest = os.lstat(path).st_mtime
    for root, directories, names in os.walk(path):
        for name in directories + names:
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def swap_in(live, restored, replaced_dir):
    """Put ``restored`` at ``live``; what was there goes into ``replaced_dir``."""
    if os.path.lexists(live):
        aside = replaced_dir + live
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        shutil.move(live, aside)
    os.makedirs(os.path.dirname(live), exist_ok=True)
    shutil.move(restored, live)


def restore_silences(part, scratch, config):
    """Silences created after Alertmanager last wrote its file come back through its API."""
    with open(os.path.join(scratch + staging_dir(config), "alertmanager-silences.json")) as saved:
        wanted = [s for s in json.load(saved) if s["status"]["state"] != "expired"]
    current = json.loads(http(part["url"] + "/api/v2/silences"))

    def key(silence):
        return json.dumps(
            [
                silence["matchers"],
                silence["startsAt"],
                silence["endsAt"],
                silence["createdBy"],
                silence["comment"],
            ],
            sort_keys=True,
        )

    present = {key(s) for s in current if s["status"]["state"] != "expired"}
    created = 0
    for silence in wanted:
        if key(silence) in present:
            continue
        body = {k: silence[k] for k in ("matchers", "startsAt", "endsAt", "createdBy", "comment")}
        http(part["url"] + "/api/v2/silences", method="POST", data=json.dumps(body).encode())
        created += 1
    return created


def restore_command(config, arguments):
    open_repository(config)
    snapshot = find_snapshot(config, arguments.snapshot)
    available = parts_of(snapshot)
    wanted = arguments.only.split(",") if arguments.only else available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise Failure(
            f"snapshot {snapshot['short_id']} holds no {', '.join(unknown)}; it holds "
            f"{', '.join(available)}"
        )
    taken = snapshot["time"]
    taken_at = calendar.timegm(time.strptime(taken[:19], "%Y-%m-%dT%H:%M:%S"))
    # Parts that do not exist here yet (a rebuilt server) cannot be put back with owners.
    missing_users = [
        name
        for name in wanted
        if "user" in config["parts"][name] and not user_exists(config["parts"][name]["user"])
    ]
    if missing_users:
        raise Failure(
            f"{', '.join(missing_users)} not installed here yet (no account): deploy first, "
            "then restore them; restore the rest with --only"
        )
    scratch = os.path.join(config["state_dir"], "restore")
    paths = [staging_dir(config)]
    for name in wanted:
        part = config["parts"][name]
        paths += [part["data"]] if "data" in part else part["paths"]
    restore_into(config, snapshot, scratch, paths)
    manifest = read_manifest(scratch, config)
    plan = {name: restored_paths(config, name, scratch, manifest) for name in wanted}
    newer = [
        f"{name}: {live} changed {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(changed))} UTC"
        for name, swaps in plan.items()
        for live in swaps
        if (changed := newest_change(live)) > taken_at
    ]
    if newer and not arguments.yes:
        shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"refused: the server has data newer than snapshot {snapshot['short_id']} "
            f"({taken[:19]} UTC), which a restore would replace:\n  "
            + "\n  ".join(newer)
            + "\nnothing was changed; run again with --yes to replace it",
            file=sys.stderr,
        )
        sys.exit(REFUSED)
    replaced_dir = fresh_directory(os.path.join(config["state_dir"], "replaced"))
    units = [config["parts"][name]["unit"] for name in wanted if "unit" in config["parts"][name]]
    for unit in units:
        systemctl("stop", unit)
    for name, swaps in plan.items():
        part = config["parts"][name]
        try:
            for live, restored in swaps.items():
                if name == "grafana":
                    database = os.path.join(scratch + staging_dir(config), part["database"])
                    shutil.move(database, os.path.join(restored, part["database"]))
                swap_in(live, restored, replaced_dir)
                if "user" in part:
                    chown_tree(live, part["user"])
        except OSError as error:
            raise Failure(
                f"putting {name} back failed ({error}); what was there is under "
                f"{replaced_dir}, the restored copy under {scratch}; stopped: {', '.join(units)}"
            ) from None
        where = f" into {part['beside']}" if part.get("beside") else ""
        print(f"restored {name}{where} from snapshot {snapshot['short_id']} ({taken[:19]} UTC)")
    for unit in units:
        systemctl("start", unit)
    for name in wanted:
        part = config["parts"][name]
        if "ready" in part:
            wait_ready(part["url"] + part["ready"])
    if "alertmanager" in wanted:
        created = restore_silences(config["parts"]["alertmanager"], scratch, config)
        print(f"alertmanager: {created} silences recreated through its API")
    if "letsencrypt" in wanted and unit_active("nginx.service"):
        systemctl("reload", "nginx.service")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(replaced_dir, ignore_errors=True)


def user_exists(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


# -- drill ------------------------------------------------------------------------------


def drill_command(config, _arguments):
    started = time.monotonic()
    # Where the throwaway Prometheus (its own user) can read; the unit's private /var/tmp.
    scratch = tempfile.mkdtemp(prefix="obs-backup-drill-", dir="/var/tmp")
    try:
        open_repository(config)
        snapshot = find_snapshot(config, "latest")
        parts = parts_of(snapshot)
        if "prometheus" not in parts:
            raise Failure(f"snapshot {snapshot['short_id']} holds no Prometheus data")
        prometheus = config["parts"]["prometheus"]
        # Not the staging area's copy of Grafana's database: the throwaway Prometheus's
        # user owns the scratch copy.
        staging = staging_dir(config)
        paths = [f"{staging}/manifest.json", f"{staging}/alertmanager-silences.json"]
        paths.append(prometheus["data"])
        restore_into(config, snapshot, scratch, paths)
        manifest = read_manifest(scratch, config)
        tsdb = restored_paths(config, "prometheus", scratch, manifest)[prometheus["data"]]
        checked = query_restored_tsdb(config, scratch, tsdb, manifest["prometheus"])
        if "alertmanager" in parts:
            with open(
                os.path.join(scratch + staging_dir(config), "alertmanager-silences.json")
            ) as saved:
                silences = json.load(saved)
            if (
                not isinstance(silences, list)
                or len(silences) != manifest["alertmanager"]["silences"]
            ):
                raise Failure("the restored Alertmanager silences do not match the manifest")
            checked.append(f"{len(silences)} silences parse")
    except (Failure, OSError, urllib.error.URLError, KeyError, ValueError) as error:
        record(config, "drill", False)
        raise Failure(f"restore drill failed: {error}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    duration = round(time.monotonic() - started, 3)
    record(config, "drill", True, drill_duration_seconds=duration)
    print(
        f"restore drill of snapshot {snapshot['short_id']} passed in {duration:.1f}s: "
        + "; ".join(checked)
    )


def query_restored_tsdb(config, scratch, tsdb, recorded):
    """Start a throwaway Prometheus over the restored TSDB and ask it for ``up`` at both
    ends of the time range the backup covered."""
    prometheus = config["parts"]["prometheus"]
    account = pwd.getpwnam(prometheus["user"])
    empty_config = os.path.join(scratch, "drill.yml")
    with open(empty_config, "w") as out:
        out.write("global: {}\n")
    chown_tree(scratch, prometheus["user"])
    address = f"127.0.0.1:{config['drill_port']}"
    log = open(os.path.join(scratch, "prometheus.log"), "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            prometheus["binary"],
            f"--config.file={empty_config}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=36500d",
            f"--web.listen-address={address}",
        ],
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_ready(f"http://{address}/-/ready", timeout=120, alive=server)
        checked = []
        first, last = recorded["first_sample"], recorded["last_sample"]
        # Five minutes of lookback: the first scrape's samples answer at first + 300s.
        for label, moment in (("first", min(first + 300, last)), ("last", last)):
            query = urllib.parse.urlencode({"query": "count(up)", "time": f"{moment:.3f}"})
            answer = json.loads(http(f"http://{address}/api/v1/query?{query}"))
            result = answer["data"]["result"]
            if not result or float(result[0]["value"][1]) < 1:
                raise Failure(f"the restored TSDB has no up series at its {label} sample time")
            checked.append(f"{int(float(result[0]['value'][1]))} up series at the {label} sample")
        return checked
    except Failure:
        log.flush()
        with open(log.name) as written:
            sys.stderr.write("the drill's Prometheus logged:\n" + written.read()[-3000:])
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# -- main -------------------------------------------------------------------------------


def snapshots_command(config, _arguments):
    open_repository(config)
    json.dump(snapshots(config), sys.stdout)
    print()


COMMANDS = {
    "run": run_command,
    "check": check_command,
    "drill": drill_command,
    "restore": restore_command,
    "snapshots": snapshots_command,
    "metrics": metrics_command,
    "adopt-password": adopt_password_command,
}


def main():
    parser = argparse.ArgumentParser(prog="obs-backup")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--snapshot")
    parser.add_argument("--only")
    parser.add_argument("--yes", action="store_true")
    parser.add_argument("--path")
    arguments = parser.parse_args()
    with open(CONFIG) as config_file:
        config = json.load(config_file)
    os.umask(0o077)
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    os.makedirs(config["cache_dir"], mode=0o700, exist_ok=True)
    try:
        if arguments.command in ("snapshots", "metrics"):
            COMMANDS[arguments.command](config, arguments)
            return
        # One backup, drill or restore at a time on this server (restic locks the
        # repository; this keeps the staging and scratch directories apart).
        with open(os.path.join(config["state_dir"], "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            COMMANDS[arguments.command](config, arguments)
    except Failure as failure:
        print(f"obs-backup {arguments.command}: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
