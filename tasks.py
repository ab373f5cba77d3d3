"""Invoke tasks: thin wrappers that parse arguments and call the project's modules.

invoke lab               bring up the lab and deploy the stack onto it
invoke deploy -i inventories/lab.py [--limit web1]
invoke test              lint, unit tests and lab tests
"""

from __future__ import annotations

import functools
import getpass
import json as json_module
import sys
from dataclasses import asdict

from invoke import Collection, Exit, task

from obsstack import lab as lab_hosts
from obsstack import labdata, secrets
from obsstack.addresses import AddressError
from obsstack.agents import DetectionError
from obsstack.artifacts import ArtifactError
from obsstack.bench import run_benchmarks
from obsstack.checks import format_report
from obsstack.debian import DebianError
from obsstack.deploy import ROLLBACK, UNINSTALL, run_deploy
from obsstack.drift import DriftError, check_drift
from obsstack.health import run_health
from obsstack.inventory import secret_stores
from obsstack.lab import LabError
from obsstack.mirror import MirrorError
from obsstack.pipeline import deploy_pipeline
from obsstack.preflight import run_preflight
from obsstack.releases import ReleaseHistoryError, list_releases
from obsstack.remote import LimitError, RemoteError
from obsstack.report import print_table
from obsstack.secrets import SecretError
from obsstack.settings import SettingsError

LAB_INVENTORY = labdata.LAB_INVENTORY
# Errors a user can act on: shown as one message, not a traceback.
USER_ERRORS = (
    AddressError,
    ArtifactError,
    DebianError,
    DetectionError,
    DriftError,
    LabError,
    LimitError,
    MirrorError,
    ReleaseHistoryError,
    RemoteError,
    SecretError,
    SettingsError,
)


def reports_errors(function):
    """Turn the project's user-facing errors into a clean exit with the message."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            raise Exit(f"error: {error}", code=2) from error

    return wrapper


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
    outcome = deploy_pipeline(
        inventory,
        limit=limit,
        verbosity=verbose,
        diff=diff,
        auto_rollback=not no_rollback,
        canary=canary,
    )
    if outcome.deploy:
        result = outcome.deploy
        print_table(
            ("host", "changed", "failed", "rolled back to"),
            [
                (
                    host,
                    result.changed.get(host, 0),
                    result.failed.get(host, 0),
                    outcome.rolled_back.get(host, "-"),
                )
                for host in sorted(set(result.changed) | set(result.failed))
            ],
        )
    if not outcome.ok:
        raise Exit("deploy failed:\n  " + "\n  ".join(outcome.failures), code=1)


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


@task(name="up")
@reports_errors
def lab_up(c):
    """Boot the lab's hosts (cached base image; a no-op when the lab is already up)."""
    lab_hosts.up()
    labdata.prepare()


@task(name="down")
@reports_errors
def lab_down(c):
    """Remove the lab's hosts, bridge, NAT rules and state; keep the cache."""
    labdata.stop_daemons()
    lab_hosts.down()


@task(name="status", help={"json": "print JSON instead of a table"})
@reports_errors
def lab_status(c, json=False):
    """Show each lab host: running, SSH reachable, systemd state."""
    statuses = lab_hosts.status()
    if json:
        print(json_module.dumps([asdict(status) for status in statuses], indent=2))
        return
    print_table(
        ("host", "address", "running", "ssh", "systemd"),
        [
            (
                s.name,
                s.address,
                "yes" if s.running else "no",
                "yes" if s.ssh_ok else "no",
                s.systemd_state,
            )
            for s in statuses
        ],
    )


@task(name="ssh", help={"host": "lab host name (obs, web1, app1, outsider)"})
def lab_ssh(c, host):
    """Open a root shell on a lab host."""
    c.run(" ".join(lab_hosts.ssh_argv(host)), pty=True)


@task(name="restart", help={"host": "lab host name (obs, web1, app1, outsider)"})
@reports_errors
def lab_restart(c, host):
    """Reboot one lab host (clean poweroff, boot with its disk as it was)."""
    lab_hosts.restart(host)


