"""Grafana Alloy on every host: ships the journal and its services' log files to Loki.

One file, /etc/alloy/config.alloy, written by obsstack.alloy_syntax from the catalog (each
running component's ``logs``) and checked with ``alloy validate`` before it goes live:

- ``loki.write "default"``: on the observability server to Loki on loopback (no login); on
  a monitored host through the proxy's ``https://<domain>/loki/api/v1/push``, logging in as
  its instance label with its own push password (secret ``loki_push_password_<host>``,
  read from ALLOY_PUSH_PASSWORD_FILE on every push). Every stream carries ``host``,
  ``role`` and ``env``.
- the journal, with ``unit`` and ``level`` from its fields; it reads back 12h at the first
  start, and after a longer downtime from 12h back (older entries are left out).
- ``loki.source.file "<job>"`` per ``LogFiles``, its globs expanded by ``file_match``, read
  from their end the first time; nginx's access log through ``loki.process "<job>"``,
  which puts the request's method and status into structured metadata (never labels).

Alloy keeps its positions (journal cursor, file offsets) under ALLOY_STORAGE_DIR by
component label, and the labels are the jobs' names: renaming a job re-reads its files.
Prometheus scrapes Alloy's own /metrics (job ``alloy``); nothing here exports metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import Host
from pyinfra.api.exceptions import PyinfraError

from deploys.common import own_agents
from obsstack import secrets
from obsstack.alloy_syntax import attribute, block, document, identifier, raw, ref
from obsstack.catalog import ROLES, running
from obsstack.catalog.host import ALLOY_CONFIG_DIR, ALLOY_PUSH_PASSWORD_FILE
from obsstack.catalog.schema import NGINX_COMBINED, LogFiles
from obsstack.catalog.server import LOKI, LOKI_PUSH_PASSWORD
from obsstack.fields import instance_label
from obsstack.inventory import repo_path
from obsstack.serialize import MANAGED
from operations.archive import BIN_DIR
from operations.converge import ConfigFile

CONFIG = f"{ALLOY_CONFIG_DIR}/config.alloy"
PUSH_PATH = "/loki/api/v1/push"
WRITER = ref("loki.write.default.receiver")
JOURNAL = "journal"  # the journal's components' label and its streams' job
# How far back the journal is read at the first start, and after a downtime.
JOURNAL_MAX_AGE = "12h"
# A failed push is retried (5xx, 429, no connection; any other 4xx is dropped at once)
# with dskit's backoff: the waits double from 0.5s until they are drawn from 256s-5m, nine
# waits in; 30 tries make 29 waits, 1.5h to 1.8h. Meanwhile the queue fills and the sources
# stop reading, so the journal and the files hold the rest. queue_config stays at its
# defaults: changing it needs --stability.level=experimental.
MAX_BACKOFF_PERIOD = "5m"
MAX_BACKOFF_RETRIES = 30
# nginx's combined format; a request line that is not "METHOD path ..." (TLS junk, "-")
# still matches, without method and path.
NGINX_COMBINED_REGEX = (
    r"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "
    r'"(?:(?P<method>[A-Z]+) (?P<path>[^ "]*)[^"]*|[^"]*)" (?P<status>\d{3}) '
    r'(?P<body_bytes_sent>\d+|-) "(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"'
)
# Parsed fields kept as structured metadata: few values each, but never worth a stream.
NGINX_METADATA = ("method", "status")


@dataclass(frozen=True)
class Push:
    """Where a host's Alloy pushes, and the login it pushes with (None: none)."""

    url: str
    username: str | None = None
    password_file: str | None = None


def loopback_push(loki_port: int) -> Push:
    """The observability server's own Loki, on loopback, without a login."""
    return Push(f"http://127.0.0.1:{loki_port}{PUSH_PATH}")


def proxy_push(domain: str, instance: str) -> Push:
    """The observability server's proxy, logging in as the host's instance label."""
    return Push(f"https://{domain}{PUSH_PATH}", instance, ALLOY_PUSH_PASSWORD_FILE)


