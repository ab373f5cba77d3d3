"""The whole deploy: what exists on each host, by role.

    pyinfra inventories/lab.py deploys/site.py

Every host runs node_exporter; the observability server adds Prometheus and Alertmanager.
"""

from pyinfra import host

from deploys import alertmanager, node_exporter, prometheus
from obsstack.settings import check_host_data

check_host_data(host.name, set(host.groups), host.data.dict())

node_exporter.deploy()

if "observability" in host.groups:
    prometheus.deploy()
    alertmanager.deploy()
