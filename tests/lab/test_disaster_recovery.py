"""Disaster recovery: the observability server is lost for good and rebuilt from its backup.

The steps are docs/runbook.md's "The server is lost", as a user runs them: a new server
(here: obs powered off, its disk deleted, a fresh obs booted from the base image at the
same address, with new SSH host keys), then

1. ``invoke restore -i INVENTORY --only letsencrypt``: installs restic and the
   repository's keys on the bare server, and puts the certificate and ACME account back;
2. ``invoke deploy -i INVENTORY``: the stack, with nginx serving the restored certificate
   (certbot has nothing to obtain);
3. ``invoke restore -i INVENTORY --yes``: the data, replacing what the new server
   collected since step 2.

Before the loss the server holds a few minutes of metrics, a silence and a log line pushed
from web1; after step 3 the series answer over their original time range, the silence is
active, the line is in Loki, the certificate is the same one and the ACME CA issued none.

The repository is SFTP on outsider, which survives. This module runs last: it replaces the
server every other test talks to.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from secrets import token_hex

import pytest
from conftest import (
    LAB_INVENTORY,
    OBS_NAME,
    deploy,
    invoke,
    on_host,
    prometheus_query_at,
    proxy_request,
    server_get,
    silence,
)
from loki_push import push_from_web1, stream
from waiting import wait_until

from obslab import machines, provided, services

pytestmark = pytest.mark.lab

# Debian's Alertmanager exits without its templates; Debian's Prometheus has no UI without
# this (obslab/provided.py).
PROVIDED_ON_SERVER = (
    f"{provided.ALERTMANAGER_TEMPLATES}/default.tmpl",
    f"{provided.PROMETHEUS_UI_DIR}/index.html",
)


def served_certificate() -> str:
    """The sha256 of the certificate the proxy serves, as a client sees it."""
    pem = ssl.get_server_certificate((machines.LAB_DOMAIN, 443))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def certificates_issued() -> int:
    """How many certificates the lab's ACME CA has issued since it started."""
    return services.PEBBLE.log_file.read_text().count("Issued certificate serial")


def earliest_sample() -> float:
    """When the server's oldest sample was taken."""
    answer = server_get(
        "/prometheus/api/v1/query", params={"query": "prometheus_tsdb_lowest_timestamp_seconds"}
    ).json()
    return float(answer["data"]["result"][0]["value"][1])


def up_series(moment: float) -> int:
    return len(prometheus_query_at("up == 1", moment))


def log_lines(at_ns: int) -> list[str]:
    """The lines of the test's stream around ``at_ns``, through the proxy."""
    answer = server_get(
        "/loki/api/v1/query_range",
        params={"query": '{job="dr_test"}', "start": at_ns - 10**9, "end": at_ns + 10**9},
    ).json()
    return [line for result in answer["data"]["result"] for _, line in result["values"]]


def test_a_lost_server_is_rebuilt_and_restored_with_its_history(deployed):
    # What the server has before: a while of metrics, a silence, a certificate.
    wait_until(
        lambda: time.time() - earliest_sample() > 120,
        timeout=180,
        what="two minutes of metrics on the server",
    )
    first = earliest_sample() + 30
    comment = f"survives the server {token_hex(4)}"
    created = proxy_request("POST", "/alertmanager/api/v2/silences", json=silence(comment, 24))
    assert created.status_code == 200, created.text
    pushed_at = time.time_ns()
    log_line = f"written before the loss {token_hex(4)}"
    assert push_from_web1([stream({"job": "dr_test"}, [log_line], pushed_at)]) == 204
    wait_until(lambda: log_lines(pushed_at) == [log_line], timeout=30, what="the line in Loki")
    certificate, issued = served_certificate(), certificates_issued()
    backed_up = invoke("backup", "-i", LAB_INVENTORY)
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    last = time.time() - 10
    before = {"first": up_series(first), "last": up_series(last)}
    assert before["first"] >= 5 and before["last"] >= 5, before

    # The server is gone: its container and its disk.
    machines.rebuild(OBS_NAME)
    assert on_host(OBS_NAME, "test -e /var/lib/prometheus").returncode == 1
    # What the lab gives its server came with the new disk: no `invoke lab.up` between.
    for provided_file in PROVIDED_ON_SERVER:
        assert on_host(OBS_NAME, f"test -s {provided_file}").returncode == 0, provided_file
    started = time.monotonic()

    certificate_back = invoke("restore", "-i", LAB_INVENTORY, "--only", "letsencrypt")
    assert certificate_back.returncode == 0, certificate_back.stdout + certificate_back.stderr
    assert "restored letsencrypt" in certificate_back.stdout
    redeployed = deploy()
    assert redeployed.ok, redeployed.log[-5000:]
    data_back = invoke("restore", "-i", LAB_INVENTORY, "--yes")
    recovery = time.monotonic() - started
    assert data_back.returncode == 0, data_back.stdout + data_back.stderr
    print(f"recovery: {recovery:.1f}s from a bare server to healthy with its data")

    for part in ("prometheus", "alertmanager", "loki", "grafana", "history"):
        assert f"restored {part} from snapshot" in data_back.stdout, data_back.stdout
    assert "restored config into" in data_back.stdout
    assert "0 fail" in data_back.stdout, data_back.stdout[-3000:]
    # The series from before the loss answer over their original time range.
    assert {"first": up_series(first), "last": up_series(last)} == before
    # The log line is there at its time.
    assert log_lines(pushed_at) == [log_line]
    # The silence is there, and still silences.
    restored = [
        s for s in server_get("/alertmanager/api/v2/silences").json() if s["comment"] == comment
    ]
    assert [s["status"]["state"] for s in restored] == ["active"], restored
    # The same certificate, and no new order at the CA.
    assert served_certificate() == certificate
    assert certificates_issued() == issued
