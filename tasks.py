"""Invoke tasks: thin wrappers that parse arguments and call the project's modules.

invoke lab               bring up the lab and deploy the stack onto it
invoke deploy -i inventories/lab.py [--limit web1]
invoke test              lint, unit tests and lab tests
"""

from __future__ import annotations

import getpass
import json as json_module
import sys

from invoke import Collection, Exit, task

from obslab import tasks as lab_tasks
from obsstack import backups, secrets
from obsstack.catalog.backup import BACKUP_SFTP_KEY
from obsstack.checks import format_report
from obsstack.cli import deploy_and_report, reports_errors
from obsstack.deploy import BACKUP_TOOLS, ROLLBACK, UNINSTALL, run_deploy
from obsstack.drift import check_drift
from obsstack.health import run_health
from obsstack.history import current_release_ids, list_releases
from obsstack.logs import query_logs
from obsstack.preflight import run_preflight
from obsstack.report import human_bytes, print_table
from obsstack.secrets import SecretError
from obsstack.session import secret_stores
from obsstack.sshkey import public_key_line

LAB_INVENTORY = "inventories/lab.py"


@task(
    help={
        "inventory": "inventory file, e.g. inventories/production.py",
        "limit": "only these hosts or groups (comma separated)",
        "verbose": "pyinfra verbosity: -v meta, -vv input, -vvv output",
        "diff": "show the changes to non-secret files",
        "no_rollback": "keep a failed deploy in place instead of rolling back",
        "canary": "deploy the canary host (group canary, else the first monitored) first",
    },
    incrementable=["verbose"],
)
@reports_errors
def deploy(c, inventory, limit=None, verbose=0, diff=False, no_rollback=False, canary=False):
    """Check inputs, preflight, deploy, health-gate; roll back automatically on failure."""
    if canary and limit:
        raise Exit("--canary chooses its own hosts: use it without --limit", code=2)
    deploy_and_report(
        inventory,
        limit=limit,
        verbosity=verbose,
        diff=diff,
        auto_rollback=not no_rollback,
        canary=canary,
    )


@task(
    help={
        "inventory": "inventory file, e.g. inventories/production.py",
        "fix": "install the packages of missing commands (apt-get), then check again",
        "json": "print JSON",
    }
)
@reports_errors
def preflight(c, inventory, fix=False, json=False):
    """Check that every host of an inventory can be deployed to (exit 1 on any FAIL)."""
    report = run_preflight(inventory, fix=fix)
    print(json_module.dumps(report.to_json(), indent=2) if json else format_report(report))
    if not report.ok:
        raise Exit(code=1)


@task(help={"inventory": "inventory file, e.g. inventories/production.py", "json": "print JSON"})
@reports_errors
def health(c, inventory, json=False):
    """Check that the deployed stack is healthy right now (exit 1 when a check fails)."""
    report = run_health(inventory)
    print(json_module.dumps(report.to_json(), indent=2) if json else format_report(report))
    if not report.ok:
        raise Exit(code=1)


@task(help={"inventory": "inventory file", "json": "print JSON"})
@reports_errors
def releases(c, inventory, json=False):
    """List the releases recorded on each host (newest first, * = current)."""
    history = list_releases(inventory)
    if json:
        print(
            json_module.dumps(
                {host: [r.as_dict() for r in rs] for host, rs in history.items()}, indent=2
            )
        )
        return
    print_table(
        ("host", "release", "time", "commit", "deployer", "versions"),
        [
            (
                host,
                ("* " if r.current else "  ") + r.id,
                r.time,
                r.commit[:12],
                r.deployer,
                " ".join(f"{k}={v}" for k, v in sorted(r.versions.items())),
            )
            for host, rs in history.items()
            for r in rs
        ],
    )


