"""The observability server's components: Prometheus, Alertmanager, Loki, Grafana, the nginx
reverse proxy and blackbox_exporter.

Prometheus and Alertmanager listen on loopback only and serve under their location behind
the proxy (``route_prefix``), so their links work there. Loki listens on loopback too; its
API's paths already start with ``/loki/``. Grafana listens on loopback and is the site's
root: the proxy logs its users in (Grafana's auth proxy).

Example::

    >>> from obsstack.catalog.server import PROMETHEUS
    >>> PROMETHEUS.archive.binaries, PROMETHEUS.proxy.path
    (('prometheus', 'promtool'), '/prometheus/')
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from obsstack.catalog.alerting import (
    DEFAULT_INHIBIT_RULES,
    EMAIL_RECEIVER,
    RECEIVER_TYPES,
    check_heartbeat,
    check_inhibit_rules,
    check_receivers,
    check_routes,
    check_time_intervals,
    has_secret,
)
from obsstack.catalog.schema import (
    ANYWHERE,
    GRAFANA,
    GRAFANA_SERVER,
    NGINX_COMBINED,
    QUOTE_FREE,
    QUOTE_FREE_TEXT,
    Account,
    Component,
    Directory,
    Health,
    Hooks,
    Listen,
    LogFiles,
    Opening,
    Pin,
    ProxyLocation,
    ReleaseArchive,
    Scrape,
    Secret,
    Setting,
    Unit,
    UnitContext,
)
from obsstack.catalog.scraping import (
    check_external_labels,
    check_remote_write,
    check_scrape_jobs,
    logs_in,
)
from obsstack.fields import (
    DURATION_FIELD,
    HTTP_URL,
    PORT,
    SIZE,
    Field,
    Section,
    check_domain,
    check_email,
    check_email_list,
    check_https_url,
    check_optional_path,
    check_smarthost,
    duration_at_least,
    int_range,
    is_a,
    matching,
    number,
)

SERVER = ("observability",)
# nginx's password files are ours: one per permission of proxy_users, and the hosts' Loki
# push passwords (nginx's workers read them).
HTPASSWD_DIR = "/etc/nginx/htpasswd"

PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
PROMETHEUS_RULES_DIR = f"{PROMETHEUS_CONFIG_DIR}/rules"
PROMETHEUS_FILE_SD_DIR = f"{PROMETHEUS_CONFIG_DIR}/file_sd"
PROMETHEUS_DATA_DIR = "/var/lib/prometheus"
PROMETHEUS_ROUTE = "/prometheus"
# The passwords and tokens of the user's scrape jobs and remote-write endpoints, and the
# CA bundles they trust.
PROMETHEUS_SECRETS_DIR = f"{PROMETHEUS_CONFIG_DIR}/secrets"
PROMETHEUS_CA_DIR = f"{PROMETHEUS_CONFIG_DIR}/ca"
SCRAPE_SECRET = Secret(
    "prometheus_scrape_",
    "password or bearer token of scrape job {key!r}",
    generated=False,
    kept_in=PROMETHEUS_SECRETS_DIR,
    one_per="prometheus_scrape_jobs",
    one_per_key="job",
    one_per_where=logs_in,
    key_name="job",
)
REMOTE_WRITE_SECRET = Secret(
    "prometheus_remote_write_",
    "password or bearer token of remote-write endpoint {key!r}",
    generated=False,
    kept_in=PROMETHEUS_SECRETS_DIR,
    one_per="prometheus_remote_write",
    one_per_key="name",
    one_per_where=logs_in,
    key_name="endpoint",
)


def prometheus_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={PROMETHEUS_CONFIG_DIR}/prometheus.yml",
        f"--storage.tsdb.path={PROMETHEUS_DATA_DIR}",
        f"--storage.tsdb.retention.time={unit.settings['prometheus_retention_time']}",
        f"--storage.tsdb.retention.size={unit.settings['prometheus_retention_size']}",
        f"--web.listen-address={unit.listen}",
        f"--web.external-url={unit.external_url}",
        f"--web.route-prefix={PROMETHEUS_ROUTE}",
        # The backup's TSDB snapshot is taken through the admin API, on loopback only: the
        # proxy never passes /prometheus/api/v1/admin/. Off where nothing backs it up.
        *(["--web.enable-admin-api"] if unit.settings.get("backup_repository") else []),
    ]


PROMETHEUS = Component(
    name="prometheus",
    summary="scrapes every host's exporters and evaluates the alert rules",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/prometheus",
        "prometheus",
        ("prometheus", "promtool"),
        Pin("3.14.0", "f665c6da19eb7ba399c915d30c7d9793c9b417bf8a749b504bc470678631478d"),
    ),
    account=Account("prometheus", PROMETHEUS_DATA_DIR),
    unit=Unit(
        "prometheus.service",
        description="Prometheus monitoring server",
        documentation="https://prometheus.io/docs/",
        flags=prometheus_flags,
        read_write=(PROMETHEUS_DATA_DIR,),
    ),
    directories=(
        Directory(PROMETHEUS_CONFIG_DIR),
        Directory(PROMETHEUS_RULES_DIR, prune_suffix=".yml"),
        Directory(PROMETHEUS_FILE_SD_DIR, prune_suffix=".yml"),
        Directory(PROMETHEUS_SECRETS_DIR, prune_suffix=""),
        Directory(PROMETHEUS_CA_DIR, prune_suffix=".pem"),
    ),
    listens=(Listen("prometheus_port"),),
    route_prefix=PROMETHEUS_ROUTE,
    proxy=ProxyLocation("prometheus", f"{PROMETHEUS_ROUTE}/"),
    scrape=Scrape("prometheus"),
    health=Health("/-/ready", disk=True),
    # The remote-write alerts: without an endpoint their series do not exist.
    rules="remote_write",
    secrets=(SCRAPE_SECRET, REMOTE_WRITE_SECRET),
    hooks=Hooks(files="deploys.prometheus:config_files"),
    settings=(
        Setting("prometheus_port", PORT, "Prometheus' port (loopback, behind the proxy)", 9090),
        Setting(
            "prometheus_retention_time",
            DURATION_FIELD,
            "data older than this is deleted",
            "30d",
        ),
        Setting(
            "prometheus_retention_size",
            matching(SIZE, "0 (no limit) or a size such as 10GB"),
            "data beyond this size is deleted",
            "0",
        ),
        Setting("prometheus_scrape_interval", DURATION_FIELD, "how often it scrapes", "30s"),
        Setting(
            "prometheus_evaluation_interval", DURATION_FIELD, "how often rules are evaluated", "30s"
        ),
        Setting(
            "prometheus_extra_rule_files",
            Field(
                lambda v: (
                    None
                    if isinstance(v, list) and all(isinstance(p, str) for p in v)
                    else "wrong type"
                ),
                "a list of controller paths to extra rule files",
            ),
            "your own rule files, alerting or recording (controller paths, relative to the "
            "repository root), each checked with promtool on the server before it is "
            "installed",
            [],
            required=False,
        ),
        Setting(
            "prometheus_scrape_jobs",
            Field(
                check_scrape_jobs,
                "a list of {'job': NAME, 'static_targets': ['host:port'], ...} (README: Your "
                "own scrape jobs)",
            ),
            "your own scrape jobs: static targets and file_sd files with labels, scheme, "
            "basic or bearer auth (the secret prometheus_scrape_<job>), TLS, relabeling",
            [],
        ),
        Setting(
            "prometheus_remote_write",
            Field(
                check_remote_write,
                "a list of {'name': NAME, 'url': 'https://.../api/v1/write', ...}",
            ),
            "long-term stores every sample is also sent to (VictoriaMetrics, Mimir, Thanos "
            "Receive), with basic or bearer auth (the secret prometheus_remote_write_<name>)",
            [],
        ),
        Setting(
            "prometheus_external_labels",
            Field(check_external_labels, "a dict of label name to value, such as cluster"),
            "labels every series and alert carries when it leaves this Prometheus (remote "
            "write, Alertmanager), besides env",
            {},
        ),
    ),
    alert_thresholds=(
        Setting(
            "remote_write_lag_seconds",
            int_range(10, 86400, "seconds such as 600"),
            "PrometheusRemoteWriteBehind (warning): the newest sample sent to a remote-write "
            "endpoint is this much older than the newest sample stored",
            600,
        ),
    ),
)

ALERTMANAGER_CONFIG_DIR = "/etc/alertmanager"
ALERTMANAGER_DATA_DIR = "/var/lib/alertmanager"
ALERTMANAGER_ROUTE = "/alertmanager"
ALERTMANAGER_RECEIVERS_DIR = f"{ALERTMANAGER_CONFIG_DIR}/receivers"
ALERTMANAGER_TEMPLATES_DIR = f"{ALERTMANAGER_CONFIG_DIR}/templates"
RECEIVER_SECRET = Secret(
    "alertmanager_receiver_",
    "credential of Alertmanager receiver {key!r} (its URL, routing key or bot token)",
    generated=False,
    kept_in=ALERTMANAGER_RECEIVERS_DIR,
    one_per="alertmanager_receivers",
    one_per_where=has_secret,
    key_name="receiver",
)
SMTP_PASSWORD = Secret(
    "smtp_password",
    "password Alertmanager logs in to the SMTP relay with",
    generated=False,
    kept_in=f"{ALERTMANAGER_CONFIG_DIR}/smtp_password",
    needed_when="alertmanager_email.auth_username",
)


def alertmanager_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={ALERTMANAGER_CONFIG_DIR}/alertmanager.yml",
        f"--storage.path={ALERTMANAGER_DATA_DIR}",
        f"--web.listen-address={unit.listen}",
        f"--web.external-url={unit.external_url}",
        f"--web.route-prefix={ALERTMANAGER_ROUTE}",
        # A single server: no gossip port for a cluster that does not exist.
        "--cluster.listen-address=",
    ]


ALERTMANAGER = Component(
    name="alertmanager",
    summary="routes the alerts to e-mail, chat, paging and heartbeat receivers",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/alertmanager",
        "alertmanager",
        ("alertmanager", "amtool"),
        Pin("0.34.0", "19c75a11d8c03dc4ade7abdbddfb3a8f28c9e7b000d0849cda0cd71dffd74a03"),
    ),
    account=Account("alertmanager", ALERTMANAGER_DATA_DIR),
    unit=Unit(
        "alertmanager.service",
        description="Prometheus Alertmanager",
        documentation="https://prometheus.io/docs/alerting/latest/alertmanager/",
        flags=alertmanager_flags,
        read_write=(ALERTMANAGER_DATA_DIR,),
    ),
    # Time intervals in a named time zone read the host's zoneinfo.
    packages=("tzdata",),
    directories=(
        Directory(ALERTMANAGER_CONFIG_DIR),
        Directory(ALERTMANAGER_RECEIVERS_DIR, prune_suffix=""),
        Directory(ALERTMANAGER_TEMPLATES_DIR, prune_suffix=".tmpl"),
    ),
    listens=(Listen("alertmanager_port"),),
    route_prefix=ALERTMANAGER_ROUTE,
    proxy=ProxyLocation("alertmanager", f"{ALERTMANAGER_ROUTE}/", "alertmanager_write"),
    scrape=Scrape("alertmanager"),
    health=Health("/-/ready", disk=True),
    secrets=(SMTP_PASSWORD, RECEIVER_SECRET),
    hooks=Hooks(files="deploys.alertmanager:config_files"),
    settings=(
        Setting("alertmanager_port", PORT, "Alertmanager's port (loopback only)", 9093),
        Setting(
            "alertmanager_email",
            Section(
                {
                    "smarthost": Field(
                        check_smarthost, "the SMTP relay as host:port, e.g. smtp.mailgun.org:587"
                    ),
                    "sender": Field(check_email, "the From address, e.g. alerts@yourdomain.tld"),
                    "recipients": Field(check_email_list, "a non-empty list of e-mail addresses"),
                    "auth_username": Field(
                        lambda v: None if v is None or (isinstance(v, str) and v) else "wrong type",
                        "the SMTP login name, or None for a relay without authentication",
                    ),
                    "require_tls": is_a(bool, "True or False (STARTTLS required)"),
                    "ca_file": Field(
                        check_optional_path, "a controller path to the relay's CA bundle, or None"
                    ),
                },
                optional=True,
            ),
            "the SMTP relay, and the recipients of the receiver 'email'; the relay password "
            "is the secret smtp_password; None: no e-mail",
        ),
        Setting(
            "alertmanager_receivers",
            Field(
                check_receivers,
                "a dict of receiver name to {'type': 'slack', ...}; types: "
                + ", ".join(RECEIVER_TYPES),
            ),
            "where alerts can go besides 'email' (README: Alerting); each receiver's URL, key "
            "or token is the secret alertmanager_receiver_<name>",
            {},
        ),
        Setting(
            "alertmanager_default_receiver",
            Field(
                lambda v: None if isinstance(v, str) else "wrong type", "a receiver's name"
            ),
            "the receiver of every alert no route takes",
            EMAIL_RECEIVER,
        ),
        Setting(
            "alertmanager_routes",
            Field(
                check_routes,
                "a list of {'receiver': NAME, 'matchers': ['severity=\"critical\"'], ...}",
            ),
            "the routing tree below the default: the first route whose matchers match takes "
            "an alert (and the next ones too after a route with continue: True)",
            [],
        ),
        Setting(
            "alertmanager_time_intervals",
            Field(
                check_time_intervals,
                "a dict of name to a list of {'weekdays': [...], 'times': [...], ...}",
            ),
            "named periods that routes mute (mute_time_intervals) or are active in "
            "(active_time_intervals)",
            {},
        ),
        Setting(
            "alertmanager_inhibit_rules",
            Field(
                check_inhibit_rules,
                "a list of {'source_matchers': [...], 'target_matchers': [...], 'equal': [...]}",
            ),
            "alerts that hold back others while they fire; by default a down target holds "
            "back its host's other alerts, and a critical alert its warning",
            DEFAULT_INHIBIT_RULES,
        ),
        Setting(
            "alertmanager_heartbeat",
            Field(check_heartbeat, "None or {'receiver': WEBHOOK_RECEIVER, 'interval': '1m'}"),
            "the dead man's switch: the always-firing Watchdog alert posted to a webhook "
            "receiver (a heartbeat service's URL) every interval; None: Watchdog goes nowhere",
            None,
        ),
        Setting(
            "alertmanager_group_wait",
            DURATION_FIELD,
            "how long to batch the first alerts of a group",
            "30s",
        ),
        Setting(
            "alertmanager_group_interval",
            DURATION_FIELD,
            "how long between updates of a group",
            "5m",
        ),
        Setting(
            "alertmanager_repeat_interval",
            DURATION_FIELD,
            "when a still-firing alert is mailed again",
            "4h",
        ),
    ),
)

LOKI_CONFIG_DIR = "/etc/loki"
# The ruler's local storage: a directory per tenant, and with auth_enabled off Loki's one
# tenant is called "fake".
LOKI_RULES_DIR = f"{LOKI_CONFIG_DIR}/rules"
LOKI_TENANT_RULES_DIR = f"{LOKI_RULES_DIR}/fake"
LOKI_DATA_DIR = "/var/lib/loki"
LOKI_PUSH_PASSWORD = Secret(
    "loki_push_password_",
    "password monitored host {key!r} pushes its logs to Loki with",
    generated=True,
    kept_in=HTPASSWD_DIR,
    key_name="host",
    per_host=True,
)
# A LogQL stream selector: {label="value", other=~"regex", ...}.
STREAM_SELECTOR = re.compile(
    r'\{\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"([^"\\]|\\.)*"'
    r'(\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"([^"\\]|\\.)*")*\s*\}'
)
RETENTION = duration_at_least(86400, "a duration of at least 24h, such as 30d")


def check_retention_streams(value: Any) -> str | None:
    if not isinstance(value, list):
        return "wrong type"
    for stream in value:
        if not isinstance(stream, dict) or set(stream) != {"selector", "period", "priority"}:
            return "each entry needs exactly selector, period and priority"
        if not isinstance(stream["selector"], str) or not STREAM_SELECTOR.fullmatch(
            stream["selector"]
        ):
            return f"bad selector {stream['selector']!r}"
        if RETENTION.check(stream["period"]) is not None:
            return f"bad period {stream['period']!r}"
        if not isinstance(stream["priority"], int) or isinstance(stream["priority"], bool):
            return f"bad priority {stream['priority']!r}"
    return None


def loki_flags(unit: UnitContext) -> list[str]:
    return [f"-config.file={LOKI_CONFIG_DIR}/config.yml"]


LOKI = Component(
    name="loki",
    summary="stores the hosts' logs and evaluates the log alert rules",
    roles=SERVER,
    archive=ReleaseArchive(
        "grafana/loki",
        "loki",
        ("loki",),
        # Published by the AUR's loki-bin and by at least four unrelated projects' pins,
        # all agreeing (upstream's SHA256SUMS could not be fetched from here).
        Pin("3.7.8", "62aea42c9cba52cd1642b3666ab37019a0ce4c24ab50b07e85dccc8d812f7d61"),
        layout=GRAFANA,
    ),
    # The rule files' check asks a throwaway Loki ruler over a unix socket.
    packages=("curl",),
    account=Account("loki", LOKI_DATA_DIR),
    unit=Unit(
        "loki.service",
        description="Grafana Loki (log storage)",
        documentation="https://grafana.com/docs/loki/latest/",
        flags=loki_flags,
        read_write=(LOKI_DATA_DIR,),
        reload_signal=None,
    ),
    directories=(
        Directory(LOKI_CONFIG_DIR),
        Directory(LOKI_RULES_DIR),
        Directory(LOKI_TENANT_RULES_DIR, prune_suffix=".yml"),
    ),
    listens=(Listen("loki_port"), Listen("loki_grpc_port")),
    proxy=ProxyLocation("loki", "/loki/"),
    scrape=Scrape("loki"),
    health=Health("/ready", disk=True),
    rules="loki",
    # Loki reads its configuration at start; its ruler would see rule files change only
    # after its poll interval.
    restart_on_config=True,
    hooks=Hooks(files="deploys.loki:config_files"),
    settings=(
        Setting("loki_port", PORT, "Loki's HTTP port (loopback, behind the proxy)", 3100),
        Setting("loki_grpc_port", PORT, "Loki's gRPC port (loopback only)", 9096),
        Setting(
            "loki_retention_period",
            RETENTION,
            "logs older than this are deleted by the compactor",
            "30d",
        ),
        Setting(
            "loki_retention_streams",
            Field(
                check_retention_streams,
                "a list of {selector: '{job=\"nginx_access\"}', period: '7d', priority: 1}",
            ),
            "other retention periods for the streams a selector matches (the highest "
            "priority match wins)",
            [],
        ),
        Setting(
            "loki_compaction_interval",
            DURATION_FIELD,
            "how often the compactor compacts the index and applies retention",
            "10m",
        ),
        Setting(
            "loki_retention_delete_delay",
            DURATION_FIELD,
            "how long the files of logs past retention stay after the compactor marks them "
            "(for queries still reading them)",
            "2h",
        ),
        Setting(
            "loki_ingestion_rate_mb",
            number(0.1, 1024, "megabytes per second such as 4"),
            "how fast all hosts together may push logs (MB/s); more is refused with 429",
            4,
        ),
        Setting(
            "loki_ingestion_burst_size_mb",
            number(0.1, 1024, "megabytes such as 6"),
            "how much a push may exceed that rate by (MB)",
            6,
        ),
        Setting(
            "loki_max_line_size",
            matching(SIZE, "a size such as 256KB (0: no limit)"),
            "longer log lines are refused",
            "256KB",
        ),
        Setting(
            "loki_max_streams_per_user",
            int_range(1, 1_000_000, "a number of streams such as 5000"),
            "the most label combinations Loki keeps open at once",
            5000,
        ),
        Setting(
            "loki_ruler_evaluation_interval",
            DURATION_FIELD,
            "how often the log alert rules are evaluated",
            "1m",
        ),
        Setting(
            "loki_extra_rule_files",
            Field(
                lambda v: (
                    None
                    if isinstance(v, list) and all(isinstance(p, str) for p in v)
                    else "wrong type"
                ),
                "a list of controller paths to extra log alert rule files",
            ),
            "your own log alert rule files (LogQL; controller paths, relative to the "
            "repository root), each checked by Loki's own ruler on the server before it "
            "is installed",
            [],
            required=False,
        ),
    ),
    alert_thresholds=(
        Setting(
            "nginx_5xx_burst_count",
            int_range(0, 1_000_000, "a number of responses such as 20"),
            "NginxServerErrorBurst (warning, log alert): more 5xx responses than this on a "
            "host within the window",
            20,
        ),
        Setting(
            "nginx_5xx_burst_window",
            DURATION_FIELD,
            "NginxServerErrorBurst: the window the 5xx responses are counted in",
            "5m",
        ),
        Setting(
            "ssh_auth_failures_count",
            int_range(0, 1_000_000, "a number of attempts such as 10"),
            "SshAuthenticationFailures (warning, log alert): more refused SSH logins than "
            "this on a host within the window",
            10,
        ),
        Setting(
            "ssh_auth_failures_window",
            DURATION_FIELD,
            "SshAuthenticationFailures: the window the refused logins are counted in",
            "10m",
        ),
        Setting(
            "log_errors_window",
            DURATION_FIELD,
            "KernelOomKill, MysqlErrorsLogged, PhpFatalErrors (log alerts): one matching "
            "line within this window alerts",
            "5m",
        ),
    ),
)

GRAFANA_CONFIG_DIR = "/etc/grafana"
GRAFANA_PROVISIONING_DIR = f"{GRAFANA_CONFIG_DIR}/provisioning"
GRAFANA_DASHBOARDS_DIR = f"{GRAFANA_CONFIG_DIR}/dashboards"
GRAFANA_DATA_DIR = "/var/lib/grafana"
# Grafana's folders, each a directory of dashboard files (obsstack.dashboards.BOARDS).
GRAFANA_FOLDERS = ("Overview", "Services", "Stack")
GRAFANA_ROLES = ("Viewer", "Editor", "Admin")
GRAFANA_ADMIN_PASSWORD = Secret(
    "grafana_admin_password",
    "password of Grafana's own admin account (the API on loopback; people log in at the "
    "proxy)",
    generated=True,
    kept_in=f"{GRAFANA_CONFIG_DIR}/admin_password",
    # The deploy hands it to Grafana's CLI and to curl through files in these forms.
    charset=QUOTE_FREE,
    charset_text=QUOTE_FREE_TEXT,
)
# The headers nginx sets from the proxy login and Grafana's auth proxy reads.
GRAFANA_USER_HEADER = "X-WEBAUTH-USER"
GRAFANA_ROLE_HEADER = "X-WEBAUTH-ROLE"
PROXY_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def grafana_folder_dir(folder: str) -> str:
    """The directory of the dashboard files of Grafana's ``folder``."""
    return f"{GRAFANA_DASHBOARDS_DIR}/{folder.lower()}"


