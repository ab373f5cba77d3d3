"""Invoke tasks: thin wrappers that parse arguments and call the project's modules.

    invoke lab               bring up the lab and deploy the stack onto it
    invoke deploy -i inventories/lab.py [--limit web1]
    invoke test              lint, unit tests and lab tests
"""

from __future__ import annotations

import functools
import json as json_module
import sys
from dataclasses import asdict

from invoke import Collection, Exit, task

from obsstack import lab as lab_hosts
from obsstack import labdata, secrets
from obsstack.artifacts import ArtifactError
from obsstack.bench import run_benchmarks
from obsstack.debian import DebianError
from obsstack.deploy import run_deploy
from obsstack.inventory import secrets_dirs
from obsstack.lab import LabError
from obsstack.mirror import MirrorError
from obsstack.report import print_table
from obsstack.secrets import SecretError
from obsstack.settings import SettingsError

LAB_INVENTORY = "inventories/lab.py"
# Errors a user can act on: shown as one message, not a traceback.
USER_ERRORS = (
    ArtifactError, DebianError, LabError, MirrorError, SecretError, SettingsError,
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
    },
    incrementable=["verbose"],
)
@reports_errors
def deploy(c, inventory, limit=None, verbose=0, diff=False):
    """Deploy the stack to an inventory (inputs are checked before any host is touched)."""
    result = run_deploy(inventory, limit=limit, verbosity=verbose, diff=diff)
    rows = [
        (host, str(result.changed.get(host, 0)), str(result.failed.get(host, 0)))
        for host in sorted(set(result.changed) | set(result.failed))
    ]
    print_table(("host", "changed", "failed"), rows)
    if not result.ok:
        raise Exit("deploy failed: see the errors above", code=1)


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
            (s.name, s.address, "yes" if s.running else "no", "yes" if s.ssh_ok else "no",
             s.systemd_state)
            for s in statuses
        ],
    )


@task(name="ssh", help={"host": "lab host name (obs, web1, app1, outsider)"})
def lab_ssh(c, host):
    """Open a root shell on a lab host."""
    c.run(" ".join(lab_hosts.ssh_argv(host)), pty=True)


@task(name="mail")
@reports_errors
def lab_mail(c):
    """Run the lab's mail relay in the foreground and print alerts as they arrive."""
    with labdata.mail_catcher() as catcher:
        print(f"lab relay on {labdata.lab.GATEWAY}:{labdata.SMTP_PORT}, spool {catcher.spool}")
        catcher.follow(sys.stdout)


@task(name="lab", default=True)
@reports_errors
def lab_all(c):
    """Bring up the lab and deploy the stack onto it, then print where to look."""
    lab_up(c)
    deploy(c, LAB_INVENTORY)
    obs = next(host for host in lab_hosts.HOSTS if "observability" in host.groups)
    print(
        f"\nPrometheus:   http://{obs.address}:9090/targets\n"
        f"Alertmanager: http://{obs.address}:9093/\n"
        f"Shell:        invoke lab.ssh {obs.name}\n"
        "Alert mail:   invoke lab.mail"
    )


@task(name="init", help={"inventory": "inventory whose secrets_dir to fill"})
@reports_errors
def secrets_init(c, inventory=LAB_INVENTORY):
    """Generate missing secrets; list the ones you must provide yourself."""
    for store in sorted(secrets_dirs(inventory)):
        print(f"secrets in {store}:")
        print_table(("secret", "state"), sorted(secrets.init(store).items()))


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
    c.run("ruff check .", pty=False)
    c.run("pytest", pty=False)


lab_collection = Collection("lab", lab_all, lab_up, lab_down, lab_status, lab_ssh, lab_mail)
namespace = Collection(deploy, test, bench, lab_collection, Collection("secrets", secrets_init))