@task(
    help={
        "inventory": "inventory file",
        "query": 'a LogQL query, e.g. \'{host="web1", job="journal"} |= "error"\'',
        "since": "how far back, a duration such as 15m or 2h (default 1h)",
        "limit": "at most this many lines, the newest (default 100)",
        "user": "the proxy user to ask as (default: the first with the loki permission)",
        "json": "print JSON",
    }
)
@reports_errors
def logs(c, inventory, query, since="1h", limit=100, user=None, json=False):
    """Query Loki through the proxy and print the lines, oldest first."""
    lines = query_logs(inventory, query, since=since, limit=int(limit), user=user)
    if json:
        print(json_module.dumps([line.as_dict() for line in lines], indent=2))
        return
    for line in lines:
        source = line.labels.get("unit") or line.labels.get("job", "")
        print(f"{line.time} {line.labels.get('host', '-')} {source}: {line.text}")


@task(
    help={
        "inventory": "inventory file",
        "to": "release id (default: the previous one)",
        "limit": "only these hosts or groups",
    }
)
@reports_errors
def rollback(c, inventory, to="previous", limit=None):
    """Restore a recorded release's configs and versions, then check health."""
    result = run_deploy(inventory, ROLLBACK, limit=limit, data={"rollback_to": to})
    if not result.ok:
        raise Exit("rollback failed: see the errors above", code=1)
    report = run_health(inventory)
    print(format_report(report))
    if not report.ok:
        raise Exit("rolled back, but health checks fail", code=1)


@task(
    help={
        "inventory": "inventory file",
        "limit": "only these hosts or groups",
        "purge": "also delete monitoring data and the daemon accounts",
    }
)
@reports_errors
def uninstall(c, inventory, limit=None, purge=False):
    """Remove services, units, binaries and configs; keep data unless --purge."""
    result = run_deploy(inventory, UNINSTALL, limit=limit, data={"purge": purge})
    if not result.ok:
        raise Exit("uninstall failed: see the errors above", code=1)


@task(
    help={
        "inventory": "inventory file",
        "limit": "only these hosts or groups",
        "json": "print JSON",
    }
)
@reports_errors
def drift(c, inventory, limit=None, json=False):
    """Show what a deploy would change on each host, changing nothing (exit 1 on drift)."""
    report = check_drift(inventory, limit=limit)
    if json:
        print(json_module.dumps(report.to_json(), indent=2))
    else:
        print_table(
            ("host", "drift"),
            [(host, "; ".join(report.drifting.get(host, [])) or "none") for host in report.hosts],
        )
    if not report.ok:
        raise Exit(code=1)


@task(name="init", help={"inventory": "inventory whose secrets_dir to fill"})
@reports_errors
def secrets_init(c, inventory=LAB_INVENTORY):
    """Generate missing secrets; list the ones you must provide yourself."""
    for store, names in sorted(secret_stores(inventory).items()):
        print(f"secrets in {store}:")
        report = secrets.init(store, names)
        print_table(("secret", "state"), sorted(report.items()))


@task(name="rotate", help={"name": "the secret to replace", "inventory": "whose store"})
@reports_errors
def secrets_rotate(c, name, inventory=LAB_INVENTORY):
    """Replace a generated secret with a new random value; the next deploy applies it."""
    stores = [store for store, names in secret_stores(inventory).items() if name in names]
    if not stores:
        raise SecretError(f"no host of {inventory} uses secret {name!r}")
    for store in stores:
        path = secrets.rotate(name, store)
        print(f"rotated {name} in {path}; run `invoke deploy -i {inventory}` to apply it")


@task(name="set", help={"name": "the secret to store", "inventory": "whose store"})
@reports_errors
def secrets_set(c, name, inventory=LAB_INVENTORY):
    """Store a secret's value read from stdin (never from the command line)."""
    value = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.readline()
    for store in sorted(secret_stores(inventory)):
        print(f"stored {name} in {secrets.set_value(name, value, store)}")


BACKUP_HELP = {"inventory": "inventory file, e.g. inventories/production.py"}


def _print_job_results(results: dict) -> None:
    for name, result in sorted(results.items()):
        print(f"--- {name}: {'done' if result.ok else 'FAILED'}")
        print((result.stdout + result.stderr).strip())
    if not all(result.ok for result in results.values()):
        raise Exit(code=1)


@task(name="run", default=True, help=BACKUP_HELP)
@reports_errors
def backup_run(c, inventory):
    """Back up each observability server now (as its timer does)."""
    _print_job_results(backups.run_job(inventory, "backup"))


