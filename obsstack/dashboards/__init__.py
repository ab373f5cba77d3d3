"""Grafana dashboards as code: built with Grafana's own typed builders
(``grafana-foundation-sdk``), rendered to the JSON Grafana's file provisioning reads, one
folder per area.

Example::

    from obsstack.dashboards import render
    files = render()             # {"Overview/host.json": "{...}", ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from obsstack.dashboards.boards import BOARDS


def render() -> dict[str, str]:
    """``{"<folder>/<uid>.json": dashboard JSON}`` of every dashboard."""
    files = {}
    for folder, builders in BOARDS.items():
        for build in builders:
            model = build().build()
            files[f"{folder}/{model.uid}.json"] = (
                JSONEncoder(sort_keys=True, indent=2).encode(model) + "\n"
            )
    return files


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel, as Grafana will send it to its data source."""

    dashboard: str  # uid
    panel: str  # title
    datasource: str  # uid
    expr: str


def panel_queries(text: str) -> Iterator[PanelQuery]:
    """Every query of a dashboard's JSON."""
    document = json.loads(text)
    for panel in document["panels"]:
        for target in panel.get("targets", []):
            yield PanelQuery(
                document["uid"],
                panel["title"],
                target.get("datasource", panel.get("datasource", {}))["uid"],
                target["expr"],
            )
