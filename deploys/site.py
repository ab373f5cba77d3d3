"""The whole deploy: what exists on each host, by role, then the release it amounts to.

    pyinfra inventories/lab.py deploys/site.py

Every host gets its firewall and node_exporter. The observability server adds Prometheus,
Alertmanager and the TLS reverse proxy in front of them, and blackbox_exporter while it has
targets; a monitored host, its agents. What each of them is comes from its catalog entry
(``obsstack.catalog``); what a host's roles could run but it does not, is removed.
"""

from pyinfra import host

from deploys import firewall
from deploys.common import installation, own_agents
from deploys.component import desired_state, remove, run_hook
from obsstack.catalog import not_running, running
from obsstack.provenance import deploy_commit, deployer, run_started
from obsstack.settings import check_host_data
from operations.converge import converge
from operations.digest import digest_key_file
from operations.history import record_release
from operations.prefetch import prefetch_facts

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
