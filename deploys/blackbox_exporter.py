"""blackbox_exporter on the observability server: probes the URLs in ``blackbox_targets``.

Listens on loopback only; Prometheus passes it each URL to probe (job ``blackbox``). With no
targets it is not installed (and removed if it was).
"""

from __future__ import annotations

from pyinfra import host

from deploys.common import daemon_unit, pinned
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.inventory import repo_path
from obsstack.serialize import MANAGED, yaml_file
from operations.converge import ConfigFile, DesiredState, ManagedDirectory, retire

USER = "blackbox-exp"
UNIT = "blackbox_exporter.service"
CONFIG_DIR = "/etc/blackbox_exporter"
DATA_DIR = "/var/lib/blackbox_exporter"
CA_FILE = f"{CONFIG_DIR}/probe_ca.pem"


def wanted() -> bool:
    return bool(host.data.blackbox_targets)


def address() -> str:
    return f"127.0.0.1:{host.data.blackbox_exporter_port}"


def config(ca_file: str | None) -> dict:
    """blackbox.yml: an HTTP(S) endpoint answers 2xx (after redirects); TLS is verified,
    and its certificate's expiry becomes probe_ssl_earliest_cert_expiry."""
    http: dict = {"preferred_ip_protocol": "ip4", "follow_redirects": True}
    if ca_file:
        http["tls_config"] = {"ca_file": ca_file}
    return {"modules": {"http_2xx": {"prober": "http", "timeout": "10s", "http": http}}}


def component() -> DesiredState:
    ca_file = host.data.get("blackbox_ca_file")
    files = [ConfigFile(CA_FILE, repo_path(ca_file).read_text(), mode="0644")] if ca_file else []
    files.append(
        ConfigFile(
            f"{CONFIG_DIR}/blackbox.yml",
            yaml_file(config(CA_FILE if ca_file else None), MANAGED),
            validate="/usr/local/bin/blackbox_exporter --config.check --config.file={path}",
        )
    )
    return DesiredState(
        name="blackbox_exporter",
        **pinned("blackbox_exporter"),
        user=USER,
        home=DATA_DIR,
        unit=UNIT,
        unit_text=daemon_unit(
            description="Prometheus blackbox_exporter (probes of URLs)",
            documentation="https://github.com/prometheus/blackbox_exporter",
            user=USER,
            exec_start=[
                "/usr/local/bin/blackbox_exporter",
                f"--config.file={CONFIG_DIR}/blackbox.yml",
                f"--web.listen-address={address()}",
            ],
            read_write_paths=[],
        ),
        config_dirs=(ManagedDirectory(CONFIG_DIR),),
        files=tuple(files),
    )


def remove(purge: bool = False) -> None:
    """No blackbox_exporter; with ``purge``, no account and data either."""
    retire(
        "blackbox_exporter",
        UNIT,
        RELEASE_ARCHIVES["blackbox_exporter"].binaries,
        CONFIG_DIR,
        data_dir=DATA_DIR if purge else None,
        user=USER if purge else None,
    )