def config(instance: str, role: str, environment: str, logs: Iterable[LogFiles], push: Push) -> str:
    """config.alloy for the host ``instance`` in ``role``, shipping the journal and ``logs``."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is none of {', '.join(ROLES)}")
    statements = [writer(push, {"host": instance, "role": role, "env": environment}), *journal()]
    for files in unique_jobs(logs):
        statements.extend(file_source(files))
    return document(statements, header=MANAGED)


def writer(push: Push, labels: dict[str, str]) -> str:
    endpoint = [attribute("url", push.url)]
    if push.username is not None:
        endpoint.append(
            block(
                "basic_auth",
                [
                    attribute("username", push.username),
                    attribute("password_file", push.password_file),
                ],
            )
        )
    endpoint += [
        attribute("max_backoff_period", MAX_BACKOFF_PERIOD),
        attribute("max_backoff_retries", MAX_BACKOFF_RETRIES),
    ]
    return block(
        "loki.write",
        [block("endpoint", endpoint), attribute("external_labels", labels)],
        label="default",
    )


def journal() -> list[str]:
    """The journal's reader, and the rules that keep its unit and level as labels."""
    rules = [
        block(
            "rule",
            [attribute("source_labels", [field]), attribute("target_label", label)],
        )
        for field, label in (
            ("__journal__systemd_unit", "unit"),
            ("__journal_priority_keyword", "level"),
        )
    ]
    return [
        block("loki.relabel", [attribute("forward_to", []), *rules], label=JOURNAL),
        block(
            "loki.source.journal",
            [
                attribute("max_age", JOURNAL_MAX_AGE),
                attribute("relabel_rules", ref(f"loki.relabel.{JOURNAL}.rules")),
                attribute("labels", {"job": JOURNAL}),
                attribute("forward_to", [WRITER]),
            ],
            label=JOURNAL,
        ),
    ]


def unique_jobs(logs: Iterable[LogFiles]) -> list[LogFiles]:
    """``logs`` once per job (several components may share one, as nginx's), by job name;
    ValueError when two of one job differ."""
    jobs: dict[str, LogFiles] = {}
    for files in logs:
        if jobs.setdefault(files.job, files) != files:
            raise ValueError(f"two different LogFiles for job {files.job!r}: {jobs[files.job]}")
    return [jobs[job] for job in sorted(jobs)]


def file_source(files: LogFiles) -> list[str]:
    """The reader of ``files``' globs, and the parser its lines go through first, if any."""
    job = identifier(files.job, "job name (it labels Alloy components)")
    if files.parser not in (None, NGINX_COMBINED):
        raise ValueError(f"job {job!r}: no Alloy parser for {files.parser!r}")
    parsed = files.parser == NGINX_COMBINED
    source = block(
        "loki.source.file",
        [
            attribute("targets", [{"__path__": path, "job": job} for path in files.paths]),
            block("file_match", [attribute("enabled", True)]),
            attribute("tail_from_end", True),
            attribute("forward_to", [ref(f"loki.process.{job}.receiver") if parsed else WRITER]),
        ],
        label=job,
    )
    if not parsed:
        return [source]
    process = block(
        "loki.process",
        [
            attribute("forward_to", [WRITER]),
            block("stage.regex", [attribute("expression", raw(NGINX_COMBINED_REGEX))]),
            block(
                "stage.structured_metadata",
                [attribute("values", dict.fromkeys(NGINX_METADATA, ""))],
            ),
        ],
        label=job,
    )
    return [source, process]


def observability_server() -> Host:
    """The inventory's observability server: where logs are pushed, and whose secrets
    store holds every host's push password (the one its proxy checks)."""
    for target in inventory:
        if "observability" in target.groups:
            return target
    raise PyinfraError(
        f"{host.name}: the inventory has no observability server, so its logs have nowhere "
        "to go: add the server to the inventory, or set alloy_enabled = False for this host"
    )


def config_files() -> tuple[ConfigFile, ...]:
    """A monitored host's push password, then config.alloy."""
    instance = instance_label(host.name)
    role = next((group for group in ROLES if group in host.groups), None)
    if role is None:
        raise PyinfraError(f"{host.name} is in none of the groups {', '.join(ROLES)}")
    settings = host.data.dict()
    logs = [
        files
        for component in running(host.groups, settings, own_agents())
        for files in component.logs
    ]
    files = []
    if role == "observability":
        push = loopback_push(LOKI.listen.number(settings))
    else:
        server = observability_server()
        push = proxy_push(server.data.domain, instance)
        password = secrets.read(
            LOKI_PUSH_PASSWORD.name_for(instance), repo_path(server.data.secrets_dir)
        )
        files.append(ConfigFile(ALLOY_PUSH_PASSWORD_FILE, password, secret=True))
    files.append(
        ConfigFile(
            CONFIG,
            config(instance, role, host.data.environment, logs, push),
            validate=f"{BIN_DIR}/alloy validate {{path}}",
        )
    )
    return tuple(files)
