"""The agents of monitored hosts: what the ``agents`` setting names, besides node_exporter.

Example::

    >>> from obsstack.catalog.agents import NGINX_EXPORTER
    >>> NGINX_EXPORTER.agent.name, NGINX_EXPORTER.archive.archive_name("1.5.3")
    ('nginx', 'nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz')
"""

from __future__ import annotations

from obsstack.catalog.schema import (
    GORELEASER,
    QUOTE_FREE,
    QUOTE_FREE_TEXT,
    SCRAPERS,
    Account,
    Agent,
    Component,
    Directory,
    Health,
    Hooks,
    Listen,
    LogFiles,
    Opening,
    Pin,
    ReleaseArchive,
    Scrape,
    Secret,
    Setting,
    Unit,
    UnitContext,
)
from obsstack.catalog.server import NGINX_LOGS
from obsstack.fields import DURATION_FIELD, PERCENT, PORT, number

MONITORED = ("monitored",)

# The loopback-only stub_status server of ours in the user's nginx that the exporter reads.
NGINX_STATUS_PATH = "/stub_status"


def nginx_exporter_flags(unit: UnitContext) -> list[str]:
    status_port = unit.settings["nginx_stub_status_port"]
    return [
        f"--nginx.scrape-uri=http://127.0.0.1:{status_port}{NGINX_STATUS_PATH}",
        f"--web.listen-address={unit.listen}",
    ]


NGINX_EXPORTER = Component(
    name="nginx_exporter",
    summary="nginx's stub_status as metrics (nginx-prometheus-exporter)",
    roles=MONITORED,
    # Since 1.0; the 0.x releases named their checksum file sha256sums.txt.
    archive=ReleaseArchive(
        "nginx/nginx-prometheus-exporter",
        "nginx-prometheus-exporter",
        ("nginx-prometheus-exporter",),
        Pin("1.5.3", "3a0dd1ea6db57cd360544d0aed38df4adabcfeb31e931dc481d535c66f92641d"),
        layout=GORELEASER,
    ),
    agent=Agent("nginx", detected_by=("nginx.service",)),
    logs=NGINX_LOGS,
    account=Account("nginx-exp", "/var/lib/nginx_exporter"),
    unit=Unit(
        "nginx_exporter.service",
        description="nginx-prometheus-exporter (nginx's stub_status as metrics)",
        documentation="https://github.com/nginx/nginx-prometheus-exporter",
        flags=nginx_exporter_flags,
        reload_signal=None,
    ),
    listens=(
        Listen("nginx_exporter_port"),
        Listen("nginx_stub_status_port", program="nginx"),
    ),
    scrape=Scrape("nginx"),
    health=Health("/metrics"),
    rules="nginx",
    firewall=(Opening("nginx_exporter_port", SCRAPERS),),
    hooks=Hooks(
        before="deploys.nginx_exporter:status_config",
        remove="deploys.nginx_exporter:remove_status_config",
    ),
    settings=(
        Setting("nginx_exporter_port", PORT, "nginx-prometheus-exporter's port", 9113),
        Setting(
            "nginx_stub_status_port",
            PORT,
            "the loopback-only port of the stub_status server the exporter reads (a conf.d "
            "file of ours; pick a port no site of yours uses)",
            8181,
        ),
    ),
    alert_thresholds=(
        Setting(
            "nginx_down_for",
            DURATION_FIELD,
            "NginxDown (critical): how long the exporter must fail to read nginx's status",
            "2m",
        ),
        Setting(
            "nginx_dropped_connections_for",
            DURATION_FIELD,
            "NginxDroppedConnections (warning): how long nginx must keep dropping connections",
            "5m",
        ),
    ),
)

MYSQLD_CONFIG_DIR = "/etc/mysqld_exporter"
# Its login: the monitoring account's name and password (0640 root:mysqld-exp).
MYSQLD_CREDENTIALS = f"{MYSQLD_CONFIG_DIR}/.my.cnf"
MYSQL_EXPORTER_PASSWORD = Secret(
    "mysql_exporter_password",
    "password of the MySQL/MariaDB monitoring account",
    generated=True,
    kept_in=MYSQLD_CONFIG_DIR,
    # mysqld_exporter's .my.cnf has no quoting we can rely on for '#', ';' or quotes.
    charset=QUOTE_FREE,
    charset_text=QUOTE_FREE_TEXT,
)


