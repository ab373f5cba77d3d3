"""blackbox_exporter on the observability server: probes the URLs in ``blackbox_targets``.

Listens on loopback only; Prometheus passes it each URL to probe (job ``blackbox``). With no
targets it is not installed (and removed if it was).
"""

from __future__ import annotations

from pyinfra import host

from deploys.common import exporter_address
from obsstack.catalog.server import BLACKBOX_CONFIG_DIR, BLACKBOX_EXPORTER
from obsstack.inventory import repo_path
from obsstack.serialize import MANAGED, yaml_file
from operations.archive import BIN_DIR
from operations.converge import ConfigFile

CA_FILE = f"{BLACKBOX_CONFIG_DIR}/probe_ca.pem"


def wanted() -> bool:
    return bool(host.data.get(BLACKBOX_EXPORTER.enabled_by))


def address() -> str:
    return exporter_address(BLACKBOX_EXPORTER.listen.number(host.data.dict()))


def config(ca_file: str | None) -> dict:
    """blackbox.yml: an HTTP(S) endpoint answers 2xx (after redirects); TLS is verified,
    and its certificate's expiry becomes probe_ssl_earliest_cert_expiry."""
    http: dict = {"preferred_ip_protocol": "ip4", "follow_redirects": True}
    if ca_file:
        http["tls_config"] = {"ca_file": ca_file}
    return {"modules": {"http_2xx": {"prober": "http", "timeout": "10s", "http": http}}}


def config_files() -> tuple[ConfigFile, ...]:
    """The probes' extra CA when set, then blackbox.yml."""
    ca_file = host.data.get("blackbox_ca_file")
    files = [ConfigFile(CA_FILE, repo_path(ca_file).read_text(), mode="0644")] if ca_file else []
    files.append(
        ConfigFile(
            f"{BLACKBOX_CONFIG_DIR}/blackbox.yml",
            yaml_file(config(CA_FILE if ca_file else None), MANAGED),
            validate=f"{BIN_DIR}/blackbox_exporter --config.check --config.file={{path}}",
        )
    )
    return tuple(files)
