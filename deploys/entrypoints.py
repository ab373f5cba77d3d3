"""The deploys pyinfra runs, as functions: a host's whole deploy, a rollback, an
uninstall, and the backup tools alone (what a restore installs first).

Each deploy file (``deploys/site.py``, ``rollback.py``, ``uninstall.py``) calls its function,
for a plain ``pyinfra INVENTORY deploys/site.py``; invoke names the function instead
(``pyinfra INVENTORY deploys.entrypoints.site``), which plans the same operations in the
same order, quicker. pyinfra orders operations by walking the call stack with ``inspect``,
and for a frame of a file that no module owns (a deploy file pyinfra executes) ``inspect``
searches every loaded module, two or three times per operation: a second of a three-host
plan. Called from this module, no frame is such a file.

Example::

    pyinfra inventories/lab.py deploys.entrypoints.site --dry
"""

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files

from deploys import firewall
from deploys.common import installation, own_agents
from deploys.component import desired_state, remove, run_hook, with_current_secrets
from obsstack.catalog import CATALOG, COMPONENTS, components_of, not_running, running
from obsstack.catalog.backup import BACKUP
from obsstack.catalog.host import STATE_DIR
from obsstack.provenance import deploy_commit, deployer, run_started
from obsstack.settings import check_host_data
from operations.config import BACKUP_ROOT
from operations.converge import DesiredState, converge
from operations.digest import digest_key_file
from operations.facts import FileNames
from operations.history import CurrentRelease, Release, activate_release, record_release
from operations.prefetch import prefetch_facts


def site() -> None:
    """What exists on this host, by role, then the release it amounts to (``deploys/site.py``
    says what each role gets)."""
    check_host_data(host.name, set(host.groups), host.data.dict())
    prefetch_facts()
    agents = own_agents()

    digest_key_file(name="Key for the digests of secret files")
    firewall.apply()

    present = running(host.groups, host.data.dict(), agents)
    # What must exist before a component converges: nginx before its site, a MySQL account
    # before the exporter that logs in with it.
    for component in host.loop(present):
        run_hook(component.hooks.before)
    daemons = [desired_state(component) for component in present if component.unit]
    # host.loop: hosts converge different components from this one line; pyinfra orders their
    # operations by loop position, not just by line, so no two hosts order them differently.
    for daemon in host.loop(daemons):
        converge(daemon, installation())
    for component in host.loop(not_running(host.groups, host.data.dict(), agents)):
        remove(component, purge=False)
    # What needs a converged component: certbot the site, the fail2ban agent node_exporter's
    # textfile directory.
    for component in host.loop(present):
        run_hook(component.hooks.after)

    record_release(
        name="Record release",
        components=[daemon.to_record() for daemon in daemons],
        run_started=run_started(),
        commit=deploy_commit(),
        deployer=deployer(),
        keep=host.data.releases_kept,
    )


def rollback() -> None:
    """Back to the recorded release ``rollback_to`` names (``deploys/rollback.py``)."""
    target = host.data.get("rollback_to") or "previous"
    if isinstance(target, dict):
        target = target.get(host.name, "previous")
    release = host.get_fact(Release, release_id=target)
    if release is None:
        raise PyinfraError(f"{host.name}: no recorded release {target!r} to roll back to")

    for record in host.loop(release["components"]):
        recorded = DesiredState.from_record(record)
        if record["name"] in COMPONENTS:
            recorded = with_current_secrets(recorded, COMPONENTS[record["name"]])
        converge(recorded, installation())

    current = host.get_fact(CurrentRelease)
    running_now = host.get_fact(Release, release_id=current["id"]) if current else None
    kept = {record["name"] for record in release["components"]}
    for record in host.loop((running_now or {}).get("components", [])):
        if record["name"] in kept:
            continue
        if record["name"] not in COMPONENTS:
            # Never remove what cannot be told apart from something else.
            host.noop(f"{record['name']} is not in the catalog: left as it is")
            continue
        remove(COMPONENTS[record["name"]], purge=False)

    activate_release(
        name=f"Make release {release['id']} current",
        release_id=release["id"],
        keep=host.data.releases_kept,
    )


def backup_tools() -> None:
    """Only the backups of an observability server (``deploys/backup_tools.py``): what a
    restore needs on a server that was never deployed, such as a rebuilt one."""
    check_host_data(host.name, set(host.groups), host.data.dict())
    if BACKUP in running(host.groups, host.data.dict(), []):
        run_hook(BACKUP.hooks.after)
    else:
        host.noop("no backup_repository for this host: nothing to restore from")


def uninstall() -> None:
    """Remove the stack, and with ``purge`` its data and accounts (``deploys/uninstall.py``)."""
    purge = bool(host.data.get("purge"))

    # nginx, certbot with its certificate, and the firewall stay: the server must not be left
    # open, and another site may use them.
    for component in host.loop(reversed(components_of(host.groups))):
        remove(component, purge)

    files.directory(name=f"Remove {STATE_DIR}", path=STATE_DIR, present=False)
    # Where secrets are kept on hosts, of every component (a host may have run any of them): a
    # directory of them (whose backups all go), or a single file.
    secret_dirs, secret_files = [], []
    for component in CATALOG:
        directories = {directory.path for directory in component.directories}
        for secret in component.secrets:
            (secret_dirs if secret.kept_in in directories else secret_files).append(secret.kept_in)
    if purge:
        files.directory(name=f"Purge {BACKUP_ROOT}", path=BACKUP_ROOT, present=False)
    else:
        for secret_dir in host.loop(secret_dirs):
            files.directory(
                name=f"Remove the backups of {secret_dir}",
                path=BACKUP_ROOT + secret_dir,
                present=False,
            )
        for secret_file in host.loop(secret_files):
            backups, _, stem = (BACKUP_ROOT + secret_file).rpartition("/")
            for name in host.loop(host.get_fact(FileNames, path=backups)):
                if name.startswith(f"{stem}."):
                    files.file(
                        name=f"Remove {backups}/{name}", path=f"{backups}/{name}", present=False
                    )
