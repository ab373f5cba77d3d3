"""The whole deploy: what exists on each host, by role, then the release it amounts to.

    pyinfra inventories/lab.py deploys/site.py

Every host gets its firewall and node_exporter. The observability server adds Prometheus,
Alertmanager and the TLS reverse proxy in front of them, and blackbox_exporter while it has
targets; a monitored host, its agents. What each of them is comes from its catalog entry
(``obsstack.catalog``); what a host's roles could run but it does not, is removed.
"""

from deploys.entrypoints import site

site()
