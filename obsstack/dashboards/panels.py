"""The pieces every dashboard is made of: data sources, variables, and panels with a title,
a unit and a description, on Grafana's own typed builders (``grafana-foundation-sdk``).

A panel is described by a ``Query`` list (PromQL or LogQL with a legend); ``board`` lays the
panels out in rows, numbers them and gives every dashboard the same ``env``, ``role`` and
``instance`` variables, so a query filters with ``SELECTOR``.

Example::

    from obsstack.dashboards.panels import Query, board, row, timeseries, SELECTOR
    dashboard = board("host", "Host", "CPU, memory and disks of one host", [
        row("CPU"),
        timeseries("CPU busy", "percentunit", "Share of CPU time not idle.",
                   [Query(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle", '
                          f'{SELECTOR}}}[$__rate_interval]))', "{{instance}}")]),
    ])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

# The classic (v1) dashboard builders warn that v2 exists; file provisioning reads v1.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="grafana_foundation_sdk")

from grafana_foundation_sdk.builders import common as common_builders  # noqa: E402
from grafana_foundation_sdk.builders import (  # noqa: E402
    dashboard,
    logs,
    loki,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.models.common import (  # noqa: E402
    DataSourceRef,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (  # noqa: E402
    GridPos,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat  # noqa: E402

# The data sources' uids, as Grafana's provisioning creates them.
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
LOKI = DataSourceRef(type_val="loki", uid=LOKI_UID)
# What every metric query filters on: the dashboard's variables.
SELECTOR = 'env=~"$env", role=~"$role", instance=~"$instance"'
# Loki's streams name the host "host" (Alloy's external labels).
LOG_SELECTOR = 'env=~"$env", role=~"$role", host=~"$instance"'
WIDTH = 24  # Grafana's grid


@dataclass(frozen=True)
class Query:
    """One query of a panel: PromQL (or LogQL, in a logs or log-metric panel) and the legend
    its series get."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel before layout: its builder, its width and height in grid units."""

    builder: Any
    width: int
    height: int


def row(title: str) -> Panel:
    return Panel(dashboard.Row(title), WIDTH, 1)


def _targets(
    builder: Any, queries: list[Query], source: DataSourceRef, latest: bool = False,
    table_format: bool = False,
):
    """``builder`` with a target per query; ``latest``: the last value only (instant)."""
    for number, query in enumerate(queries):
        kind = loki if source is LOKI else prometheus
        target = kind.Dataquery().expr(query.expr).ref_id(chr(ord("A") + number))
        target = target.datasource(source)
        if query.legend:
            target = target.legend_format(query.legend)
        if latest or table_format:
            target = target.instant()
        if table_format:
            target = target.format(PromQueryFormat.TABLE)
        builder = builder.with_target(target)
    return builder


def timeseries_panel(
    title: str,
    unit: str,
    description: str,
    queries: list[Query],
    width: int = 12,
    height: int = 8,
    source: DataSourceRef = PROMETHEUS,
    minimum: float | None = 0,
) -> Panel:
    """A graph over time of ``queries``, each series named by its legend."""
    builder = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(source)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
    )
    if minimum is not None:
        builder = builder.min(minimum)
    return Panel(_targets(builder, queries, source), width, height)


def stat_panel(
    title: str,
    unit: str,
    description: str,
    queries: list[Query],
    width: int = 6,
    height: int = 4,
    source: DataSourceRef = PROMETHEUS,
) -> Panel:
    """The latest value of each query, large."""
    builder = stat.Panel().title(title).description(description).unit(unit).datasource(source)
    return Panel(_targets(builder, queries, source, latest=True), width, height)


def table_panel(
    title: str,
    unit: str,
    description: str,
    queries: list[Query],
    width: int = 12,
    height: int = 8,
) -> Panel:
    """The latest value of each series, one row each with its labels."""
    builder = (
        table.Panel().title(title).description(description).unit(unit).datasource(PROMETHEUS)
    )
    return Panel(_targets(builder, queries, PROMETHEUS, table_format=True), width, height)


def logs_panel(
    title: str, description: str, query: str, width: int = WIDTH, height: int = 12
) -> Panel:
    """Log lines of a LogQL query, newest first."""
    builder = (
        logs.Panel()
        .title(title)
        .description(description)
        .datasource(LOKI)
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
    )
    return Panel(_targets(builder, [Query(query)], LOKI), width, height)


def variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .definition(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


VARIABLES = (
    variable("env", "Environment", "label_values(up, env)"),
    variable("role", "Role", 'label_values(up{env=~"$env"}, role)'),
    variable("instance", "Host", 'label_values(up{env=~"$env", role=~"$role"}, instance)'),
)


def board(uid: str, title: str, description: str, panels: list[Panel]) -> dashboard.Dashboard:
    """The dashboard: the variables, then ``panels`` left to right, a row starting a line."""
    builder = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["observability-stack"])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
    )
    for item in VARIABLES:
        builder = builder.with_variable(item)
    x = y = line_height = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > WIDTH or isinstance(panel.builder, dashboard.Row):
            x, y, line_height = 0, y + line_height, 0
        placed = panel.builder.id(number).grid_pos(
            GridPos(h=panel.height, w=panel.width, x=x, y=y)
        )
        builder = (
            builder.with_row(placed)
            if isinstance(panel.builder, dashboard.Row)
            else builder.with_panel(placed)
        )
        x, line_height = x + panel.width, max(line_height, panel.height)
        if isinstance(panel.builder, dashboard.Row):
            x, y, line_height = 0, y + 1, 0
    return builder
