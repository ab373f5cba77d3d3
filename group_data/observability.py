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