def mysqld_exporter_flags(unit: UnitContext) -> list[str]:
    return [f"--config.my-cnf={MYSQLD_CREDENTIALS}", f"--web.listen-address={unit.listen}"]


MYSQLD_EXPORTER = Component(
    name="mysqld_exporter",
    summary="MySQL/MariaDB metrics through a read-only monitoring account",
    roles=MONITORED,
    archive=ReleaseArchive(
        "prometheus/mysqld_exporter",
        "mysqld_exporter",
        ("mysqld_exporter",),
        Pin("0.20.0", "5773496e9962ca3817b3599fe4d74f218c95c1295eb2a742462df8e035fe51bd"),
    ),
    agent=Agent("mysql", detected_by=("mariadb.service", "mysql.service")),
    # Debian's MariaDB logs its errors to the journal; these are where a my.cnf that sets
    # log_error or the slow query log usually writes.
    logs=(
        LogFiles("mysql_error", ("/var/log/mysql/error.log", "/var/log/mysql/mysqld.log")),
        LogFiles("mysql_slow", ("/var/log/mysql/*slow*.log",)),
    ),
    account=Account("mysqld-exp", "/var/lib/mysqld_exporter"),
    unit=Unit(
        "mysqld_exporter.service",
        description="Prometheus mysqld_exporter (MySQL/MariaDB metrics)",
        documentation="https://github.com/prometheus/mysqld_exporter",
        flags=mysqld_exporter_flags,
        reload_signal=None,
    ),
    directories=(Directory(MYSQLD_CONFIG_DIR),),
    listens=(Listen("mysqld_exporter_port"),),
    scrape=Scrape("mysql"),
    health=Health("/metrics"),
    secrets=(MYSQL_EXPORTER_PASSWORD,),
    rules="mysql",
    firewall=(Opening("mysqld_exporter_port", SCRAPERS),),
    restart_on_config=True,
    hooks=Hooks(
        before="deploys.mysqld_exporter:account",
        files="deploys.mysqld_exporter:config_files",
        remove="deploys.mysqld_exporter:drop_account",
    ),
    settings=(Setting("mysqld_exporter_port", PORT, "mysqld_exporter's port", 9104),),
    alert_thresholds=(
        Setting(
            "mysql_down_for",
            DURATION_FIELD,
            "MysqlDown (critical): how long the exporter must fail to reach the server",
            "2m",
        ),
        Setting(
            "mysql_connections_warning_percent",
            PERCENT,
            "MysqlTooManyConnections (warning): connections above this percent of "
            "max_connections",
            80,
        ),
        Setting(
            "mysql_too_many_connections_for",
            DURATION_FIELD,
            "MysqlTooManyConnections: how long connections must stay that high",
            "5m",
        ),
        Setting(
            "mysql_replication_stopped_for",
            DURATION_FIELD,
            "MysqlReplicationStopped (critical): how long a replica's IO or SQL thread must be "
            "stopped",
            "5m",
        ),
        Setting(
            "mysql_replication_lag_warning_seconds",
            number(1, 7 * 86400, "seconds such as 300"),
            "MysqlReplicationLag (warning): a replica behind its primary by more than this",
            300,
        ),
        Setting(
            "mysql_replication_lag_for",
            DURATION_FIELD,
            "MysqlReplicationLag: how long the lag must last",
            "10m",
        ),
    ),
)
# No exporter: FPM's own status pages, through a server of ours in the user's nginx.
PHP_FPM = Component(
    name="php_fpm",
    summary="each PHP-FPM pool's own status page, served by nginx to Prometheus",
    roles=MONITORED,
    agent=Agent("php_fpm", detected_by=("php[0-9]*-fpm.service",), needs="nginx"),
    # The master's log (Debian's error_log), and the pools' slow logs.
    logs=(LogFiles("php_fpm", ("/var/log/php*-fpm.log", "/var/log/php*-fpm/*.log")),),
    listens=(Listen("php_fpm_status_port", program="nginx"),),
    scrape=Scrape("php_fpm", per_pool=True),
    rules="php_fpm",
    firewall=(Opening("php_fpm_status_port", SCRAPERS),),
    hooks=Hooks(before="deploys.php_fpm:apply", remove="deploys.php_fpm:remove"),
    settings=(
        Setting(
            "php_fpm_status_port",
            PORT,
            "the port of the nginx server (a conf.d file of ours) that hands each pool's own "
            "status page to the observability server",
            9253,
        ),
    ),
    alert_thresholds=(
        Setting(
            "php_fpm_max_children_reached_for",
            DURATION_FIELD,
            "PhpFpmMaxChildrenReached (warning): how long a pool must keep hitting "
            "pm.max_children (at least once every 5 minutes)",
            "10m",
        ),
        Setting(
            "php_fpm_listen_queue_for",
            DURATION_FIELD,
            "PhpFpmListenQueue (warning): how long requests must keep waiting for a worker",
            "5m",
        ),
    ),
)
# No daemon: a root oneshot on a timer writes node_exporter's textfile, so it installs
# once node_exporter has its directory.
FAIL2BAN = Component(
    name="fail2ban",
    summary="jail and ban counts through node_exporter's textfile collector",
    roles=MONITORED,
    agent=Agent("fail2ban", detected_by=("fail2ban.service",)),
    logs=(LogFiles("fail2ban", ("/var/log/fail2ban.log",)),),
    rules="fail2ban",
    hooks=Hooks(after="deploys.fail2ban:install", remove="deploys.fail2ban:remove"),
    alert_thresholds=(
        Setting(
            "fail2ban_down_for",
            DURATION_FIELD,
            "Fail2banDown (warning): how long fail2ban must not answer fail2ban-client",
            "5m",
        ),
        Setting(
            "fail2ban_metrics_age_warning_seconds",
            number(
                60, 7 * 86400, "seconds such as 900 (several runs of the fail2ban metrics timer)"
            ),
            "Fail2banMetricsStale (warning): fail2ban metrics older than this",
            900,
        ),
    ),
)

