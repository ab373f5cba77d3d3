"""Every query of every dashboard (obsstack/dashboards/), run against the lab's real
Prometheus and Loki on the observability server, with the dashboard variables set to the
lab's values: each must parse and return at least one series. A misspelled metric or label
fails here. (They are asked on the server's loopback, as Grafana asks them: the proxy's
rate per client would slow sixty queries down, and the proxy has tests of its own.)

Grafana itself cannot be obtained on these machines, so no dashboard is ever drawn here:
what runs is every query Grafana would send, the way its data sources send them (an instant
query for Prometheus, a range query for Loki), and the variables' label queries.

The lab makes the data: web1 runs nginx, MariaDB, PHP-FPM and fail2ban (tests/lab/
web_services.py), lines like Alloy's are pushed to Loki from web1, and a drift check runs.
A panel empty in the lab by nature is listed in EMPTY_IN_THE_LAB with the reason; its query
must still be accepted.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any

import pytest
from conftest import LAB_INVENTORY, OBS_NAME, TEST_DATA, on_host, prometheus_query
from loki_push import push_from_web1, stream
from waiting import wait_until

from obsstack.catalog import setting_defaults
from obsstack.dashboards import panel_queries, render
from obsstack.dashboards.panels import LOKI_UID, VARIABLES
from obsstack.drift import check_drift
from obsstack.health import run_health
from obsstack.pipeline import deploy_pipeline

pytestmark = pytest.mark.lab

DASHBOARDS = render()
# The lab leaves them at the catalog's defaults.
PROMETHEUS_PORT, LOKI_PORT = (setting_defaults()[key] for key in ("prometheus_port", "loki_port"))
# What the lab sets the variables to; Grafana's own interval variables as it fills them
# for a 6-hour range.
VALUES = {"$env": "lab", "$role": ".*", "$instance": ".*", "$__rate_interval": "1m"}
# The lab's hosts run on overlay filesystems, which node_exporter reports and the alert
# rules watch as little as the dashboards do.
OVERLAY = "the lab's hosts have no real filesystem (overlays), left out as on every host"
EMPTY_IN_THE_LAB = {
    ("mysql", "Replication lag"): "the lab's MariaDB has no replica",
    ("host", "Disk space used"): OVERLAY,
    ("host", "Free space in 24 hours"): OVERLAY,
}
ALLOY_LABELS = {"host": "web1", "env": "lab", "role": "monitored"}


def substituted(expr: str) -> str:
    for name, value in VALUES.items():
        expr = expr.replace(name, value)
    assert "$" not in re.sub(r"\$\d", "", expr), f"a variable the test does not set: {expr}"
    return expr


@pytest.fixture(scope="module")
def lab_data(web1_services):
    """Lines like Alloy's in Loki; a deploy's, a drift check's and a health check's metrics
    in Prometheus."""
    now = time.time_ns()
    lines = [
        stream({**ALLOY_LABELS, "job": "journal", "unit": "ssh.service", "level": "err"},
               ["error: kex_exchange_identification: Connection closed by remote host"], now),
        stream({**ALLOY_LABELS, "job": "nginx_access"},
               ['203.0.113.5 - - [02/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" '
                '"curl/8.14"'], now),
    ]
    assert push_from_web1(lines) == 204
    # A deploy, a drift check and a health check write their metrics, as `invoke deploy`,
    # `invoke drift` and `invoke health` do (the tests' own deploys and a deploy's health
    # gate write none).
    outcome = deploy_pipeline(LAB_INVENTORY, data=TEST_DATA, echo=False)
    assert outcome.ok, outcome.failures
    check_drift(LAB_INVENTORY)
    run_health(LAB_INVENTORY)
    for metric in (
        "obs_deploy_info",
        "obs_drift_detected",
        "obs_health_last_run_timestamp_seconds",
    ):
        wait_until(
            lambda metric=metric: prometheus_query(f'{metric}{{instance="web1"}}'),
            timeout=60,
            what=f"{metric} in Prometheus",
        )


def answer(port: int, path: str, params: dict[str, str], query: str = "") -> Any:
    """The ``data`` of an API answer on obs' loopback; ``query`` reaches curl on stdin."""
    arguments = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params.items())
    if query:
        arguments += " --data-urlencode query@-"
    result = on_host(
        OBS_NAME, f"curl -sS -G {arguments} http://127.0.0.1:{port}{path}", stdin=query
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "success", f"{query or params}: {body}"
    return body["data"]


def series_of(datasource: str, expr: str) -> list:
    if datasource == LOKI_UID:
        end = time.time_ns()
        window = {"start": str(end - 3600 * 10**9), "end": str(end), "limit": "10"}
        return answer(LOKI_PORT, "/loki/api/v1/query_range", window, expr)["result"]
    return answer(PROMETHEUS_PORT, "/prometheus/api/v1/query", {}, expr)["result"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_query_returns_series_for_the_lab(lab_data, name):
    queries = list(panel_queries(DASHBOARDS[name]))
    assert queries, f"{name} has no queries"
    empty = []
    for query in queries:
        found = series_of(query.datasource, substituted(query.expr))
        if (query.dashboard, query.panel) in EMPTY_IN_THE_LAB:
            continue
        if not found:
            empty.append(f"{query.panel}: {query.expr}")
    assert empty == [], f"{name}: panels with no series in the lab:\n" + "\n".join(empty)


def test_every_listed_empty_panel_exists():
    panels = {
        (query.dashboard, query.panel)
        for text in DASHBOARDS.values()
        for query in panel_queries(text)
    }
    assert set(EMPTY_IN_THE_LAB) <= panels


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda item: item.build().name)
def test_every_variable_finds_the_labs_values(lab_data, variable):
    model = variable.build()
    metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", model.query).groups()
    values = answer(
        PROMETHEUS_PORT, f"/prometheus/api/v1/label/{label}/values",
        {"match[]": substituted(metric)},
    )
    assert values, f"{model.name}: no values"
    if model.name == "env":
        assert values == ["lab"]
