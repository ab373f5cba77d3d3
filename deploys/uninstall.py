"""Remove the stack from hosts: services, units, binaries, configs and release history.

    pyinfra inventories/lab.py deploys/uninstall.py [--data purge=true]

Monitoring data (/var/lib/<component>) and the daemon accounts stay unless ``purge`` is
set, so a later deploy picks up where it left off; so do the backups of replaced config
files, but for any copy of a file that held a secret (earlier versions kept some). On the
observability server the proxy's site and password files go; nginx, certbot (and the
certificate) and the firewall stay.
"""

from pyinfra import host
from pyinfra.operations import files

from deploys import (
    alertmanager,
    blackbox_exporter,
    fail2ban,
    mysqld_exporter,
    nginx_exporter,
    php_fpm,
    proxy,
)
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.roles import services_for
from operations.config import BACKUP_ROOT
from operations.converge import retire
from operations.facts import FileNames
from operations.history import STATE_DIR
from operations.nginx import remove_nginx_conf

purge = bool(host.data.get("purge"))

for service in reversed(services_for(host.groups)):
    retire(
        service.component,
        service.unit,
        RELEASE_ARCHIVES[service.component].binaries,
        config_dir=service.config_dir,
        data_dir=service.data_dir if purge else None,
        user=service.user if purge else None,
    )

if "monitored" in host.groups:
    nginx_exporter.remove(purge)
    mysqld_exporter.remove(purge)
    php_fpm.remove()
    fail2ban.remove()

if "observability" in host.groups:
    blackbox_exporter.remove(purge)
    # nginx, certbot with its certificate, and the firewall stay: the server must not be
    # left open, and another site may use them.
    remove_nginx_conf(proxy.SITE)
    files.directory(name=f"Remove {proxy.HTPASSWD_DIR}", path=proxy.HTPASSWD_DIR, present=False)

files.directory(name=f"Remove {STATE_DIR}", path=STATE_DIR, present=False)
if purge:
    files.directory(name=f"Purge {BACKUP_ROOT}", path=BACKUP_ROOT, present=False)
else:
    for secret_dir in host.loop((proxy.HTPASSWD_DIR, mysqld_exporter.CONFIG_DIR)):
        files.directory(
            name=f"Remove the backups of {secret_dir}",
            path=BACKUP_ROOT + secret_dir,
            present=False,
        )
    backups, _, stem = (BACKUP_ROOT + alertmanager.PASSWORD_FILE).rpartition("/")
    for name in host.loop(host.get_fact(FileNames, path=backups)):
        if name.startswith(f"{stem}."):
            files.file(name=f"Remove {backups}/{name}", path=f"{backups}/{name}", present=False)
