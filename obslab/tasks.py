"""The lab's invoke tasks: ``invoke lab`` (the quick start), ``lab.up``, ``lab.down``,
``lab.status``, ``lab.ssh``, ``lab.restart``, ``lab.mail``, ``lab.pebble-root``,
``lab.pictures`` and ``bench``.

The lab's services (mail relay, ACME CA, release mirror) are imported when a task that
needs them runs, not when invoke starts: the product's own tasks must start fast and work
from an install without the test extras, which the relay needs (aiosmtpd).

Example::

    invoke lab            # boot the lab and deploy the stack onto it
    invoke lab.status     # one row per lab host
"""

from __future__ import annotations

import functools
import json as json_module
import sys
from dataclasses import asdict

from invoke import Collection, task

from obslab import machines
from obsstack.catalog.server import PROXY_PASSWORD
from obsstack.cli import deploy_and_report
from obsstack.cli import reports_errors as _reports_errors
from obsstack.report import print_table

LAB_INVENTORY = "inventories/lab.py"
reports_lab_errors = functools.partial(_reports_errors, errors=(machines.LabError,))


@task(name="up")
@reports_lab_errors
def lab_up(c):
    """Boot the lab's hosts (cached base image; a no-op when the lab is already up)."""
    from obslab import services

    machines.up()
    services.prepare()


@task(name="down")
@reports_lab_errors
def lab_down(c):
    """Remove the lab's hosts, bridge, NAT rules and state; keep the cache."""
    from obslab import services

    services.stop_daemons()
    machines.down()


@task(name="status", help={"json": "print JSON instead of a table"})
@reports_lab_errors
def lab_status(c, json=False):
    """Show each lab host: running, SSH reachable, systemd state."""
    statuses = machines.status()
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
    c.run(" ".join(machines.ssh_argv(host)), pty=True)


@task(name="restart", help={"host": "lab host name (obs, web1, app1, outsider)"})
@reports_lab_errors
def lab_restart(c, host):
    """Reboot one lab host (clean poweroff, boot with its disk as it was)."""
    machines.restart(host)


@task(name="mail")
@reports_lab_errors
def lab_mail(c):
    """Print the alert mails the lab's relay receives, as they arrive (Ctrl-C to stop)."""
    from obslab import services

    services.start_mail_relay()
    spool = services.mail_spool()
    print(f"lab mail relay {machines.GATEWAY}:{services.SMTP_PORT}, spool {spool.directory}")
    spool.follow(sys.stdout)


@task(name="pebble-root")
@reports_lab_errors
def lab_pebble_root(c):
    """Print the root certificate of the lab's ACME CA (new at every start of the CA)."""
    from obslab import services

    print(services.pebble_root(), end="")


@task(name="lab", default=True)
@reports_lab_errors
def lab_all(c):
    """Bring up the lab and deploy the stack onto it, then print where to look."""
    lab_up(c)
    deploy_and_report(LAB_INVENTORY)
    from obslab import services

    secret = services.SECRETS_DIR / PROXY_PASSWORD.name_for("admin")
    print(
        f"\nPrometheus:   https://{machines.LAB_DOMAIN}/prometheus/\n"
        f"Alertmanager: https://{machines.LAB_DOMAIN}/alertmanager/api/v2/alerts (its API: "
        "the lab's Debian build has no web UI, which needs an Elm compiler from GitHub)\n"
        f"Grafana:      https://{machines.LAB_DOMAIN}/ (the lab's stand-in: Grafana cannot be "
        "obtained here; obslab/grafana_standin.py)\n"
        f"Login:        admin, password in {secret}\n"
        f"TLS:          from the lab's ACME CA; trust its root with "
        f"`invoke lab.pebble-root > root.pem`\n"
        f"Shell:        invoke lab.ssh obs\n"
        "Alert mail:   invoke lab.mail"
    )


@task(name="pictures")
@reports_lab_errors
def lab_pictures(c):
    """Take the README's pictures of the running lab in a real browser (docs/img/)."""
    from obslab import pictures

    pictures.refresh()


@task(help={"runs": "how many runs of each benchmark", "json": "print JSON"})
@reports_lab_errors
def bench(c, runs=3, json=False):
    """Measure fresh-lab and no-op deploy wall times (medians of several runs)."""
    from obslab.bench import run_benchmarks

    measurements = run_benchmarks(runs=int(runs))
    if json:
        print(json_module.dumps([m.as_dict() for m in measurements], indent=2))
        return
    print_table(
        ("benchmark", "median s", "runs s"),
        [(m.name, f"{m.median:.1f}", " ".join(f"{r:.1f}" for r in m.runs)) for m in measurements],
    )


collection = Collection(
    "lab",
    lab_all,
    lab_up,
    lab_down,
    lab_status,
    lab_ssh,
    lab_restart,
    lab_mail,
    lab_pebble_root,
    lab_pictures,
)
