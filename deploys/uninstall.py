"""Remove the stack from hosts: services, units, binaries, configs and release history.

    pyinfra inventories/lab.py deploys/uninstall.py [--data purge=true]

Monitoring data (/var/lib/<component>) and the daemon accounts stay unless ``purge`` is
set, so a later deploy picks up where it left off. On the observability server the proxy's
site and password files go; nginx, certbot (and the certificate) and the firewall stay.
"""

from pyinfra import host
from pyinfra.operations import files, server, systemd

from deploys import proxy
from obsstack.components import COMPONENTS
from obsstack.roles import services_for
from operations.releases import STATE_DIR

purge = bool(host.data.get("purge"))

for service in reversed(services_for(host.groups)):
    systemd.service(
        name=f"Stop and disable {service.unit}",
        service=service.unit,
        running=False,
        enabled=False,
    )
    unit_file = files.file(
        name=f"Remove {service.unit}", path=f"/etc/systemd/system/{service.unit}", present=False
    )
    systemd.daemon_reload(name=f"Forget {service.unit}", _if=unit_file.did_change)
    for binary in COMPONENTS[service.component].binaries:
        files.link(
            name=f"Remove /usr/local/bin/{binary}", path=f"/usr/local/bin/{binary}", present=False
        )
    files.directory(
        name=f"Remove /opt/{service.component}", path=f"/opt/{service.component}", present=False
    )
    if service.config_dir:
        files.directory(name=f"Remove {service.config_dir}", path=service.config_dir, present=False)
    if purge:
        files.directory(name=f"Purge {service.data_dir}", path=service.data_dir, present=False)
        server.user(name=f"Remove user {service.user}", user=service.user, present=False)
        server.group(name=f"Remove group {service.user}", group=service.user, present=False)

if "observability" in host.groups:
    # nginx, certbot with its certificate, and the firewall stay: the server must not be
    # left open, and another site may use them.
    site = files.file(name=f"Remove {proxy.SITE}", path=proxy.SITE, present=False)
    files.directory(name=f"Remove {proxy.HTPASSWD_DIR}", path=proxy.HTPASSWD_DIR, present=False)
    systemd.service(
        name="Reload nginx (site removed)",
        service="nginx.service",
        reloaded=True,
        _if=site.did_change,
    )

files.directory(name=f"Remove {STATE_DIR}", path=STATE_DIR, present=False)
