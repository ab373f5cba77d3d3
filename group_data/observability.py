"""Settings for the observability server (Prometheus, Alertmanager, the proxy).

What has no default (README "Settings"): replace the placeholders with yours. Prometheus'
retention and intervals, the proxy's users, blackbox_exporter's targets and the rest have
their defaults in the catalog; override them here, for example:

    prometheus_retention_time = "90d"
    blackbox_targets = ["https://www.yourcompany.tld/"]
    proxy_users = {"admin": ["prometheus", "alertmanager", "alertmanager_write"]}
"""

# Where alerts are mailed (the receiver "email", the default). The relay password is the
# secret "smtp_password" (secrets/smtp_password or $OBS_SECRET_SMTP_PASSWORD). Slack,
# PagerDuty, webhooks, routes and the heartbeat: README, "Alerting".
alertmanager_email = {
    "smarthost": "smtp.example.com:587",
    "sender": "alertmanager@example.com",
    "recipients": ["ops@example.com"],
    "auth_username": "alertmanager@example.com",
    "require_tls": True,
    # A CA bundle (controller path) for a relay with a private CA; None = system CAs.
    "ca_file": None,
}

# The server's public name: nginx serves it on 80/443 and certbot obtains its certificate
# (HTTP-01: the name must resolve to this server and port 80 must reach it).
domain = "monitoring.example.com"
# The ACME account address: the CA mails certificate expiry warnings here.
acme_email = "ops@example.com"
