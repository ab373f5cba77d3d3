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
}

# Where release archives come from: "github" (upstream releases), an http(s):// mirror
# laid out as <url>/<component>/<version>/<archive>, or a local directory with that layout
# (air-gapped installs). Downloads are cached on the controller in artifact_cache_dir
# (default ~/.cache/observability-stack/artifacts).
artifact_source = "github"

# Pinned releases. sha256 is the archive's checksum from the release's sha256sums.txt;
# it is verified on the controller before upload and again on the host.
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
}

# Label "env" on every target and alert.
environment = "production"
# Controller directory with one file per secret (0700 dir, 0600 files), relative to the
# repository root; `invoke secrets.init` creates it.
secrets_dir = "secrets"
# Timestamped copies of replaced config files kept under /var/backups/observability-stack.
config_backups_kept = 10
node_exporter_port = 9100
# More node_exporter flags, e.g. ["--collector.processes"] (see node_exporter --help).
node_exporter_extra_flags = []
# Recorded releases kept on each host for rollback (/var/lib/observability-stack/releases).
releases_kept = 10
# After a deploy, health must pass within this time or the deploy is rolled back.
health_gate_timeout = "90s"
# UFW on every host denies inbound traffic except SSH, what the stack itself needs (the
# proxy's 80/443 on the observability server, scrapes from it on monitored hosts) and these:
# {"port": 25, "proto": "tcp" (default) or "udp", "source": None (anywhere, default) or an
# address/network, "comment": "why"}.
firewall_extra_rules = []
