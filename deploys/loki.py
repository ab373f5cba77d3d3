"""Loki on the observability server: the hosts' logs, their retention, the log alert rules.

Single binary, filesystem storage under /var/lib/loki (schema v13, tsdb index), listening on
loopback only: the hosts push through the proxy's ``/loki/api/v1/push`` with their own
password, users read through ``/loki/`` (obsstack.catalog.server.LOKI and deploys/proxy.py).
The compactor applies retention (``loki_retention_period`` and per-stream
``loki_retention_streams``); the ruler evaluates the log alert rules
(templates/loki/rules/ and ``loki_extra_rule_files``) and sends to Alertmanager.

Every file is checked on the server before it goes live: the config with
``loki -verify-config``, each rule file by Loki's own ruler (templates/loki/check-rules.sh.j2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError

from obsstack.catalog.server import (
    ALERTMANAGER,
    LOKI_CONFIG_DIR,
    LOKI_DATA_DIR,
    LOKI_RULES_DIR,
    LOKI_TENANT_RULES_DIR,
)
from obsstack.inventory import repo_path
from obsstack.render import TEMPLATES_DIR, render_template, rules_context
from obsstack.serialize import MANAGED, yaml_file
from operations.archive import BIN_DIR
from operations.converge import ConfigFile

LOKI_BINARY = f"{BIN_DIR}/loki"
CHECK_RULES = f"{LOKI_CONFIG_DIR}/check-rules"
CONFIG = f"{LOKI_CONFIG_DIR}/config.yml"
# The day our schema starts: before any data this stack stores.
SCHEMA_FROM = "2024-01-01"


def config(settings: dict, alertmanager_url: str) -> dict:
    """config.yml for one server's Loki, from its settings."""
    return {
        "auth_enabled": False,
        "server": {
            "http_listen_address": "127.0.0.1",
            "http_listen_port": settings["loki_port"],
            "grpc_listen_address": "127.0.0.1",
            "grpc_listen_port": settings["loki_grpc_port"],
            "log_level": "info",
        },
        "common": {
            # One node: the ring must advertise loopback, not the host's first interface.
            "instance_addr": "127.0.0.1",
            "path_prefix": LOKI_DATA_DIR,
            "replication_factor": 1,
            "ring": {"kvstore": {"store": "inmemory"}},
            "storage": {"filesystem": {"chunks_directory": f"{LOKI_DATA_DIR}/chunks"}},
        },
        "schema_config": {
            "configs": [
                {
                    "from": SCHEMA_FROM,
                    "store": "tsdb",
                    "object_store": "filesystem",
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        "compactor": {
            "working_directory": f"{LOKI_DATA_DIR}/compactor",
            "compaction_interval": settings["loki_compaction_interval"],
            "retention_enabled": True,
            "retention_delete_delay": settings["loki_retention_delete_delay"],
            "delete_request_store": "filesystem",
        },
        "limits_config": {
            "retention_period": settings["loki_retention_period"],
            "retention_stream": [
                {
                    "selector": stream["selector"],
                    "priority": stream["priority"],
                    "period": stream["period"],
                }
                for stream in settings["loki_retention_streams"]
            ],
            "ingestion_rate_mb": settings["loki_ingestion_rate_mb"],
            "ingestion_burst_size_mb": settings["loki_ingestion_burst_size_mb"],
            "max_line_size": settings["loki_max_line_size"],
            "max_global_streams_per_user": settings["loki_max_streams_per_user"],
            "allow_structured_metadata": True,
        },
        "ruler": {
            "storage": {"type": "local", "local": {"directory": LOKI_RULES_DIR}},
            "rule_path": f"{LOKI_DATA_DIR}/rules-temp",
            "alertmanager_url": alertmanager_url,
            "evaluation_interval": settings["loki_ruler_evaluation_interval"],
            "ring": {"kvstore": {"store": "inmemory"}},
            "wal": {"dir": f"{LOKI_DATA_DIR}/ruler-wal"},
        },
        "analytics": {"reporting_enabled": False},
    }


def rule_files(settings: Mapping[str, Any], extra: list[str]) -> dict[str, str]:
    """Rendered log alert rule files by name: the baseline, then the user's own files."""
    rendered = {
        template.name.removesuffix(".j2"): render_template(
            f"loki/rules/{template.name}", rules_context(settings)
        )
        for template in sorted((TEMPLATES_DIR / "loki" / "rules").glob("*.yml.j2"))
    }
    for path in map(repo_path, extra):
        if path.name in rendered:
            raise PyinfraError(
                f"loki_extra_rule_files: {path} has the name of a rule file the stack "
                "installs: rename it"
            )
        rendered[path.name] = path.read_text()
    return rendered


def config_files() -> tuple[ConfigFile, ...]:
    """The rule checker, the rule files it checks, then config.yml."""
    settings = host.data.dict()
    alertmanager_port = ALERTMANAGER.listen.number(settings)
    rules = rule_files(host.data.dict(), host.data.get("loki_extra_rule_files") or [])
    return (
        ConfigFile(
            CHECK_RULES,
            render_template("loki/check-rules.sh.j2", {"loki": LOKI_BINARY}),
            validate="bash -n {path}",
            mode="0750",
        ),
        *(
            ConfigFile(
                f"{LOKI_TENANT_RULES_DIR}/{name}", text, validate=f"{CHECK_RULES} {{path}}"
            )
            for name, text in rules.items()
        ),
        ConfigFile(
            CONFIG,
            yaml_file(
                config(
                    settings,
                    f"http://127.0.0.1:{alertmanager_port}{ALERTMANAGER.route_prefix}",
                ),
                MANAGED,
            ),
            validate=f"{LOKI_BINARY} -verify-config -config.file={{path}}",
        ),
    )

