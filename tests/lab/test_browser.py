"""What a person sees: the lab's web UIs in a real browser, through the proxy.

Debian's Chromium, driven by Playwright (obslab/browser.py), opens https://obs.lab.test as a
newcomer does after `./run lab`, trusting the lab's ACME CA through its root and nothing
else. The Prometheus web UI is upstream's, which the lab puts where Debian's Prometheus
serves it from (obslab/provided.py). Alertmanager's web UI cannot be built here: it is
written in Elm, whose compiler downloads itself from GitHub, so only its API is opened.

Screenshots are saved in test-artifacts/browser/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import pebble_root_file, server_get
from playwright.sync_api import Error as BrowserError
from waiting import wait_until

from obslab import browser, machines, pictures

pytestmark = pytest.mark.lab

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PROMETHEUS = f"{pictures.BASE_URL}/prometheus"
SERIES_LABELS = re.compile(r'(\w+)="([^"]*)"')


@pytest.fixture(scope="module")
def launch(deployed):
    browser.install()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser.launcher() as starts:
        yield starts


@pytest.fixture(scope="module")
def chromium(launch):
    return launch(Path(pebble_root_file()).read_text())


@dataclass
class Visit:
    """A logged-in page, and what it received: responses, failed requests, and errors its
    scripts raised."""

    page: object
    responses: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def visit(chromium):
    context = chromium.new_context(
        extra_http_headers=pictures.admin_login(), viewport=browser.VIEWPORT
    )
    opened = Visit(context.new_page())
    opened.page.on("response", lambda answer: opened.responses.append((answer.url, answer.status)))
    opened.page.on(
        "requestfailed", lambda request: opened.failed.append((request.url, request.failure))
    )
    opened.page.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


def all_targets_up() -> list[dict] | None:
    targets = server_get("/prometheus/api/v1/targets").json()["data"]["activeTargets"]
    return targets if all(target["health"] == "up" for target in targets) else None


def test_without_a_login_the_browser_gets_401(chromium):
    context = chromium.new_context()
    anonymous = context.new_page()
    answers = []
    anonymous.on("response", lambda answer: answers.append((answer.url, answer.status)))
    with pytest.raises(BrowserError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        anonymous.goto(f"{PROMETHEUS}/graph")
    assert answers == [(f"{PROMETHEUS}/graph", 401)]
    context.close()


def test_the_certificate_is_trusted_through_the_labs_root_alone(launch, visit):
    answer = visit.page.goto(f"{PROMETHEUS}/graph")
    assert answer.status == 200
    details = answer.security_details()
    assert details["subjectName"] == machines.LAB_DOMAIN, details
    assert details["issuer"].startswith("Pebble Intermediate CA"), details
    # Control: a browser that does not trust the lab's root refuses the same page.
    untrusting = launch(None)
    stranger = untrusting.new_page(extra_http_headers=pictures.admin_login())
    with pytest.raises(BrowserError, match="ERR_CERT_AUTHORITY_INVALID"):
        stranger.goto(f"{PROMETHEUS}/graph")
    untrusting.close()


def test_the_graph_page_shows_every_target_up(visit):
    page = visit.page
    targets = wait_until(all_targets_up, 60, "every target up in the API")
    # A target is its whole label set: web1's two PHP-FPM pools share job and instance.
    expected = sorted(sorted(target["labels"].items()) for target in targets)

    page.goto(pictures.graph_url("up", tab="table"))
    rows = page.locator("table tbody tr")
    wait_until(lambda: rows.count() == len(expected), 20, f"{len(expected)} rows of up")
    shown, values = [], set()
    for text in rows.all_inner_texts():
        series, value = text.rsplit(maxsplit=1)
        shown.append(sorted(SERIES_LABELS.findall(series)))
        values.add(value)
    assert sorted(shown) == expected
    assert values == {"1"}
    page.screenshot(path=str(ARTIFACTS / "graph-up-table.png"), full_page=True)
    # Every request the page made has ended: leaving it now would abort some of them.
    page.wait_for_load_state("networkidle")
    assert not visit.failed and not visit.errors, (visit.failed, visit.errors)
    pictures.take_graph_picture(page, ARTIFACTS / pictures.GRAPH_PICTURE)
    page.wait_for_load_state("networkidle")

    # Every asset came from under the route prefix, and none failed.
    assert visit.responses and all(
        url.startswith(f"{PROMETHEUS}/") and status < 400 for url, status in visit.responses
    ), visit.responses
    assert any(url.endswith(".js") for url, _ in visit.responses), visit.responses
    assert any(url.endswith(".css") for url, _ in visit.responses), visit.responses
    assert not visit.failed and not visit.errors, (visit.failed, visit.errors)


def test_the_targets_page_lists_every_target_up(visit):
    page = visit.page
    targets = wait_until(all_targets_up, 60, "every target up in the API")
    page.goto(f"{PROMETHEUS}/targets")
    jobs = sorted({target["scrapePool"] for target in targets})
    last = f"{jobs[-1]} ("
    page.get_by_text(last).first.wait_for(timeout=pictures.RENDER_TIMEOUT_MS)
    text = page.locator("body").inner_text()
    for job in jobs:
        count = sum(target["scrapePool"] == job for target in targets)
        assert f"{job} ({count}/{count} up)" in text, job
    for target in targets:
        assert target["scrapeUrl"].split("?")[0] in text, target["scrapeUrl"]
    assert text.count("\tUP\t") == len(targets), text
    page.screenshot(path=str(ARTIFACTS / "targets.png"), full_page=True)
    page.wait_for_load_state("networkidle")
    assert not visit.failed and not visit.errors, (visit.failed, visit.errors)


def test_the_alertmanager_api_answers_through_the_proxy(visit):
    page = visit.page
    answer = page.goto(f"{pictures.BASE_URL}/alertmanager/api/v2/status")
    assert answer.status == 200
    status = json.loads(page.locator("body").inner_text())
    assert status["cluster"]["status"] in ("ready", "disabled"), status["cluster"]
    assert status["versionInfo"]["version"], status["versionInfo"]
    alerts = page.goto(f"{pictures.BASE_URL}/alertmanager/api/v2/alerts").json()
    assert "Watchdog" in {alert["labels"]["alertname"] for alert in alerts}
