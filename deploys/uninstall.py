"""Remove the stack from hosts: services, units, binaries, configs and release history.

    pyinfra inventories/lab.py deploys/uninstall.py [--data purge=true]

Every component the host's roles could run goes, newest first, as its catalog entry says
(``obsstack.catalog``). Monitoring data (/var/lib/<component>) and the daemon accounts stay
unless ``purge`` is set, so a later deploy picks up where it left off; so do the backups of
replaced config files, but for any copy of a file that held a secret (earlier versions kept
some). On the observability server the proxy's site and password files go; nginx, certbot
(and the certificate) and the firewall stay.
"""

from pyinfra import host
from pyinfra.operations import files

from deploys.component import remove
from obsstack.catalog import CATALOG, components_of
from obsstack.catalog.host import STATE_DIR
from operations.config import BACKUP_ROOT
from operations.facts import FileNames

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