PUSHGATEWAY_DATA_DIR = "/var/lib/pushgateway"


def pushgateway_flags(unit: UnitContext) -> list[str]:
    return [
        f"--web.listen-address={unit.listen}",
        # What was pushed survives a restart or an upgrade.
        f"--persistence.file={PUSHGATEWAY_DATA_DIR}/metrics",
    ]


# Opt-in: nothing installed says a host wants one, so it runs where `agents` lists it. Batch
# jobs on the host push to it (the firewall lets only the scrapers in from outside).
PUSHGATEWAY = Component(
    name="pushgateway",
    summary="metrics pushed by the host's batch jobs, kept for Prometheus to scrape",
    roles=MONITORED,
    archive=ReleaseArchive(
        "prometheus/pushgateway",
        "pushgateway",
        ("pushgateway",),
        # Upstream's sha256sums.txt value, as two independent published pins give it.
        Pin("1.11.2", "2ec72315e150dda071fdeef09360780a386a67e5207ebaa53bb18f2f1a3b89cf"),
    ),
    agent=Agent("pushgateway"),
    account=Account("pushgateway", PUSHGATEWAY_DATA_DIR),
    unit=Unit(
        "pushgateway.service",
        description="Prometheus Pushgateway (metrics pushed by batch jobs)",
        documentation="https://github.com/prometheus/pushgateway",
        flags=pushgateway_flags,
        read_write=(PUSHGATEWAY_DATA_DIR,),
        reload_signal=None,
    ),
    listens=(Listen("pushgateway_port"),),
    # The series keep the job (and instance) that pushed them; `gateway` names the host.
    scrape=Scrape("pushgateway", honor_labels=True, host_label="gateway"),
    health=Health("/-/ready"),
    rules="pushgateway",
    firewall=(Opening("pushgateway_port", SCRAPERS),),
    settings=(Setting("pushgateway_port", PORT, "the Pushgateway's port", 9091),),
    alert_thresholds=(
        Setting(
            "pushgateway_push_age_warning_seconds",
            number(60, 30 * 86400, "seconds such as 90000 (a daily job, with an hour to spare)"),
            "PushgatewayPushStale (warning): a job's last push older than this",
            90000,
        ),
    ),
)

# In the order a host installs them, and detection lists them.
ENTRIES = (NGINX_EXPORTER, MYSQLD_EXPORTER, PHP_FPM, FAIL2BAN, PUSHGATEWAY)
