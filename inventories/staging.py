"""Staging hosts. Replace the names/addresses with yours; see README "Inventories"."""

observability = [
    ("obs.staging.example.com", {"ssh_user": "root", "ssh_strict_host_key_checking": "yes"}),
]
monitored = [
    ("web1.staging.example.com", {"ssh_user": "root", "ssh_strict_host_key_checking": "yes"}),
]
