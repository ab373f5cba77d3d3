"""Settings for monitored hosts (web servers running the exporters)."""

# They are web servers: their sites stay reachable once the firewall is on.
firewall_extra_rules = [
    {"port": 80, "comment": "web server: http"},
    {"port": 443, "comment": "web server: https"},
]
