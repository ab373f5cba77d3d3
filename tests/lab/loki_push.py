"""Lines pushed to the lab's Loki from web1, through the proxy, as Alloy would push them.

Alloy cannot be obtained here (obslab/grafana.py): the lab tests push with curl on web1,
to ``https://obs.lab.test/loki/api/v1/push``, with web1's own push password.
"""

from __future__ import annotations

import json
import time

from conftest import on_host

from obslab import machines, services
from obsstack import secrets
from obsstack.catalog.server import LOKI_PUSH_PASSWORD

PUSHER = "web1"
PUSH_URL = f"https://{machines.LAB_DOMAIN}/loki/api/v1/push"


def push_password(host: str = PUSHER) -> str:
    return secrets.read(LOKI_PUSH_PASSWORD.name_for(host), services.SECRETS_DIR)


def push_from_web1(streams: list[dict], user: str = PUSHER, password: str | None = None) -> int:
    """POST ``streams`` to Loki through the proxy from web1 with curl, as Alloy would: the
    login reaches curl on stdin (its config), never its argv; returns the HTTP status."""
    password = push_password(user) if password is None else password
    ca = on_host(PUSHER, "cat > /tmp/obs-test-ca.pem", stdin=services.pebble_root())
    assert ca.returncode == 0, ca.stderr
    body = json.dumps({"streams": streams})
    config = f'user = "{user}:{password}"\ndata-binary = {json.dumps(body)}\n'
    result = on_host(
        PUSHER,
        "curl -sS -o /dev/null -w '%{http_code}' --cacert /tmp/obs-test-ca.pem"
        f" -H 'Content-Type: application/json' -K - {PUSH_URL}",
        stdin=config,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def stream(labels: dict[str, str], lines: list[str], at_ns: int | None = None) -> dict:
    at_ns = time.time_ns() if at_ns is None else at_ns
    return {"stream": labels, "values": [[str(at_ns + i), line] for i, line in enumerate(lines)]}
