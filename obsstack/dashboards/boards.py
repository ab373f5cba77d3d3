"""The stack's dashboards, one function each; every panel's query is run against the lab's
real Prometheus and Loki by tests/lab/test_dashboards.py.

Example::

    from obsstack.dashboards.boards import host
    host().build().title     # 'Host'
"""

from __future__ import annotations

from obsstack.dashboards.panels import (
    LOG_SELECTOR,
    LOKI,
    SELECTOR,
    Query,
    board,
    logs_panel,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)

S = SELECTOR
L = LOG_SELECTOR


def fleet():
    return board(
        "fleet",
        "Fleet overview",
        "Every host and target at a glance: what is up, what alerts, the last deploy, drift "
        "and health.",
        [
            row("Hosts"),
            stat_panel(
                "Hosts up",
                "none",
                "Hosts whose node_exporter Prometheus scrapes right now.",
                [Query(f'count(up{{job="node", {S}}} == 1)')],
            ),
            stat_panel(
                "Targets down",
                "none",
                "Scrape targets of any job that do not answer (0 is good).",
                [Query(f"count(up{{{S}}} == 0) or vector(0)")],
            ),
            stat_panel(
                "Alerts firing",
                "none",
                "Alerts firing in Prometheus now, the always-firing Watchdog left out.",
                [Query('count(ALERTS{alertstate="firing", alertname!="Watchdog"}) or vector(0)')],
            ),
            stat_panel(
                "Health checks failing",
                "none",
                "Checks that failed in the last `invoke health` run of each host.",
                [Query(f"sum(obs_health_checks_failed{{{S}}})")],
            ),
            table_panel(
                "Scrape targets",
                "none",
                "Every target Prometheus scrapes and whether it answered (1) the last time.",
                [Query(f"up{{{S}}}")],
            ),
            table_panel(
                "Firing alerts",
                "none",
                "The alerts firing now, with their labels.",
                [Query('ALERTS{alertstate="firing"}')],
            ),
            row("Deploys, drift and health"),
            table_panel(
                "Last successful deploy",
                "dateTimeFromNow",
                "When each host was last deployed successfully.",
                [Query(f"obs_deploy_last_success_timestamp_seconds{{{S}}} * 1000")],
                width=8,
            ),
            table_panel(
                "Drift",
                "none",
                "1 where the last `invoke drift` found the host differing from the repository.",
                [Query(f"obs_drift_detected{{{S}}}")],
                width=8,
            ),
            table_panel(
                "Last health check",
                "dateTimeFromNow",
                "When `invoke health` last checked each host.",
                [Query(f"obs_health_last_run_timestamp_seconds{{{S}}} * 1000")],
                width=8,
            ),
        ],
    )


