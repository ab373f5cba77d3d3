"""The whole deploy: what exists on each host, by role, then the release it amounts to.

    pyinfra inventories/lab.py deploys/site.py

Every host runs node_exporter; the observability server adds Prometheus and Alertmanager.
"""

from pyinfra import host

from deploys import alertmanager, node_exporter, prometheus
from deploys.common import installation
from obsstack.provenance import deploy_commit, deployer, run_started
from obsstack.settings import check_host_data
from operations.component import converge
from operations.releases import record_release

check_host_data(host.name, set(host.groups), host.data.dict())

components = [node_exporter.component()]
if "observability" in host.groups:
    components += [prometheus.component(), alertmanager.component()]

for component in components:
    converge(component, installation())

record_release(
    name="Record release",
    components=[component.to_record() for component in components],
    run_started=run_started(),
    commit=deploy_commit(),
    deployer=deployer(),
    keep=host.data.releases_kept,
)
