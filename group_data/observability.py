"""Settings for the observability server (Prometheus, Alertmanager)."""

prometheus_port = 9090
# Data older than this, or beyond this size ("0" = no size limit), is deleted.
prometheus_retention_time = "30d"
prometheus_retention_size = "0"
prometheus_scrape_interval = "30s"
prometheus_evaluation_interval = "30s"
# Your own rule files (paths on the controller, relative to the repository root). Each is
# checked with promtool on the server before it is installed.
prometheus_extra_rule_files = []

alertmanager_port = 9093
# Where alerts are mailed. The relay password is the secret "smtp_password"
# (secrets/smtp_password or $OBS_SECRET_SMTP_PASSWORD).
alertmanager_email = {
    "smarthost": "smtp.example.com:587",
    "sender": "alertmanager@example.com",
    "recipients": ["ops@example.com"],
    "auth_username": "alertmanager@example.com",
    "require_tls": True,
    # A CA bundle (controller path) for a relay with a private CA; None = system CAs.
    "ca_file": None,
}
# Wait this long to batch the first alerts of a group, then this long between updates,
# and re-send a still-firing alert after the repeat interval.
alertmanager_group_wait = "30s"
alertmanager_group_interval = "5m"
alertmanager_repeat_interval = "4h"

# The server's public name: nginx serves it on 80/443 and certbot obtains its certificate
# (HTTP-01: the name must resolve to this server and port 80 must reach it).
domain = "monitoring.example.com"
# The ACME account address: the CA mails certificate expiry warnings here.
acme_email = "ops@example.com"
# The ACME CA. Let's Encrypt production by default; its staging CA (for trying things out,
# untrusted certificates) is https://acme-staging-v02.api.letsencrypt.org/directory, and an
# internal ACME CA (step-ca, pebble, ...) works too, with its CA bundle below.
acme_directory_url = "https://acme-v02.api.letsencrypt.org/directory"
# A CA bundle (controller path) to trust the ACME server's own HTTPS with; None = system CAs.
acme_ca_bundle = None
# URLs blackbox_exporter probes from this server (HTTP 2xx expected, TLS verified); alerts
# when one fails or its certificate nears expiry. https://<domain>/healthz answers without
# a login. Empty: no blackbox_exporter.
blackbox_targets = []
# A CA bundle (controller path) the probes trust besides the system's, or None.
blackbox_ca_file = None
blackbox_exporter_port = 9115
# Who may open what behind the proxy: {user: [permissions]}. "prometheus" (/prometheus/)
# and "alertmanager" (/alertmanager/) let a user read; "alertmanager_write" also lets them
# create and expire silences and post alerts. "grafana" (/) and "loki" (/loki/) apply once
# those are deployed. Each user's password is the secret "proxy_password_<user>":
# `invoke secrets.init` generates it, `invoke secrets.rotate proxy_password_<user>`
# replaces it.
proxy_users = {"admin": ["prometheus", "alertmanager", "alertmanager_write", "grafana", "loki"]}
