"""The whole deploy: what exists on each host, by role, then the release it amounts to.

    pyinfra inventories/lab.py deploys/site.py

Every host gets its firewall and node_exporter. The observability server adds Prometheus,
Alertmanager and the TLS reverse proxy in front of them; a monitored host, its agents.
"""

from pyinfra import host

from deploys import (
    alertmanager,
    blackbox_exporter,
    fail2ban,
    firewall,
    mysqld_exporter,
    nginx_exporter,
    node_exporter,
    php_fpm,
    prometheus,
    proxy,
)
from deploys.common import installation, own_agents
from obsstack.provenance import deploy_commit, deployer, run_started
from obsstack.settings import check_host_data
from operations.converge import converge
from operations.digest import digest_key_file
from operations.history import record_release
from operations.prefetch import prefetch_facts

check_host_data(host.name, set(host.groups), host.data.dict())
prefetch_facts()
observability_server = "observability" in host.groups
agents = own_agents()

digest_key_file(name="Key for the digests of secret files")
firewall.apply()
if observability_server:
    proxy.prepare()

components = [node_exporter.component()]
if observability_server:
    components += [prometheus.component(), alertmanager.component(), proxy.component()]
    if blackbox_exporter.wanted():
        components.append(blackbox_exporter.component())
if "nginx" in agents:
    nginx_exporter.status_config()
    components.append(nginx_exporter.component())
if "mysql" in agents:
    mysqld_exporter.account()
    components.append(mysqld_exporter.component())
if "php_fpm" in agents:
    php_fpm.apply()

# host.loop: hosts converge different components from this one line; pyinfra orders their
# operations by loop position, not just by line, so no two hosts order them differently.
for component in host.loop(components):
    converge(component, installation())

if observability_server:
    proxy.certificate()
    if not blackbox_exporter.wanted():
        blackbox_exporter.remove()
if "monitored" in host.groups:
    if "nginx" not in agents:
        nginx_exporter.remove()
    if "mysql" not in agents:
        mysqld_exporter.remove()
    if "php_fpm" not in agents:
        php_fpm.remove()
    # After node_exporter: the agent writes to its textfile directory.
    if "fail2ban" in agents:
        fail2ban.install()
    else:
        fail2ban.remove()

record_release(
    name="Record release",
    components=[component.to_record() for component in components],
    run_started=run_started(),
    commit=deploy_commit(),
    deployer=deployer(),
    keep=host.data.releases_kept,
)
