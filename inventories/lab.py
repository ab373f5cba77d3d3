"""The local lab: real Debian 13 hosts booted with systemd-nspawn (``invoke lab.up``).

Hosts in this file also belong to the group ``lab`` (pyinfra names a group after the
inventory file), so ``group_data/lab.py`` applies to them.
"""

from obsstack import lab as _lab

_connection = {
    "ssh_user": "root",
    "ssh_key": str(_lab.SSH_KEY),
    "ssh_known_hosts_file": str(_lab.KNOWN_HOSTS),
    "ssh_strict_host_key_checking": "yes",
}

observability = [
    (host.name, {"ssh_hostname": host.address, **_connection})
    for host in _lab.HOSTS
    if "observability" in host.groups
]
monitored = [
    (host.name, {"ssh_hostname": host.address, **_connection})
    for host in _lab.HOSTS
    if "monitored" in host.groups
]
