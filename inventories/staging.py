"""Staging hosts. Replace the names/addresses with yours; see README "Inventories"."""

observability = [
    ("obs.staging.example.com", {"ssh_user": "root"}),
]
monitored = [
    ("web1.staging.example.com", {"ssh_user": "root"}),
]
