"""The local lab: real Debian 13 hosts booted with systemd-nspawn (``invoke lab.up``).

Hosts in this file also belong to the group ``lab`` (pyinfra names a group after the
inventory file), so ``group_data/lab.py`` applies to them. Deploys log in as root, but on
app1 as the lab's ``deploy`` user, which becomes root with passwordless sudo.
"""

from obsstack import lab as _lab


def _connection(host: _lab.LabHost) -> dict:
    """Root, or the lab's deploy user with passwordless sudo (app1)."""
    return {
        "ssh_hostname": host.address,
        "ssh_user": host.login,
        "ssh_key": str(_lab.SSH_KEY),
        "ssh_known_hosts_file": str(_lab.KNOWN_HOSTS),
        "ssh_strict_host_key_checking": "yes",
        **({"_sudo": True} if host.login != "root" else {}),
    }


observability = [
    (host.name, _connection(host)) for host in _lab.HOSTS if "observability" in host.groups
]
monitored = [(host.name, _connection(host)) for host in _lab.HOSTS if "monitored" in host.groups]