def host():
    return board(
        "host",
        "Host",
        "CPU, memory, disks, network, load and systemd of the selected hosts.",
        [
            row("CPU and memory"),
            timeseries_panel(
                "CPU busy",
                "percentunit",
                "Share of CPU time spent on anything but idle, averaged over the host's CPUs.",
                [
                    Query(
                        f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle", {S}}}'
                        "[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Memory available",
                "percentunit",
                "MemAvailable over MemTotal: what programs can still get without swapping.",
                [
                    Query(
                        f"node_memory_MemAvailable_bytes{{{S}}}"
                        f" / node_memory_MemTotal_bytes{{{S}}}",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Load per CPU",
                "short",
                "The 15-minute load average divided by the number of CPUs: above 1, work waits.",
                [
                    Query(
                        f"node_load15{{{S}}} / on (instance) count by (instance) "
                        f'(node_cpu_seconds_total{{mode="idle", {S}}})',
                        "{{instance}}",
                    )
                ],
                minimum=None,
            ),
            table_panel(
                "Failed systemd units",
                "none",
                "Units in the failed state on each host (0 is good).",
                [Query(f'sum by (instance) (node_systemd_unit_state{{state="failed", {S}}})')],
            ),
            row("Disks"),
            timeseries_panel(
                "Disk space used",
                "percentunit",
                "Used share of each real filesystem.",
                [
                    Query(
                        f'1 - node_filesystem_avail_bytes{{fstype!~"tmpfs|overlay|squashfs", {S}}}'
                        f' / node_filesystem_size_bytes{{fstype!~"tmpfs|overlay|squashfs", {S}}}',
                        "{{instance}} {{mountpoint}}",
                    )
                ],
            ),
            timeseries_panel(
                "Free space in 24 hours",
                "bytes",
                "Where the last 6 hours' trend takes each filesystem's free space a day from "
                "now: below zero, it fills up within a day.",
                [
                    Query(
                        "predict_linear(node_filesystem_avail_bytes"
                        f'{{fstype!~"tmpfs|overlay|squashfs", {S}}}[6h], 86400)',
                        "{{instance}} {{mountpoint}}",
                    )
                ],
                minimum=None,
            ),
            row("Network"),
            timeseries_panel(
                "Network received",
                "Bps",
                "Bytes received per second on each interface but loopback.",
                [
                    Query(
                        f'rate(node_network_receive_bytes_total{{device!="lo", {S}}}'
                        "[$__rate_interval])",
                        "{{instance}} {{device}}",
                    )
                ],
            ),
            timeseries_panel(
                "Network sent",
                "Bps",
                "Bytes sent per second on each interface but loopback.",
                [
                    Query(
                        f'rate(node_network_transmit_bytes_total{{device!="lo", {S}}}'
                        "[$__rate_interval])",
                        "{{instance}} {{device}}",
                    )
                ],
            ),
        ],
    )


def nginx():
    return board(
        "nginx",
        "nginx",
        "nginx's connections and requests on the hosts that run the nginx agent.",
        [
            row("nginx"),
            stat_panel(
                "nginx up",
                "none",
                "1 where nginx-prometheus-exporter reads nginx's stub_status.",
                [Query(f"min(nginx_up{{{S}}})")],
            ),
            timeseries_panel(
                "Requests",
                "reqps",
                "Requests nginx served per second.",
                [
                    Query(
                        f"rate(nginx_http_requests_total{{{S}}}[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
                width=18,
            ),
            timeseries_panel(
                "Connections",
                "short",
                "Open client connections: reading a request, writing an answer, or idle.",
                [
                    Query(f"nginx_connections_reading{{{S}}}", "{{instance}} reading"),
                    Query(f"nginx_connections_writing{{{S}}}", "{{instance}} writing"),
                    Query(f"nginx_connections_waiting{{{S}}}", "{{instance}} waiting"),
                ],
            ),
            timeseries_panel(
                "Dropped connections",
                "short",
                "Connections accepted but not handled per second (worker_connections reached).",
                [
                    Query(
                        f"rate(nginx_connections_accepted{{{S}}}[$__rate_interval])"
                        f" - rate(nginx_connections_handled{{{S}}}[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
            ),
        ],
    )


def mysql():
    return board(
        "mysql",
        "MySQL / MariaDB",
        "The databases of the hosts that run the mysql agent.",
        [
            row("Server"),
            stat_panel(
                "MySQL up",
                "none",
                "1 where mysqld_exporter logs in to the database.",
                [Query(f"min(mysql_up{{{S}}})")],
            ),
            timeseries_panel(
                "Connections used",
                "percentunit",
                "Connected threads over max_connections: at 100% new clients are refused.",
                [
                    Query(
                        f"mysql_global_status_threads_connected{{{S}}}"
                        f" / mysql_global_variables_max_connections{{{S}}}",
                        "{{instance}}",
                    )
                ],
                width=18,
            ),
            timeseries_panel(
                "Queries",
                "qps",
                "Statements the server executed per second.",
                [
                    Query(
                        f"rate(mysql_global_status_queries{{{S}}}[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Slow queries",
                "qps",
                "Statements per second that took longer than long_query_time.",
                [
                    Query(
                        f"rate(mysql_global_status_slow_queries{{{S}}}[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
            ),
            row("Replication"),
            timeseries_panel(
                "Replication lag",
                "s",
                "How far a replica's SQL thread is behind its source (replicas only).",
                [
                    Query(
                        f"mysql_slave_status_seconds_behind_master{{{S}}}",
                        "{{instance}}",
                    )
                ],
                width=24,
            ),
        ],
    )


def php_fpm():
    return board(
        "php-fpm",
        "PHP-FPM",
        "Each PHP-FPM pool of the hosts that run the php_fpm agent (one target per pool).",
        [
            row("Pools"),
            timeseries_panel(
                "Active processes",
                "short",
                "Workers busy with a request, per pool.",
                [Query(f"phpfpm_active_processes{{{S}}}", "{{instance}} {{pool}}")],
            ),
            timeseries_panel(
                "Idle processes",
                "short",
                "Workers waiting for a request, per pool.",
                [Query(f"phpfpm_idle_processes{{{S}}}", "{{instance}} {{pool}}")],
            ),
            timeseries_panel(
                "Requests accepted",
                "reqps",
                "Requests the pool accepted per second.",
                [
                    Query(
                        f"rate(phpfpm_accepted_connections{{{S}}}[$__rate_interval])",
                        "{{instance}} {{pool}}",
                    )
                ],
            ),
            timeseries_panel(
                "Listen queue",
                "short",
                "Requests waiting for a free worker (TCP pools only report it).",
                [Query(f"phpfpm_listen_queue{{{S}}}", "{{instance}} {{pool}}")],
            ),
            table_panel(
                "Max children reached",
                "none",
                "How often each pool hit pm.max_children since it started: raise it, or add "
                "memory.",
                [Query(f"phpfpm_max_children_reached{{{S}}}")],
                width=24,
            ),
        ],
    )


def fail2ban():
    return board(
        "fail2ban",
        "fail2ban",
        "fail2ban's jails on the hosts that run the fail2ban agent.",
        [
            row("Jails"),
            stat_panel(
                "fail2ban up",
                "none",
                "1 where fail2ban-client answered the last check.",
                [Query(f"min(fail2ban_up{{{S}}})")],
            ),
            timeseries_panel(
                "Banned now",
                "short",
                "Addresses each jail bans right now.",
                [Query(f"fail2ban_jail_banned_current{{{S}}}", "{{instance}} {{jail}}")],
                width=18,
            ),
            timeseries_panel(
                "Failures",
                "short",
                "Failed attempts each jail counted per minute.",
                [
                    Query(
                        f"increase(fail2ban_jail_failed_total{{{S}}}[5m]) / 5",
                        "{{instance}} {{jail}}",
                    )
                ],
                width=24,
            ),
        ],
    )


def probes():
    return board(
        "probes",
        "Probes and TLS expiry",
        "The URLs blackbox_exporter probes from the observability server (the URL is the "
        "instance).",
        [
            row("Probes"),
            table_panel(
                "Probe result",
                "none",
                "1 where the last probe of the URL succeeded (DNS, TCP, TLS, HTTP 2xx).",
                [Query('probe_success{job="blackbox", env=~"$env"}')],
            ),
            table_panel(
                "Certificate expires in",
                "s",
                "Time left before the earliest certificate the URL serves expires.",
                [Query('probe_ssl_earliest_cert_expiry{job="blackbox", env=~"$env"} - time()')],
            ),
            timeseries_panel(
                "Probe duration",
                "s",
                "How long each probe took, all phases together.",
                [
                    Query(
                        'probe_duration_seconds{job="blackbox", env=~"$env"}', "{{instance}}"
                    )
                ],
                width=24,
            ),
        ],
    )


def deploys():
    return board(
        "deploys",
        "Deploys",
        "The stack's own deploys, drift checks and health checks (obs_* metrics each host "
        "writes to node_exporter's textfile directory).",
        [
            row("Deploys"),
            table_panel(
                "Current release",
                "none",
                "The release each host runs now, with its components' versions.",
                [Query(f"obs_deploy_info{{{S}}}")],
                width=24,
            ),
            timeseries_panel(
                "Deploys",
                "short",
                "Successful deploys per host in each hour (a change of the last success time).",
                [
                    Query(
                        f"changes(obs_deploy_last_success_timestamp_seconds{{{S}}}[1h])",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Failed deploys",
                "short",
                "Deploys per host in each hour that failed (and were rolled back, unless "
                "--no-rollback).",
                [
                    Query(
                        f"changes(obs_deploy_last_failure_timestamp_seconds{{{S}}}[1h])",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Rollbacks",
                "short",
                "Deploys per host in each hour that failed their checks and were rolled back "
                "to the release before (a change of the last rollback time).",
                [
                    Query(
                        f"changes(obs_deploy_last_rollback_timestamp_seconds{{{S}}}[1h])",
                        "{{instance}}",
                    )
                ],
            ),
            table_panel(
                "Last deploy succeeded",
                "none",
                "1 where the last deploy of the host succeeded, after any rollback.",
                [Query(f"obs_deploy_last_success{{{S}}}")],
            ),
            table_panel(
                "Deploy duration",
                "s",
                "Wall time of each host's last deploy.",
                [Query(f"obs_deploy_duration_seconds{{{S}}}")],
            ),
            row("Drift and health"),
            timeseries_panel(
                "Drift",
                "none",
                "1 while the last `invoke drift` found the host differing from the repository.",
                [Query(f"obs_drift_detected{{{S}}}", "{{instance}}")],
            ),
            timeseries_panel(
                "Failing health checks",
                "none",
                "Checks that failed in each `invoke health` run.",
                [Query(f"obs_health_checks_failed{{{S}}}", "{{instance}}")],
            ),
        ],
    )


def logs():
    return board(
        "logs",
        "Logs",
        "The hosts' journal and service logs in Loki.",
        [
            row("Volume and errors"),
            timeseries_panel(
                "Lines per minute",
                "short",
                "Log lines Loki received per minute from each host.",
                [
                    Query(
                        f"sum by (host) (count_over_time({{{L}}}[1m]))",
                        "{{host}}",
                    )
                ],
                source=LOKI,
            ),
            timeseries_panel(
                "Error lines per minute",
                "short",
                "Lines per minute that say error, fatal, critical or failed, per host and job.",
                [
                    Query(
                        f'sum by (host, job) (count_over_time({{{L}}} |~ "(?i)(error|fatal|crit|'
                        'failed)" [1m]))',
                        "{{host}} {{job}}",
                    )
                ],
                source=LOKI,
            ),
            row("Lines"),
            logs_panel(
                "Logs",
                "The newest lines of the selected hosts (every job: journal, nginx, PHP-FPM, "
                "MySQL, fail2ban).",
                f"{{{L}}}",
            ),
        ],
    )


def self_monitoring():
    return board(
        "self",
        "Loki and Prometheus",
        "The observability server's own Prometheus and Loki: how much they hold and how "
        "they are doing.",
        [
            row("Prometheus"),
            timeseries_panel(
                "Series in memory",
                "short",
                "Series in Prometheus' head block: what memory use follows.",
                [Query("prometheus_tsdb_head_series", "{{instance}}")],
            ),
            timeseries_panel(
                "Samples ingested",
                "short",
                "Samples Prometheus appended per second.",
                [
                    Query(
                        "rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval])",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Rule evaluation time",
                "s",
                "How long each rule group took to evaluate, last time.",
                [Query("prometheus_rule_group_last_duration_seconds", "{{rule_group}}")],
            ),
            timeseries_panel(
                "Scrape time",
                "s",
                "How long each target's last scrape took.",
                [Query(f"scrape_duration_seconds{{{S}}}", "{{job}} {{instance}}")],
            ),
            row("Loki"),
            timeseries_panel(
                "Bytes received",
                "Bps",
                "Log bytes Loki's distributor received per second.",
                [
                    Query(
                        "sum by (instance) (rate(loki_distributor_bytes_received_total"
                        "[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
            ),
            timeseries_panel(
                "Streams in memory",
                "short",
                "Streams Loki's ingester holds open.",
                [Query("loki_ingester_memory_streams", "{{instance}}")],
            ),
            timeseries_panel(
                "Push latency (99th percentile)",
                "s",
                "How long the slowest 1% of pushes took.",
                [
                    Query(
                        "histogram_quantile(0.99, sum by (le) (rate(loki_request_duration_seconds"
                        '_bucket{route="loki_api_v1_push"}[$__rate_interval])))',
                        "p99",
                    )
                ],
            ),
            table_panel(
                "Last compaction",
                "dateTimeFromNow",
                "When Loki's compactor last compacted the index and applied retention.",
                [
                    Query(
                        "loki_boltdb_shipper_compact_tables_operation_last_successful_run"
                        "_timestamp_seconds * 1000"
                    )
                ],
            ),
        ],
    )


# In the order Grafana lists them, each in its folder.
BOARDS = {
    "Overview": (fleet, host, deploys, logs),
    "Services": (nginx, mysql, php_fpm, fail2ban, probes),
    "Stack": (self_monitoring,),
}
