"""The local lab: real Debian 13 hosts booted with systemd-nspawn (``invoke lab.up``).

Every host is also in the group ``lab``, whose data is the lab's settings
(``obslab/settings.py``): defined last, it overrides group_data/ for these hosts only.
Deploys log in as root, but on app1 as the lab's ``deploy`` user, which becomes root with
passwordless sudo.
"""

from obslab import machines as _machines
from obslab.settings import lab_settings as _lab_settings


def _connection(host: _machines.LabHost) -> dict:
    """Root, or the lab's deploy user with passwordless sudo (app1)."""
    return {
        "ssh_hostname": host.address,
        "ssh_user": host.login,
        "ssh_key": str(_machines.SSH_KEY),
        "ssh_known_hosts_file": str(_machines.KNOWN_HOSTS),
        "ssh_strict_host_key_checking": "yes",
        **({"_sudo": True} if host.login != "root" else {}),
    }


_deployed = [host for host in _machines.HOSTS if {"observability", "monitored"} & set(host.groups)]
observability = [(h.name, _connection(h)) for h in _deployed if "observability" in h.groups]
monitored = [(h.name, _connection(h)) for h in _deployed if "monitored" in h.groups]
lab = ([h.name for h in _deployed], _lab_settings())
