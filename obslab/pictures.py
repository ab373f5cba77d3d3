"""The README's pictures of the lab, taken in a real browser through the proxy.

``invoke lab.pictures`` refreshes them in ``docs/img/`` from the running, deployed lab;
tests/lab/test_browser.py takes the same pictures as its artifacts.

Example::

    from obslab import pictures
    pictures.refresh()     # docs/img/prometheus-graph.png
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from obslab import browser, machines
from obsstack import secrets
from obsstack.catalog.server import PROXY_PASSWORD

PICTURES_DIR = Path(__file__).resolve().parent.parent / "docs" / "img"
GRAPH_PICTURE = "prometheus-graph.png"
BASE_URL = f"https://{machines.LAB_DOMAIN}"
LAB_ADMIN = "admin"  # the lab's proxy administrator (obslab/settings.py)
# Every lab host's own line: the hosts share the controller's kernel, so their CPU and
# memory figures are all the same, but each has a network of its own.
GRAPH_QUERY = 'sum by (instance) (rate(node_network_receive_bytes_total{device!="lo"}[1m]))'
GRAPH_RANGE = "15m"
RENDER_TIMEOUT_MS = 20_000


def graph_url(expression: str, tab: str = "graph") -> str:
    """The Graph page showing ``expression`` as a chart (``tab="table"``: as a table)."""
    query = {"g0.expr": expression, "g0.tab": "0" if tab == "graph" else "1",
             "g0.range_input": GRAPH_RANGE}
    return f"{BASE_URL}/prometheus/graph?{urlencode(query)}"


def take_graph_picture(page, path: Path) -> None:
    """Open the Graph page of the lab's traffic in ``page`` (logged in) and save it whole."""
    page.goto(graph_url(GRAPH_QUERY))
    page.locator(".graph-chart canvas").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.locator(".graph-legend .legend-item").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.screenshot(path=str(path), full_page=True)


def admin_login() -> dict[str, str]:
    """The Authorization header of the lab's administrator, with its current password."""
    from obslab import services

    password = secrets.read(PROXY_PASSWORD.name_for(LAB_ADMIN), services.SECRETS_DIR)
    return browser.basic_auth(LAB_ADMIN, password)


def refresh(dest: Path = PICTURES_DIR, progress: Callable[[str], None] = print) -> list[Path]:
    """Take the README's pictures of the running lab into ``dest``; returns their paths."""
    from obslab import services

    browser.install(progress)
    dest.mkdir(parents=True, exist_ok=True)
    graph = dest / GRAPH_PICTURE
    with browser.launcher() as launch:
        chromium = launch(services.pebble_root())
        page = chromium.new_page(extra_http_headers=admin_login(), viewport=browser.VIEWPORT)
        take_graph_picture(page, graph)
    progress(f"pictures: {graph}")
    return [graph]
