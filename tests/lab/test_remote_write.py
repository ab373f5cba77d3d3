"""Prometheus writes every sample to a real long-term store, Debian's VictoriaMetrics on
outsider behind vmauth's basic auth (obslab/victoriametrics.py), and scrapes that store as
a user's own job with its own login. When the store is away for a while, the samples of
that time wait in Prometheus' WAL and arrive once it is back: no gap.
"""

from __future__ import annotations

import itertools
import time

import pytest
import requests
from conftest import on_host, prometheus_query, server_get
from waiting import wait_until

from obslab import services, victoriametrics

pytestmark = pytest.mark.lab

SCRAPE_INTERVAL = 5  # obslab/settings.py: prometheus_scrape_interval
OUTAGE = 20  # seconds the store is away, at least: the lag Prometheus must report
SELECTOR = 'up{job="node", instance="web1"}'


def store_query(expression: str) -> list[dict]:
    return victoriametrics.query(expression, services.SECRETS_DIR)


def lag_seconds() -> float | None:
    """How far the newest sample sent to the store is behind the newest stored, as
    Prometheus reports it about itself."""
    result = prometheus_query(
        "prometheus_remote_storage_highest_timestamp_in_seconds - ignoring(remote_name, url)"
        " group_right prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
        f'{{remote_name="{victoriametrics.ENDPOINT}"}}'
    )
    return float(result[0]["value"][1]) if result else None


def test_the_labs_series_reach_the_store_with_the_external_labels(deployed):
    jobs = {series["metric"]["job"] for series in prometheus_query("up")}
    # Each job Prometheus scrapes now; the store may still show a job another test took
    # away within its lookback.
    wait_until(
        lambda: {s["metric"]["job"] for s in store_query("up")} >= jobs,
        timeout=90,
        what=f"the up series of every job ({', '.join(sorted(jobs))}) in VictoriaMetrics",
    )
    node = store_query('up{job="node"}')
    assert {s["metric"]["instance"] for s in node} >= {"obs", "web1", "app1"}
    assert {(s["metric"]["cluster"], s["metric"]["env"]) for s in node} == {("lab", "lab")}
    # vmauth refuses a request without the login, and with a wrong one.
    url = f"http://{victoriametrics.address()}:{victoriametrics.PORT}/api/v1/query"
    for auth in (None, (victoriametrics.WRITE_USER, "wrong")):
        assert requests.get(url, params={"query": "up"}, auth=auth, timeout=10).status_code == 401


def test_a_users_scrape_job_is_up_with_its_labels(deployed, hosts):
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    mine = [t for t in targets if t["labels"]["job"] == victoriametrics.JOB]
    assert len(mine) == 1, mine
    assert mine[0]["health"] == "up", mine[0]["lastError"]
    assert mine[0]["labels"]["team"] == "storage"
    assert mine[0]["scrapeUrl"].endswith(f":{victoriametrics.PORT}{victoriametrics.METRICS_PATH}")
    # VictoriaMetrics' own metrics came through the job's login.
    assert prometheus_query(f'vm_app_version{{job="{victoriametrics.JOB}"}}')
    password = hosts["obs"].file(f"/etc/prometheus/secrets/scrape_{victoriametrics.JOB}")
    assert (password.user, password.group, password.mode) == ("root", "prometheus", 0o640)
    config = hosts["obs"].file("/etc/prometheus/prometheus.yml").content_string
    secret = victoriametrics.credentials(services.SECRETS_DIR)[victoriametrics.SCRAPE_USER]
    assert secret not in config
    assert f"password_file: /etc/prometheus/secrets/scrape_{victoriametrics.JOB}" in config


def test_samples_written_during_an_outage_arrive_after_it(deployed):
    wait_until(lambda: (lag_seconds() or 99) < 10, timeout=60, what="remote write in step")
    stopped = on_host(victoriametrics.HOST, "systemctl stop victoria-metrics")
    down_at = time.time()
    try:
        assert stopped.returncode == 0, stopped.stderr
        wait_until(
            lambda: (lag_seconds() or 0) >= OUTAGE,
            timeout=OUTAGE + 60,
            what=f"Prometheus to report remote write {OUTAGE}s behind",
        )
    finally:
        started = on_host(victoriametrics.HOST, "systemctl start victoria-metrics")
    up_at = time.time()
    assert started.returncode == 0, started.stderr
    expected = int((up_at - down_at) // SCRAPE_INTERVAL) - 1

    def arrived() -> list[float]:
        return victoriametrics.exported_samples(
            SELECTOR, down_at - SCRAPE_INTERVAL, up_at + SCRAPE_INTERVAL, services.SECRETS_DIR
        )

    wait_until(
        lambda: len([t for t in arrived() if down_at <= t <= up_at]) >= expected,
        timeout=120,
        what=f"{expected} samples of {SELECTOR} from the outage in VictoriaMetrics",
    )
    caught_up = time.time() - up_at
    stamps = arrived()
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert max(gaps) <= 1.5 * SCRAPE_INTERVAL, f"a gap in the store: {max(gaps):.1f}s"
    wait_until(lambda: (lag_seconds() or 99) < 10, timeout=60, what="remote write to catch up")
    print(
        f"\nremote write outage: {up_at - down_at:.1f}s away, "
        f"{len([t for t in stamps if down_at <= t <= up_at])} samples of {SELECTOR} from it "
        f"arrived {caught_up:.1f}s after the store came back; largest gap {max(gaps):.1f}s"
    )
    # The store's own target recovers, and its InstanceDown clears before the next test.
    wait_until(
        lambda: (
            not prometheus_query(
                f'ALERTS{{alertname="InstanceDown", job="{victoriametrics.JOB}",'
                ' alertstate="firing"}'
            )
            and prometheus_query(f'up{{job="{victoriametrics.JOB}"}} == 1')
        ),
        timeout=60,
        what="the store's target up and its InstanceDown cleared",
    )
