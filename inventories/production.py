"""Production hosts. Replace the names/addresses with yours; see README "Inventories"."""

observability = [
    ("obs.example.com", {"ssh_user": "root"}),
]
monitored = [
    ("web1.example.com", {"ssh_user": "root"}),
]
