"""The lab's long-term store: Debian's VictoriaMetrics on outsider, a host that is not the
observability server, behind vmauth (from the same package) with basic auth.

Prometheus on obs remote-writes to it (``prometheus_remote_write`` in obslab/settings.py)
and scrapes its metrics as a user's own job (``prometheus_scrape_jobs``), each with its own
login: the lab's secrets ``prometheus_remote_write_outsider`` and
``prometheus_scrape_victoriametrics``. VictoriaMetrics listens on loopback only; vmauth's
config, which holds the passwords, reaches outsider on stdin and is 0640.

Example::

    from obslab import victoriametrics
    victoriametrics.prepare()                      # on every lab.up
    victoriametrics.query("count(up)")             # VictoriaMetrics' Prometheus API
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import requests
import yaml

from obslab import machines
from obsstack import secrets
from obsstack.catalog.server import REMOTE_WRITE_SECRET, SCRAPE_SECRET

HOST = "outsider"
PORT = 8427  # vmauth, on outsider's lab address
STORAGE_PORT = 8428  # VictoriaMetrics itself, on outsider's loopback
ENDPOINT = "outsider"  # the remote-write endpoint's name in the lab's settings
JOB = "victoriametrics"  # the user scrape job's name in the lab's settings
WRITE_USER = "prometheus-write"
SCRAPE_USER = "prometheus-scrape"
METRICS_PATH = "/storage/metrics"
UNIT = f"""[Unit]
Description=vmauth (the lab's long-term store's login)
After=network-online.target victoria-metrics.service

[Service]
User=_victoria-metrics
ExecStart=/usr/bin/vmauth -auth.config=/etc/vmauth/auth.yml -httpListenAddr=:{PORT}
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def address() -> str:
    return machines.lab_host(HOST).address


def write_url() -> str:
    return f"http://{address()}:{PORT}/api/v1/write"


def scrape_target() -> str:
    return f"{address()}:{PORT}"


def credentials(store: Path) -> dict[str, str]:
    """vmauth's users and their passwords, from the lab's secrets in ``store``."""
    return {
        WRITE_USER: secrets.read(REMOTE_WRITE_SECRET.name_for(ENDPOINT), store),
        SCRAPE_USER: secrets.read(SCRAPE_SECRET.name_for(JOB), store),
    }


def prepare(store: Path) -> None:
    """Install VictoriaMetrics on outsider (once), listening on loopback, and vmauth in
    front of it with the lab's logins; restart both and wait until vmauth answers.

    Done on every ``lab.up``, so a changed secret reaches vmauth.
    """
    storage = f"http://127.0.0.1:{STORAGE_PORT}"
    passwords = credentials(store)
    auth = {
        "users": [
            {"username": WRITE_USER, "password": passwords[WRITE_USER], "url_prefix": storage},
            # vmauth answers /metrics itself, with no login: the scrape user reaches
            # VictoriaMetrics' own metrics under METRICS_PATH, with its login.
            {
                "username": SCRAPE_USER,
                "password": passwords[SCRAPE_USER],
                "url_map": [
                    {
                        "src_paths": [METRICS_PATH],
                        "url_prefix": storage,
                        "drop_src_path_prefix_parts": 1,
                    }
                ],
            },
        ]
    }
    script = f"""set -e
command -v victoria-metrics >/dev/null || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics >/dev/null
echo 'ARGS="-storageDataPath=/var/lib/victoria-metrics -httpListenAddr=127.0.0.1:{STORAGE_PORT}"' \
    > /etc/default/victoria-metrics
install -d -m 0750 -o root -g _victoria-metrics /etc/vmauth
umask 027
cat > /etc/vmauth/auth.yml.new
chgrp _victoria-metrics /etc/vmauth/auth.yml.new
mv /etc/vmauth/auth.yml.new /etc/vmauth/auth.yml
cat > /etc/systemd/system/vmauth.service <<'UNIT'
{UNIT}UNIT
systemctl daemon-reload
systemctl enable --quiet victoria-metrics vmauth
systemctl restart victoria-metrics vmauth
"""
    subprocess.run(
        machines.ssh_argv(HOST, script),
        input=yaml.safe_dump(auth).encode(),
        check=True,
        capture_output=True,
    )

    def answers() -> bool:
        with socket.socket() as probe:
            probe.settimeout(1)
            return probe.connect_ex((address(), PORT)) == 0

    machines.wait_for(answers, 30, "vmauth on outsider to listen")


def get(path: str, store: Path, **params: Any) -> requests.Response:
    """GET ``path`` from VictoriaMetrics through vmauth, as the remote-write user."""
    return requests.get(
        f"http://{address()}:{PORT}{path}",
        params=params,
        auth=(WRITE_USER, credentials(store)[WRITE_USER]),
        timeout=10,
    )


def query(expression: str, store: Path) -> list[dict]:
    """The result vector of an instant query on VictoriaMetrics' Prometheus API."""
    answer = get("/api/v1/query", store, query=expression)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def exported_samples(selector: str, start: float, end: float, store: Path) -> list[float]:
    """The timestamps (seconds) of every raw sample matching ``selector`` between ``start``
    and ``end``: the export API reads storage directly, past any query cache."""
    answer = get("/api/v1/export", store, **{"match[]": selector, "start": start, "end": end})
    answer.raise_for_status()
    return sorted(
        stamp / 1000
        for line in answer.text.splitlines()
        if line.strip()
        for stamp in json.loads(line)["timestamps"]
    )