@task(name="check", help=BACKUP_HELP)
@reports_errors
def backup_check(c, inventory):
    """Check each server's backup repository now, reading back part of its data."""
    _print_job_results(backups.run_job(inventory, "check"))


@task(name="drill", help=BACKUP_HELP)
@reports_errors
def backup_drill(c, inventory):
    """Restore the latest backup into scratch space and query it (the restore drill)."""
    _print_job_results(backups.run_job(inventory, "drill"))


@task(name="public-key", help=BACKUP_HELP)
@reports_errors
def backup_public_key(c, inventory):
    """Print the public key an SFTP backup host must authorize (from backup_sftp_key)."""
    for store, names in sorted(secret_stores(inventory).items()):
        if BACKUP_SFTP_KEY.name in names:
            print(public_key_line(secrets.read(BACKUP_SFTP_KEY.name, store), "obs-backup"))
            return
    raise SecretError(f"no server of {inventory} backs up to an sftp: repository")


@task(help={**BACKUP_HELP, "json": "print JSON"})
@reports_errors
def backups_list(c, inventory, json=False):
    """List each server's backup snapshots: time, size, what they hold."""
    found = backups.list_snapshots(inventory)
    if json:
        print(
            json_module.dumps(
                {name: [s.as_dict() for s in snapshots] for name, snapshots in found.items()},
                indent=2,
            )
        )
        return
    print_table(
        ("server", "snapshot", "time (UTC)", "size", "added", "files", "holds"),
        [
            (
                name,
                s.id,
                s.time,
                human_bytes(s.size_bytes),
                human_bytes(s.added_bytes),
                s.files,
                ",".join(s.parts),
            )
            for name, snapshots in found.items()
            for s in snapshots
        ],
    )


@task(
    help={
        **BACKUP_HELP,
        "server": "the server to restore (needed when the inventory has several)",
        "snapshot": "the snapshot ID (see invoke backups), or latest",
        "only": "only these parts, comma separated: " + ",".join(backups.PARTS),
        "yes": "replace data on the server that is newer than the snapshot",
    }
)
@reports_errors
def restore(c, inventory, server=None, snapshot="latest", only=None, yes=False):
    """Restore a server from its backups, then check its health."""
    servers = [host.name for host in backups.backed_up_servers(inventory)]
    if server is None and len(servers) > 1:
        raise Exit(
            f"{inventory} has several servers ({', '.join(servers)}): name one with --server", 2
        )
    server = server or servers[0]
    backups.restore_arguments(snapshot, only, yes)
    print(f"restore: installing the backup tools on {server}")
    installed = run_deploy(inventory, BACKUP_TOOLS, limit=server, echo=False)
    if installed.returncode != 0:
        print(installed.log)
        raise Exit(f"could not install the backup tools on {server}", 1)
    result = backups.restore(inventory, server, snapshot, only, yes)
    print(result.stdout.strip())
    if not result.ok:
        refused = "run again with --yes" in result.stdout
        raise Exit(code=backups.REFUSED if refused else 1)
    if current_release_ids(inventory, [server])[server] is None:
        print(f"health: nothing is deployed on {server} yet; `invoke deploy` comes next")
        return
    report = backups.health_after_restore(inventory, server)
    print(format_report(report))
    if not report.ok:
        raise Exit(code=1)


@task
def test(c):
    """Lint, unit tests and lab tests (the lab tests need root)."""
    # No cache: a stale one once passed an import-order error that a fresh clone failed.
    c.run("ruff check --no-cache .", pty=False)
    c.run("pytest", pty=False)


namespace = Collection(
    deploy,
    preflight,
    health,
    releases,
    rollback,
    uninstall,
    drift,
    logs,
    test,
    lab_tasks.bench,
    lab_tasks.collection,
    Collection("secrets", secrets_init, secrets_rotate, secrets_set),
    Collection("backup", backup_run, backup_check, backup_drill, backup_public_key),
)
namespace.add_task(backups_list, name="backups")
namespace.add_task(restore)