def grafana_flags(unit: UnitContext) -> list[str]:
    # The link to the active version: a rollback switches it with the binary's.
    return [
        "server",
        "--homepath=/opt/grafana/current",
        f"--config={GRAFANA_CONFIG_DIR}/grafana.ini",
    ]


def check_grafana_roles(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "wrong type"
    for user, role in value.items():
        if not isinstance(user, str) or not PROXY_USER.fullmatch(user):
            return f"bad user name {user!r}"
        if role not in GRAFANA_ROLES:
            return f"user {user!r} has role {role!r}"
    return None


def grafana_role_problems(data: Mapping[str, Any]) -> list[str]:
    """Users of ``grafana_roles`` that no proxy user with the grafana location is."""
    users = data.get("proxy_users") or {}
    return [
        f"grafana_roles.{user}: {user!r} is no user of proxy_users with 'grafana' in its "
        "list; expected a proxy user who may open Grafana"
        for user in data.get("grafana_roles") or {}
        if "grafana" not in users.get(user, [])
    ]


GRAFANA = Component(
    name="grafana",
    summary="the dashboards; its users log in at the proxy",
    roles=SERVER,
    archive=ReleaseArchive(
        "grafana/grafana",
        "grafana",
        ("grafana",),
        # grafana.com's download page for 13.2.3 and seven unrelated projects' pins agree
        # (dl.grafana.com cannot be reached from here).
        Pin(
            "13.2.3",
            "6107ad27016296aac38e0d7ffa8753ab540b5541ad27e94790f771289d733235",
            build="36482603486",
        ),
        layout=GRAFANA_SERVER,
    ),
    enabled_by="grafana_enabled",
    # The deploy asks Grafana's API whether its admin password is the secret's.
    packages=("curl",),
    account=Account("grafana", GRAFANA_DATA_DIR),
    unit=Unit(
        "grafana.service",
        description="Grafana (dashboards)",
        documentation="https://grafana.com/docs/grafana/latest/",
        flags=grafana_flags,
        read_write=(GRAFANA_DATA_DIR,),
        reload_signal=None,
    ),
    directories=(
        Directory(GRAFANA_CONFIG_DIR),
        Directory(GRAFANA_PROVISIONING_DIR),
        Directory(f"{GRAFANA_PROVISIONING_DIR}/datasources", prune_suffix=".yml"),
        Directory(f"{GRAFANA_PROVISIONING_DIR}/dashboards", prune_suffix=".yml"),
        # Empty: Grafana logs an error for each provisioning directory that is missing.
        Directory(f"{GRAFANA_PROVISIONING_DIR}/plugins", prune_suffix=".yml"),
        Directory(f"{GRAFANA_PROVISIONING_DIR}/alerting", prune_suffix=".yml"),
        Directory(GRAFANA_DASHBOARDS_DIR),
        *(
            Directory(grafana_folder_dir(folder), prune_suffix=".json")
            for folder in GRAFANA_FOLDERS
        ),
    ),
    listens=(Listen("grafana_port"),),
    proxy=ProxyLocation("grafana", "/"),
    scrape=Scrape("grafana"),
    health=Health("/api/health", disk=True),
    secrets=(GRAFANA_ADMIN_PASSWORD,),
    # Grafana reads grafana.ini and its data sources at start only.
    restart_on_config=True,
    hooks=Hooks(files="deploys.grafana:config_files", after="deploys.grafana:admin_password"),
    settings=(
        Setting(
            "grafana_enabled",
            is_a(bool, "True or False"),
            "whether the server runs Grafana (the proxy's / serves it)",
            True,
        ),
        Setting("grafana_port", PORT, "Grafana's port (loopback, behind the proxy)", 3000),
        Setting(
            "grafana_roles",
            Field(
                check_grafana_roles,
                "a dict {user: role} of proxy users, roles from " + ", ".join(GRAFANA_ROLES),
            ),
            "the Grafana role of each proxy user with the grafana location (Viewer unless "
            "listed here)",
            {},
        ),
    ),
)

# Debian's nginx, with certbot: the package ships the program and its unit.
# What the proxy can let a user do: a location's name lets its users read (GET and HEAD,
# and Prometheus' query endpoints by POST); its write permission ("alertmanager_write") also
# lets them create and expire silences and post alerts. In Grafana a user does what their
# role (grafana_roles) lets them.
PROXIED_SERVER = (PROMETHEUS, ALERTMANAGER, LOKI, GRAFANA)
PROXY_LOCATION_NAMES = tuple(entry.proxy.name for entry in PROXIED_SERVER if entry.proxy)
PROXY_WRITE_PERMISSIONS = {
    entry.proxy.write_permission: entry.proxy.name
    for entry in PROXIED_SERVER
    if entry.proxy and entry.proxy.write_permission
}
PROXY_PERMISSIONS = (*PROXY_LOCATION_NAMES, *PROXY_WRITE_PERMISSIONS)


def check_proxy_users(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return "wrong type"
    for user, permissions in value.items():
        if not isinstance(user, str) or not PROXY_USER.fullmatch(user):
            return f"bad user name {user!r}"
        if not isinstance(permissions, list) or not permissions:
            return f"user {user!r} needs a non-empty list of locations"
        unknown = [item for item in permissions if item not in PROXY_PERMISSIONS]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), PROXY_PERMISSIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"user {user!r} has unknown location {unknown[0]!r}{hint}"
        for permission, needed in PROXY_WRITE_PERMISSIONS.items():
            if permission in permissions and needed not in permissions:
                return f"user {user!r}: {permission!r} needs {needed!r} in the list too"
    return None


NGINX_GROUP = "www-data"
# Debian's nginx logs, wherever nginx runs (the proxy here, a web server's agent).
NGINX_LOGS = (
    LogFiles("nginx_access", ("/var/log/nginx/*access.log",), NGINX_COMBINED),
    LogFiles("nginx_error", ("/var/log/nginx/*error.log",)),
)
PROXY_PASSWORD = Secret(
    "proxy_password_",
    "password of proxy user {key!r}",
    generated=True,
    kept_in=HTPASSWD_DIR,
    one_per="proxy_users",
    key_name="user",
)
NGINX = Component(
    name="nginx",
    summary="the reverse proxy: TLS from an ACME CA, basic auth per location",
    roles=SERVER,
    packaged_binary="/usr/sbin/nginx",
    unit=Unit("nginx.service"),
    # Password files of locations no longer served go (prune every unlisted file).
    directories=(Directory(HTPASSWD_DIR, prune_suffix="", group=NGINX_GROUP),),
    listens=(Listen(80), Listen(443)),
    secrets=(PROXY_PASSWORD, LOKI_PUSH_PASSWORD),
    logs=NGINX_LOGS,
    firewall=(
        Opening(80, ANYWHERE, "http (ACME, redirect)"),
        Opening(443, ANYWHERE, "https"),
    ),
    hooks=Hooks(
        before="deploys.proxy:prepare",
        files="deploys.proxy:config_files",
        after="deploys.proxy:certificate",
        remove="deploys.proxy:remove_site",
    ),
    settings=(
        Setting(
            "domain",
            Field(check_domain, "the server's public DNS name, e.g. monitoring.yourcompany.tld"),
            "the server's public name: nginx serves it on 80/443 and certbot obtains its "
            "certificate (HTTP-01: it must resolve to this server, port 80 must reach it)",
        ),
        Setting(
            "acme_email",
            Field(check_email, "the address the ACME CA sends expiry warnings to"),
            "the ACME account's address",
        ),
        Setting(
            "acme_directory_url",
            Field(
                check_https_url,
                "an https:// ACME directory URL such as Let's Encrypt's production one",
            ),
            "the ACME CA (Let's Encrypt's staging CA or an internal one works too)",
            "https://acme-v02.api.letsencrypt.org/directory",
        ),
        Setting(
            "acme_ca_bundle",
            Field(check_optional_path, "a controller path to the ACME server's CA bundle, or None"),
            "a CA bundle to trust the ACME server's own HTTPS with (None: the system's)",
            None,
        ),
        Setting(
            "proxy_ca_file",
            Field(check_optional_path, "a controller path to a CA bundle, or None"),
            "the CA bundle the controller's own requests to the proxy trust (invoke logs), "
            "for a certificate from a private ACME CA (None: the system's)",
            None,
        ),
        Setting(
            "proxy_users",
            Field(
                check_proxy_users,
                "a dict {user: [locations]}, locations from " + ", ".join(PROXY_LOCATION_NAMES),
            ),
            "who may open what behind the proxy; each user's password is the secret "
            "proxy_password_<user>",
            {"admin": ["prometheus", "alertmanager", "alertmanager_write", "grafana", "loki"]},
        ),
    ),
)


BLACKBOX_CONFIG_DIR = "/etc/blackbox_exporter"


def blackbox_exporter_flags(unit: UnitContext) -> list[str]:
    return [
        f"--config.file={BLACKBOX_CONFIG_DIR}/blackbox.yml",
        f"--web.listen-address={unit.listen}",
    ]


BLACKBOX_EXPORTER = Component(
    name="blackbox_exporter",
    summary="probes the URLs in blackbox_targets (none: not installed)",
    roles=SERVER,
    archive=ReleaseArchive(
        "prometheus/blackbox_exporter",
        "blackbox_exporter",
        ("blackbox_exporter",),
        Pin("0.28.0", "caf5d242fb1cf6d5cb678f3f799f22703d4fafea26b03dcbbd7e1f1825e06329"),
    ),
    enabled_by="blackbox_targets",
    account=Account("blackbox-exp", "/var/lib/blackbox_exporter"),
    unit=Unit(
        "blackbox_exporter.service",
        description="Prometheus blackbox_exporter (probes of URLs)",
        documentation="https://github.com/prometheus/blackbox_exporter",
        flags=blackbox_exporter_flags,
    ),
    directories=(Directory(BLACKBOX_CONFIG_DIR),),
    listens=(Listen("blackbox_exporter_port"),),
    # Its job (blackbox) probes the URLs of blackbox_targets: deploys/prometheus.py.
    health=Health("/-/healthy"),
    rules="blackbox",
    hooks=Hooks(files="deploys.blackbox_exporter:config_files"),
    settings=(
        Setting(
            "blackbox_targets",
            Field(
                lambda v: (
                    None
                    if isinstance(v, list)
                    and all(isinstance(u, str) and HTTP_URL.fullmatch(u) for u in v)
                    else "bad format"
                ),
                "a list of http:// or https:// URLs to probe, e.g. ['https://www.yourcompany.tld/']",
            ),
            "URLs probed from the server (HTTP 2xx expected, TLS verified); "
            "https://<domain>/healthz answers without a login",
            [],
        ),
        Setting(
            "blackbox_ca_file",
            Field(
                check_optional_path, "a controller path to a CA bundle the probes trust, or None"
            ),
            "a CA bundle the probes trust besides the system's",
            None,
        ),
        Setting("blackbox_exporter_port", PORT, "blackbox_exporter's port (loopback only)", 9115),
    ),
    alert_thresholds=(
        Setting(
            "probe_failed_for",
            DURATION_FIELD,
            "ProbeFailed (critical): how long a probe of a site must fail",
            "2m",
        ),
        Setting(
            "tls_certificate_expiry_warning_days",
            number(1, 365, "days such as 21"),
            "TlsCertificateExpiringSoon (warning): a probed certificate expires within this",
            21,
        ),
        Setting(
            "tls_certificate_expiry_critical_days",
            number(1, 365, "days such as 7"),
            "TlsCertificateExpiringSoon (critical): a probed certificate expires within this",
            7,
        ),
    ),
)

# In the order a server installs them.
ENTRIES = (PROMETHEUS, ALERTMANAGER, LOKI, GRAFANA, NGINX, BLACKBOX_EXPORTER)
