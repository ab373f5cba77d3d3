"""The user's own parts of prometheus.yml: scrape jobs, remote-write endpoints, and the files
they read (targets, passwords and tokens, CA bundles).

Each job's targets, static or from its file_sd file, go into ``file_sd/<job>.yml`` one
target per group, like the stack's own jobs, and pass the same promtool check. A job's or
an endpoint's password or token is its secret, written to
``/etc/prometheus/secrets/<scrape|remote_write>_<name>`` (0640, root:prometheus) and named
in prometheus.yml through ``password_file`` or ``credentials_file``: the YAML holds none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from obsstack import secrets
from obsstack.catalog.schema import Secret
from obsstack.catalog.scraping import user_target_groups
from obsstack.catalog.server import (
    PROMETHEUS_CA_DIR,
    PROMETHEUS_SECRETS_DIR,
    REMOTE_WRITE_SECRET,
    SCRAPE_SECRET,
)
from obsstack.inventory import repo_path
from operations.converge import ConfigFile

SCRAPE = "scrape"
REMOTE_WRITE = "remote_write"
# Keys a job's settings pass to its scrape config as they are.
PASSED_ON = (
    "scheme",
    "metrics_path",
    "scrape_interval",
    "scrape_timeout",
    "honor_labels",
    "relabel_configs",
    "metric_relabel_configs",
)


def secret_path(kind: str, name: str) -> str:
    return f"{PROMETHEUS_SECRETS_DIR}/{kind}_{name}"


def ca_path(kind: str, name: str) -> str:
    return f"{PROMETHEUS_CA_DIR}/{kind}_{name}.pem"


def client(kind: str, name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP client part of a scrape config or a remote-write endpoint: its login, read
    from the secret's file, and its TLS settings."""
    config: dict[str, Any] = {}
    auth = item.get("auth")
    if auth and auth["type"] == "basic":
        config["basic_auth"] = {
            "username": auth["username"],
            "password_file": secret_path(kind, name),
        }
    elif auth:
        config["authorization"] = {
            "type": "Bearer",
            "credentials_file": secret_path(kind, name),
        }
    tls = dict(item.get("tls") or {})
    if tls.get("ca_file"):
        tls["ca_file"] = ca_path(kind, name)
    elif "ca_file" in tls:
        del tls["ca_file"]
    if tls:
        config["tls_config"] = tls
    return config


def scrape_configs(jobs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One scrape config per job of ``prometheus_scrape_jobs``."""
    return [
        {
            "job_name": job["job"],
            **{key: job[key] for key in PASSED_ON if key in job},
            **client(SCRAPE, job["job"], job),
            "file_sd_configs": [{"files": [f"file_sd/{job['job']}.yml"]}],
        }
        for job in jobs
    ]


def target_groups(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A job's targets, one per group: its static targets with its labels, then those of
    its file_sd file with the file's labels over the job's."""
    labels = job.get("labels", {})
    groups = [{"targets": job.get("static_targets", []), "labels": {}}]
    if "file_sd" in job:
        groups += user_target_groups(repo_path(job["file_sd"]).read_text())
    return [
        {"targets": [target], "labels": {**labels, **group["labels"]}}
        for group in groups
        for target in group["targets"]
    ]


def remote_write_configs(endpoints: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """prometheus.yml's remote_write: one per endpoint of ``prometheus_remote_write``."""
    configs = []
    for endpoint in endpoints:
        config = {"name": endpoint["name"], "url": endpoint["url"]}
        config |= client(REMOTE_WRITE, endpoint["name"], endpoint)
        if "remote_timeout" in endpoint:
            config["remote_timeout"] = endpoint["remote_timeout"]
        if "queue" in endpoint:
            config["queue_config"] = dict(endpoint["queue"])
        if "write_relabel_configs" in endpoint:
            config["write_relabel_configs"] = endpoint["write_relabel_configs"]
        configs.append(config)
    return configs


def client_files(settings: Mapping[str, Any], store: Path) -> list[ConfigFile]:
    """The secrets and CA bundles the user's jobs and endpoints read."""
    files = []
    for kind, items, key, secret in (
        (SCRAPE, settings["prometheus_scrape_jobs"], "job", SCRAPE_SECRET),
        (REMOTE_WRITE, settings["prometheus_remote_write"], "name", REMOTE_WRITE_SECRET),
    ):
        for item in items:
            files += _files_of(kind, item[key], item, secret, store)
    return files


def _files_of(
    kind: str, name: str, item: Mapping[str, Any], secret: Secret, store: Path
) -> list[ConfigFile]:
    files = []
    if item.get("auth"):
        value = secrets.read(secret.name_for(name), store)
        files.append(ConfigFile(secret_path(kind, name), value, secret=True))
    ca_file = (item.get("tls") or {}).get("ca_file")
    if ca_file:
        files.append(ConfigFile(ca_path(kind, name), repo_path(ca_file).read_text(), mode="0644"))
    return files
