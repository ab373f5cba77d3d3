"""The dashboards as Grafana's file provisioning will read them: JSON that Grafana's own
models (``grafana-foundation-sdk``) read back unchanged, unique uids and panel ids, every
panel titled, described and with a unit, on a grid that holds it. Their queries are proven
against real data on the lab (tests/lab/test_dashboards.py)."""

from __future__ import annotations

import json
import warnings

import pytest

from obsstack.dashboards import panel_queries, render
from obsstack.dashboards.panels import LOKI_UID, PROMETHEUS_UID, WIDTH

warnings.filterwarnings("ignore", category=DeprecationWarning, module="grafana_foundation_sdk")
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.cog.plugins import register_default_plugins  # noqa: E402
from grafana_foundation_sdk.models.dashboard import Dashboard  # noqa: E402

FILES = render()


def test_the_dashboards_and_their_folders():
    assert sorted(FILES) == [
        "Overview/deploys.json",
        "Overview/fleet.json",
        "Overview/host.json",
        "Overview/logs.json",
        "Services/fail2ban.json",
        "Services/mysql.json",
        "Services/nginx.json",
        "Services/php-fpm.json",
        "Services/probes.json",
        "Stack/self.json",
    ]
    uids = [json.loads(text)["uid"] for text in FILES.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(FILES))
def test_grafanas_models_read_the_json_back_unchanged(name):
    """Grafana's models drop what they do not know: a misspelt key would not come back."""
    register_default_plugins()
    document = json.loads(FILES[name])
    again = json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(document)))
    assert again == document


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_panel_says_what_it_shows(name):
    document = json.loads(FILES[name])
    assert document["title"] and document["description"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    for panel in document["panels"]:
        assert panel["title"], panel
        if panel["type"] == "row":
            continue
        assert panel.get("description"), panel["title"]
        assert panel["targets"], panel["title"]
        if panel["type"] != "logs":
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_panels_fit_the_grid_without_overlapping(name):
    taken = set()
    for panel in json.loads(FILES[name])["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= WIDTH, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_query_goes_to_a_provisioned_data_source_and_uses_the_variables():
    queries = [query for text in FILES.values() for query in panel_queries(text)]
    assert {query.datasource for query in queries} == {PROMETHEUS_UID, LOKI_UID}
    # A query that ignores the host selection is a global one (alerts, the server's own).
    filtered = [query for query in queries if "$instance" in query.expr]
    assert len(filtered) >= len(queries) * 2 // 3


def test_the_round_trip_notices_a_misspelt_key():
    register_default_plugins()
    document = json.loads(FILES["Overview/host.json"])
    document["panels"][1]["fieldConfig"]["defaults"]["untis"] = "bytes"
    again = json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(document)))
    assert again != document