@task(name="mail")
@reports_errors
def lab_mail(c):
    """Print the alert mails the lab's relay receives, as they arrive (Ctrl-C to stop)."""
    labdata.start_mail_relay()
    spool = labdata.mail_spool()
    print(f"lab mail relay {lab_hosts.GATEWAY}:{labdata.SMTP_PORT}, spool {spool.directory}")
    spool.follow(sys.stdout)


@task(name="pebble-root")
@reports_errors
def lab_pebble_root(c):
    """Print the root certificate of the lab's ACME CA (new at every start of the CA)."""
    print(labdata.pebble_root(), end="")


@task(name="lab", default=True)
@reports_errors
def lab_all(c):
    """Bring up the lab and deploy the stack onto it, then print where to look."""
    lab_up(c)
    deploy(c, LAB_INVENTORY)
    secret = labdata.SECRETS_DIR / secrets.proxy_password_name("admin")
    print(
        f"\nPrometheus:   https://{lab_hosts.LAB_DOMAIN}/prometheus/api/v1/targets\n"
        f"Alertmanager: https://{lab_hosts.LAB_DOMAIN}/alertmanager/\n"
        f"Login:        admin, password in {secret}\n"
        f"TLS:          from the lab's ACME CA; trust its root with "
        f"`invoke lab.pebble-root > root.pem`\n"
        f"Shell:        invoke lab.ssh obs\n"
        "Alert mail:   invoke lab.mail"
    )


@task(name="init", help={"inventory": "inventory whose secrets_dir to fill"})
@reports_errors
def secrets_init(c, inventory=LAB_INVENTORY):
    """Generate missing secrets; list the ones you must provide yourself."""
    for store, names in sorted(secret_stores(inventory).items()):
        print(f"secrets in {store}:")
        report = secrets.init(store, names, include_provided=store == labdata.SECRETS_DIR)
        print_table(("secret", "state"), sorted(report.items()))


@task(name="rotate", help={"name": "the secret to replace", "inventory": "whose store"})
@reports_errors
def secrets_rotate(c, name, inventory=LAB_INVENTORY):
    """Replace a generated secret with a new random value; the next deploy applies it."""
    stores = [store for store, names in secret_stores(inventory).items() if name in names]
    if not stores:
        raise SecretError(f"no host of {inventory} uses secret {name!r}")
    for store in stores:
        path = secrets.rotate(name, store, include_provided=store == labdata.SECRETS_DIR)
        print(f"rotated {name} in {path}; run `invoke deploy -i {inventory}` to apply it")


@task(name="set", help={"name": "the secret to store", "inventory": "whose store"})
@reports_errors
def secrets_set(c, name, inventory=LAB_INVENTORY):
    """Store a secret's value read from stdin (never from the command line)."""
    value = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.readline()
    for store in sorted(secret_stores(inventory)):
        print(f"stored {name} in {secrets.set_value(name, value, store)}")


@task(help={"runs": "how many runs of each benchmark", "json": "print JSON"})
@reports_errors
def bench(c, runs=3, json=False):
    """Measure fresh-lab and no-op deploy wall times (medians of several runs)."""
    measurements = run_benchmarks(runs=int(runs))
    if json:
        print(json_module.dumps([m.as_dict() for m in measurements], indent=2))
        return
    print_table(
        ("benchmark", "median s", "runs s"),
        [(m.name, f"{m.median:.1f}", " ".join(f"{r:.1f}" for r in m.runs)) for m in measurements],
    )


@task
def test(c):
    """Lint, unit tests and lab tests (the lab tests need root)."""
    # No cache: a stale one once passed an import-order error that a fresh clone failed.
    c.run("ruff check --no-cache .", pty=False)
    c.run("pytest", pty=False)


lab_collection = Collection(
    "lab", lab_all, lab_up, lab_down, lab_status, lab_ssh, lab_restart, lab_mail, lab_pebble_root
)
namespace = Collection(
    deploy,
    preflight,
    health,
    releases,
    rollback,
    uninstall,
    drift,
    test,
    bench,
    lab_collection,
    Collection("secrets", secrets_init, secrets_rotate, secrets_set),
)
