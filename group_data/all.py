"""Settings for every host. Validated once at load by obsstack.settings."""

# Alert rule thresholds, rendered into templates/prometheus/rules/*.yml.j2.
alert_rules = {
    # InstanceDown: how long a scrape target must fail (up == 0) before it alerts; duration.
    "instance_down_for": "2m",
    # NodeFilesystemAlmostFull (critical): free space below this; percent of the filesystem.
    "filesystem_free_critical_percent": 5,
    # NodeFilesystemAlmostFull: how long free space must stay below that; duration.
    "filesystem_almost_full_for": "15m",
    # NodeFilesystemFillingUp (warning): only considered below this free space; percent.
    "filesystem_free_warning_percent": 20,
    # NodeFilesystemFillingUp: the 6h trend predicts zero free space within this; hours.
    "filesystem_fill_prediction_hours": 24,
    # NodeFilesystemFillingUp: how long the prediction must hold; duration.
    "filesystem_filling_up_for": "1h",
    # NodeMemoryLow (warning): MemAvailable below this; percent of MemTotal.
    "memory_available_warning_percent": 10,
    # NodeMemoryLow: how long memory must stay that low; duration.
    "memory_low_for": "15m",
    # NodeHighLoad (warning): 15-minute load average above this; load per CPU.
    "load15_per_cpu_warning": 2,
    # NodeHighLoad: how long the load must stay that high; duration.
    "high_load_for": "30m",
    # NodeClockSkew (warning): clock offset beyond plus or minus this; seconds.
    "clock_offset_warning_seconds": 0.05,
    # NodeClockSkew: how long the offset must persist without NTP correcting it; duration.
    "clock_skew_for": "10m",
    # NodeSystemdUnitFailed (warning): how long a unit must stay failed; duration.
    "systemd_unit_failed_for": "5m",
    # NginxDown (critical): how long the exporter must fail to read nginx's status; duration.
    "nginx_down_for": "2m",
    # NginxDroppedConnections (warning): how long nginx must keep dropping connections; duration.
    "nginx_dropped_connections_for": "5m",
    # MysqlDown (critical): how long the exporter must fail to reach the server; duration.
    "mysql_down_for": "2m",
    # MysqlTooManyConnections (warning): connections above this; percent of max_connections.
    "mysql_connections_warning_percent": 80,
    # MysqlTooManyConnections: how long connections must stay that high; duration.
    "mysql_too_many_connections_for": "5m",
    # MysqlReplicationStopped (critical): how long a replica's IO or SQL thread must be
    # stopped; duration.
    "mysql_replication_stopped_for": "5m",
    # MysqlReplicationLag (warning): a replica behind its primary by more than this; seconds.
    "mysql_replication_lag_warning_seconds": 300,
    # MysqlReplicationLag: how long the lag must last; duration.
    "mysql_replication_lag_for": "10m",
    # PhpFpmMaxChildrenReached (warning): how long a pool must keep hitting pm.max_children
    # (at least once every 5 minutes); duration.
    "php_fpm_max_children_reached_for": "10m",
    # PhpFpmListenQueue (warning): how long requests must keep waiting for a worker; duration.
    "php_fpm_listen_queue_for": "5m",
    # Fail2banDown (warning): how long fail2ban must not answer fail2ban-client; duration.
    "fail2ban_down_for": "5m",
    # Fail2banMetricsStale (warning): fail2ban metrics older than this; seconds.
    "fail2ban_metrics_age_warning_seconds": 900,
    # ProbeFailed (critical): how long a blackbox probe of a site must fail; duration.
    "probe_failed_for": "2m",
    # TlsCertificateExpiringSoon (warning): a probed certificate expires within this; days.
    "tls_certificate_expiry_warning_days": 21,
    # TlsCertificateExpiringSoon (critical): a probed certificate expires within this; days.
    "tls_certificate_expiry_critical_days": 7,
}

# Where release archives come from: "github" (upstream releases), an http(s):// mirror
# laid out as <url>/<component>/<version>/<archive>, or a local directory with that layout
# (air-gapped installs). Downloads are cached on the controller in artifact_cache_dir
# (default ~/.cache/observability-stack/artifacts).
artifact_source = "github"

# Pinned releases (linux-amd64). sha256 is the archive's checksum from the release's checksum
# file (sha256sums.txt; nginx-prometheus-exporter_V_checksums.txt for the nginx exporter); it is
# verified on the controller before upload and again on the host. A host needs the pins of
# the components it runs.
releases = {
    "prometheus": {
        "version": "3.14.0",
        "sha256": "f665c6da19eb7ba399c915d30c7d9793c9b417bf8a749b504bc470678631478d",
    },
    "alertmanager": {
        "version": "0.34.0",
        "sha256": "19c75a11d8c03dc4ade7abdbddfb3a8f28c9e7b000d0849cda0cd71dffd74a03",
    },
    "node_exporter": {
        "version": "1.12.1",
        "sha256": "b51d8a76aa2a9156a55d501aca6276fae09e262259a5e4e831d2c2222f084e63",
    },
    "mysqld_exporter": {
        "version": "0.20.0",
        "sha256": "5773496e9962ca3817b3599fe4d74f218c95c1295eb2a742462df8e035fe51bd",
    },
    "blackbox_exporter": {
        "version": "0.28.0",
        "sha256": "caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329",
    },
    "nginx_exporter": {
        "version": "1.5.3",
        "sha256": "3a0dd1ea6db57cd360544d0aed38df4adabcfeb31e931dc481d535c66f92641d",
    },
}

# Label "env" on every target and alert.
environment = "production"
# Controller directory with one file per secret (0700 dir, 0600 files), relative to the
# repository root; `invoke secrets.init` creates it.
secrets_dir = "secrets"
# Timestamped copies of replaced config files kept under /var/backups/observability-stack.
config_backups_kept = 10
node_exporter_port = 9100
# The nginx agent: nginx-prometheus-exporter's port, and the loopback-only port of the
# stub_status server it reads (a conf.d file of ours; pick a port no site of yours uses).
nginx_exporter_port = 9113
nginx_stub_status_port = 8181
# The MySQL/MariaDB agent's mysqld_exporter; its account's password is the secret
# "mysql_exporter_password" (`invoke secrets.init` generates it).
mysqld_exporter_port = 9104
# The PHP-FPM agent: the port of the nginx server (a conf.d file of ours) that hands each
# pool's own status page to the observability server.
php_fpm_status_port = 9253
# More node_exporter flags, e.g. ["--collector.processes"] (see node_exporter --help).
node_exporter_extra_flags = []
# Recorded releases kept on each host for rollback (/var/lib/observability-stack/releases).
releases_kept = 10
# After a deploy, health must pass within this time or the deploy is rolled back.
health_gate_timeout = "90s"
# What monitored hosts run besides node_exporter: "auto" (whatever of nginx, MySQL/MariaDB,
# PHP-FPM behind nginx, and fail2ban is installed, detected at each deploy) or a list of
# agent names, e.g. ["nginx", "php_fpm", "fail2ban"] ("php_fpm" needs "nginx": its status
# pages are served through nginx). An agent taken off a host's list is removed from it.
agents = "auto"
# UFW on every host denies inbound traffic except SSH, what the stack itself needs (the
# proxy's 80/443 on the observability server, scrapes from it on monitored hosts) and these:
# {"port": 25, "proto": "tcp" (default) or "udp", "source": None (anywhere, default) or an
# address/network, "comment": "why"}.
firewall_extra_rules = []
