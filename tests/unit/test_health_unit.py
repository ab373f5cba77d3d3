"""The health checks' parsing and judging, on outputs captured from the lab.

The fixtures are the health script's real stdout on the lab (web1's node_exporter stopped),
with the Prometheus API bodies cut down to the fields the checks read. The bash parts (the
/dev/tcp HTTP client, the atomic textfile write) run for real against local stand-ins.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from obsstack.checks import (
    FAIL,
    PASS,
    SECTION_MARKER,
    WARN,
    Report,
    Result,
    format_report,
    host_results,
    parse_sections,
)
from obsstack.health import (
    HTTP_GET_FUNCTION,
    api_data,
    disk_check,
    evaluate_alerts,
    evaluate_disk,
    evaluate_host,
    evaluate_loki,
    evaluate_prometheus,
    evaluate_services,
    evaluate_stale,
    evaluate_targets,
    evaluate_tls,
    host_script,
    http_status,
    label_value,
    loki_commands,
    metrics_text,
    probes,
    script_failure,
    service_commands,
    tls_commands,
)
from obsstack.session import HostInfo, RemoteResult
from obsstack.textfile import replace_command

OBS = HostInfo(
    "obs",
    ["observability", "lab"],
    {
        "node_exporter_port": 9100,
        "prometheus_port": 9090,
        "alertmanager_port": 9093,
        "loki_port": 3100,
        "prometheus_scrape_interval": "5s",
        "domain": "obs.lab.test",
    },
)
WEB1 = HostInfo(
    "web1",
    ["monitored", "lab"],
    {
        "node_exporter_port": 9100,
        "nginx_exporter_port": 9113,
        "mysqld_exporter_port": 9104,
        "ssh_hostname": "10.99.0.11",
    },
)

# web1's health script output, captured with its node_exporter stopped.
WEB1_STOPPED_STDOUT = (
    "\n::obs-check:: unit:node_exporter.service\ninactive\n"
    "\n::obs-check:: ready:node_exporter\n"
    "\n::obs-check:: disk:/\n270553174016 83457245184 /\n"
    "\n::obs-check:: disk:/var/lib/node_exporter\n270553174016 83457245184 /"
)

WEB1_DOWN_ERROR = (
    'Get "http://10.99.0.11:9100/metrics": dial tcp 10.99.0.11:9100: connect: connection refused'
)
# /api/v1/targets at the same moment, cut down to the fields the checks read.
TARGETS = [
    {"labels": {"instance": "obs", "job": "alertmanager"}, "lastError": "",
     "lastScrape": "2026-11-27T01:39:29.557861641Z", "health": "up"},
    {"labels": {"instance": "obs", "job": "node"}, "lastError": "",
     "lastScrape": "2026-11-27T01:39:31.636437371Z", "health": "up"},
    {"labels": {"instance": "web1", "job": "node"}, "lastError": WEB1_DOWN_ERROR,
     "lastScrape": "2026-11-27T01:39:33.405544283Z", "health": "down"},
    {"labels": {"instance": "app1", "job": "node"}, "lastError": "",
     "lastScrape": "2026-11-27T01:39:31.028263291Z", "health": "up"},
    {"labels": {"instance": "obs", "job": "prometheus"}, "lastError": "",
     "lastScrape": "2026-11-27T01:39:32.331864981Z", "health": "up"},
]  # fmt: skip
TARGETS_NOW = 1795743574.539874226  # `date +%s.%N` on obs, right after the API call
# /api/v1/alerts a few seconds later, without the annotations.
ALERTS = [
    {"labels": {"alertname": "InstanceDown", "instance": "web1", "job": "node",
                "severity": "critical"}, "state": "firing"},
    {"labels": {"alertname": "PrometheusNotificationsDropped", "instance": "obs",
                "job": "prometheus", "severity": "warning"}, "state": "pending"},
    {"labels": {"alertname": "ObsHealthCheckFailing", "check": "alerts", "instance": "obs",
                "job": "node", "severity": "warning"}, "state": "firing"},
    {"labels": {"alertname": "Watchdog", "severity": "none"}, "state": "firing"},
]  # fmt: skip
WATCHDOG_ONLY = [ALERTS[-1]]


def api_answer(data: dict) -> str:
    """An API answer as Prometheus sends it (HTTP/1.0, CRLF headers)."""
    return (
        "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
        "Date: Fri, 27 Nov 2026 01:39:34 GMT\r\n\r\n"
        + json.dumps({"status": "success", "data": data})
    )


def obs_stdout(targets: list[dict], alerts: list[dict], now: float = TARGETS_NOW) -> str:
    """obs's health script output, laid out as captured (sections of the API answers)."""
    sections = {
        "unit:node_exporter.service": "active",
        "ready:node_exporter": "HTTP/1.0 200 OK\r",
        "unit:prometheus.service": "active",
        "ready:prometheus": "HTTP/1.0 200 OK\r",
        "unit:alertmanager.service": "active",
        "ready:alertmanager": "HTTP/1.0 200 OK\r",
        "unit:loki.service": "active",
        "ready:loki": "HTTP/1.0 200 OK\r",
        "loki:push": "HTTP/1.0 204 No Content\r",
        "prometheus:now": f"{now:.9f}",
        "prometheus:targets": api_answer({"activeTargets": targets, "droppedTargets": []}),
        "prometheus:alerts": api_answer({"alerts": alerts}),
        "disk:/": "270553174016 83457245184 /",
    }
    return "".join(f"\n{SECTION_MARKER}{name}\n{text}\n" for name, text in sections.items())


def by_name(results: list[Result]) -> dict[str, Result]:
    return {result.check: result for result in results}


# --- sections ---------------------------------------------------------------------------------


def test_sections_of_a_captured_output():
    sections = parse_sections(WEB1_STOPPED_STDOUT)
    assert sections == {
        "unit:node_exporter.service": "inactive",
        "ready:node_exporter": "",
        "disk:/": "270553174016 83457245184 /",
        "disk:/var/lib/node_exporter": "270553174016 83457245184 /",
    }


def test_api_answer_survives_the_section_parsing():
    sections = parse_sections(obs_stdout(TARGETS, ALERTS))
    assert api_data(sections["prometheus:targets"])["activeTargets"] == TARGETS
    assert api_data(sections["prometheus:alerts"])["alerts"] == ALERTS


@pytest.mark.parametrize(
    ("answer", "status"),
    [("HTTP/1.0 200 OK", 200), ("HTTP/1.1 503 Service Unavailable", 503), ("", None)],
)
def test_http_status(answer, status):
    assert http_status(answer) == status


def test_api_data_needs_a_200_with_json():
    assert api_data("HTTP/1.0 503 Service Unavailable\n\nnot ready") is None
    assert api_data('HTTP/1.0 200 OK\n\n{"status":"succ') is None  # cut off by the timeout


def test_script_prints_every_section_the_checks_read():
    script = host_script(OBS, probes())
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid bash
    markers = {
        line.split(SECTION_MARKER)[1].rstrip("'")
        for line in script.splitlines()
        if SECTION_MARKER in line
    }
    assert markers == {
        "unit:node_exporter.service",
        "ready:node_exporter",
        "unit:prometheus.service",
        "ready:prometheus",
        "unit:alertmanager.service",
        "ready:alertmanager",
        "unit:loki.service",
        "ready:loki",
        "loki:push",
        "prometheus:now",
        "prometheus:targets",
        "prometheus:alerts",
        "disk:/",
        "disk:/var/lib/node_exporter",
        "disk:/var/lib/prometheus",
        "disk:/var/lib/alertmanager",
        "disk:/var/lib/loki",
        "tls:now",
        "tls:certificate",
    }


# --- services ---------------------------------------------------------------------------------


def test_stopped_unit_and_silent_endpoint_fail():
    checks = by_name(evaluate_services(WEB1, parse_sections(WEB1_STOPPED_STDOUT)))
    assert checks["unit:node_exporter.service"] == Result(
        "web1", "unit:node_exporter.service", FAIL, "inactive"
    )
    assert checks["ready:node_exporter"] == Result(
        "web1", "ready:node_exporter", FAIL, "no answer from 10.99.0.11:9100/metrics"
    )


def test_exporters_are_asked_where_they_listen():
    web1 = service_commands(WEB1)["ready:node_exporter"]
    assert web1 == "http_get 10.99.0.11 9100 /metrics | head -n 1"
    assert service_commands(OBS)["ready:node_exporter"].startswith("http_get 127.0.0.1 9100 ")


def test_every_expected_service_is_checked_on_the_server():
    checks = by_name(evaluate_services(OBS, parse_sections(obs_stdout(TARGETS, ALERTS))))
    assert {name: check.status for name, check in checks.items()} == {
        "unit:node_exporter.service": PASS,
        "ready:node_exporter": PASS,
        "unit:prometheus.service": PASS,
        "ready:prometheus": PASS,
        "unit:alertmanager.service": PASS,
        "ready:alertmanager": PASS,
        "unit:loki.service": PASS,
        "ready:loki": PASS,
    }
    assert checks["ready:prometheus"].detail == "127.0.0.1:9090/prometheus/-/ready answered 200"


# --- Loki -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status"),
    [("HTTP/1.0 204 No Content\r", PASS), ("HTTP/1.0 429 Too Many Requests\r", FAIL), ("", FAIL)],
)
def test_loki_passes_only_when_it_takes_the_pushed_line(answer, status):
    [check] = evaluate_loki(OBS, {"loki:push": answer})
    assert (check.check, check.status) == ("ingest:loki", status)
    assert evaluate_loki(WEB1, {}) == []


def test_the_pushed_line_is_valid_json_with_the_hosts_clock(tmp_path):
    command = loki_commands(OBS)["loki:push"]
    # Run it with a stand-in http_post that prints the body it was given.
    script = "http_post() { printf %s \"$4\"; }\n" + command.removesuffix(" | head -n 1")
    body = json.loads(subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                                     check=True).stdout)
    [stream] = body["streams"]
    assert stream["stream"] == {"job": "obs_health", "host": "obs"}
    assert int(stream["values"][0][0]) > 1.7e18


# --- Prometheus -------------------------------------------------------------------------------


def test_down_target_is_named_with_its_error():
    check = evaluate_targets("obs", TARGETS)
    assert check.status == FAIL
    assert check.detail == f"4 up, 1 down, 0 unknown; node/web1 down: {WEB1_DOWN_ERROR}"


def test_targets_not_scraped_yet_warn():
    fresh = {**TARGETS[0], "health": "unknown", "lastScrape": "0001-01-01T00:00:00Z"}
    check = evaluate_targets("obs", [fresh, *TARGETS[1:2]])
    assert (check.status, check.detail) == (
        WARN,
        "1 up, 0 down, 1 unknown; not scraped yet: alertmanager/obs",
    )


def test_no_targets_at_all_fails():
    assert evaluate_targets("obs", []).status == FAIL


def test_all_up_passes():
    up = [target for target in TARGETS if target["health"] == "up"]
    assert evaluate_targets("obs", up) == Result("obs", "targets", PASS, "4 up, 0 down, 0 unknown")


def test_watchdog_and_health_alerts_are_ignored_pending_ones_too():
    assert evaluate_alerts("obs", WATCHDOG_ONLY) == Result("obs", "alerts", PASS, "none firing")
    check = evaluate_alerts("obs", ALERTS)
    assert (check.status, check.detail) == (FAIL, "firing: InstanceDown (web1)")


def test_firing_alerts_are_listed_with_their_instances():
    second = {"labels": {"alertname": "InstanceDown", "instance": "app1"}, "state": "firing"}
    global_alert = {"labels": {"alertname": "PrometheusRuleFailures"}, "state": "firing"}
    check = evaluate_alerts("obs", [*ALERTS, second, global_alert])
    assert check.detail == "firing: InstanceDown (app1, web1); PrometheusRuleFailures"


def test_fresh_scrapes_are_not_stale():
    check = evaluate_stale("obs", TARGETS, TARGETS_NOW, stale_after_seconds=15)
    assert check == Result("obs", "stale", PASS, "every target scraped within 15s")


def test_old_scrapes_are_stale():
    # 20s on, nothing scraped since: web1 (scraped last) is 21.1s old, the others 22-25s.
    check = evaluate_stale("obs", TARGETS, TARGETS_NOW + 20, stale_after_seconds=21.5)
    assert check.status == FAIL
    assert "node/web1" not in check.detail
    assert "node/app1 last scraped 24s ago" in check.detail
    assert check.detail.count("last scraped") == 4


def test_never_scraped_targets_are_left_to_the_targets_check():
    fresh = {**TARGETS[0], "health": "unknown", "lastScrape": "0001-01-01T00:00:00Z"}
    assert evaluate_stale("obs", [fresh], TARGETS_NOW, stale_after_seconds=15).status == PASS


def test_stale_threshold_defaults_to_three_scrape_intervals():
    # scrape interval 5s: 15s; the oldest scrape (alertmanager/obs) is 5s old at TARGETS_NOW.
    def stale(now: float) -> Result:
        sections = parse_sections(obs_stdout(TARGETS, WATCHDOG_ONLY, now=now))
        return by_name(evaluate_prometheus(OBS, sections))["stale"]

    assert stale(TARGETS_NOW + 9).status == PASS  # oldest scrape 14s old
    assert stale(TARGETS_NOW + 11).status == FAIL  # 16s
    assert "alertmanager/obs" in stale(TARGETS_NOW + 11).detail


def test_prometheus_checks_from_a_captured_output():
    sections = parse_sections(obs_stdout(TARGETS, ALERTS))
    checks = by_name(evaluate_prometheus(OBS, sections, stale_after_seconds=15))
    assert {name: check.status for name, check in checks.items()} == {
        "targets": FAIL,
        "stale": PASS,
        "alerts": FAIL,
    }


def test_prometheus_not_answering_fails_each_of_its_checks():
    sections = {
        "prometheus:now": f"{TARGETS_NOW}",
        "prometheus:targets": "",
        "prometheus:alerts": "",
    }
    checks = evaluate_prometheus(OBS, sections)
    assert [(c.check, c.status) for c in checks] == [
        ("targets", FAIL),
        ("stale", FAIL),
        ("alerts", FAIL),
    ]
    assert checks[0].detail == "no answer from /api/v1/targets"


def test_monitored_hosts_get_no_prometheus_checks():
    assert evaluate_prometheus(WEB1, parse_sections(WEB1_STOPPED_STDOUT)) == []


# --- disk -------------------------------------------------------------------------------------


GB = 10**9


@pytest.mark.parametrize(
    ("free_percent", "status"),
    [(30.8, PASS), (15, PASS), (14.9, WARN), (5, WARN), (4.9, FAIL), (0, FAIL)],
)
def test_disk_thresholds(free_percent, status):
    size = 1000 * GB
    line = f"{size} {int(size * free_percent / 100)} /"
    assert disk_check("web1", "/", line).status == status


def test_disk_detail_names_the_filesystem():
    check = disk_check("web1", "/var/lib/node_exporter", "270553174016 83457245184 /")
    assert check == Result(
        "web1", "disk:/var/lib/node_exporter", PASS, "30.8% free (83.5 of 270.6 GB) on /"
    )


def test_missing_data_dirs_get_no_disk_check():
    sections = {"disk:/": "270553174016 83457245184 /", "disk:/var/lib/node_exporter": ""}
    assert [result.check for result in evaluate_disk(WEB1, sections)] == ["disk:/"]


# --- hosts ------------------------------------------------------------------------------------


def host_answer(host: HostInfo, result: RemoteResult) -> list[Result]:
    """The results of ``host``'s answer to its health script."""
    return host_results(host, result, partial(evaluate_host, host_probes=probes()), script_failure)


def test_unreachable_host_is_one_failure():
    result = RemoteResult(False, "", "could not connect", connected=False)  # captured
    assert host_answer(WEB1, result) == [
        Result("web1", "reachable", FAIL, "unreachable: could not connect")
    ]


def test_failed_script_is_one_failure():
    result = RemoteResult(False, "", "bash: line 3: syntax error\n")
    assert host_answer(WEB1, result) == [
        Result("web1", "script", FAIL, "health script failed: bash: line 3: syntax error")
    ]


def test_host_checks_from_a_captured_output():
    result = RemoteResult(True, WEB1_STOPPED_STDOUT, "")
    checks = host_answer(WEB1, result)
    assert [(c.check, c.status) for c in checks] == [
        ("unit:node_exporter.service", FAIL),
        ("ready:node_exporter", FAIL),
        ("disk:/", PASS),
        ("disk:/var/lib/node_exporter", PASS),
    ]


# --- report -----------------------------------------------------------------------------------


REPORT = Report(
    [
        Result("obs", "targets", FAIL, "4 up, 1 down, 0 unknown; node/web1 down: refused"),
        Result("web1", "unit:node_exporter.service", FAIL, "inactive"),
        Result("web1", "disk:/", WARN, "10.0% free (1.0 of 10.0 GB) on /"),
        Result("app1", "disk:/", PASS, "30.8% free (83.5 of 270.6 GB) on /"),
    ]
)


def test_report_summary_and_failures():
    text = format_report(REPORT)
    assert "1 pass, 1 warn, 2 fail" in text
    assert text.endswith(
        "failures:\n"
        "  obs targets: 4 up, 1 down, 0 unknown; node/web1 down: refused\n"
        "  web1 unit:node_exporter.service: inactive"
    )
    assert not REPORT.ok
    assert [r.check for r in REPORT.failing()] == ["targets", "unit:node_exporter.service"]


def test_report_json():
    data = json.loads(json.dumps(REPORT.to_json()))
    assert (data["ok"], data["counts"]) == (False, {"pass": 1, "warn": 1, "fail": 2})
    assert data["results"][1] == {
        "host": "web1",
        "check": "unit:node_exporter.service",
        "status": FAIL,
        "detail": "inactive",
        "hint": "",
        "items": [],
    }


def test_passing_report():
    report = Report([REPORT.results[-1]])
    assert report.ok
    assert format_report(report).endswith("1 pass, 0 warn, 0 fail")


# --- metrics ----------------------------------------------------------------------------------


WEB1_CHECKS = [result for result in REPORT.results if result.host == "web1"]


def test_metrics_text_has_names_and_outcomes_only():
    text = metrics_text(WEB1_CHECKS, run_time=1795743574.5)
    assert 'obs_health_check_success{check="unit:node_exporter.service"} 0\n' in text
    assert 'obs_health_check_success{check="disk:/"} 1\n' in text  # a warning is no failure
    assert "obs_health_checks_failed 1\n" in text
    assert "obs_health_last_run_timestamp_seconds 1795743574\n" in text
    assert "inactive" not in text and "free" not in text


def test_metrics_text_passes_promtool(tmp_path):
    from obslab.debian import extract_binaries

    promtool = extract_binaries("bookworm", progress=lambda _: None) / "promtool"
    checks = [*WEB1_CHECKS, Result("web1", 'odd "name"\\', FAIL, "")]
    result = subprocess.run(
        [str(promtool), "check", "metrics"],
        input=metrics_text(checks, run_time=1795743574.5),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_label_values_are_escaped():
    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_textfile_is_replaced_atomically_with_mode_0644(tmp_path):
    path = tmp_path / "obs_health.prom"
    path.write_text("old\n")
    subprocess.run(["bash"], input=replace_command(str(path), "new\n"), text=True, check=True)
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["obs_health.prom"]  # no temporary file left behind


def test_no_textfile_directory_writes_nothing(tmp_path):
    path = tmp_path / "missing" / "obs_health.prom"
    subprocess.run(["bash"], input=replace_command(str(path), "new\n"), text=True, check=True)
    assert not path.parent.exists()


# --- the /dev/tcp HTTP client -----------------------------------------------------------------


class ReadyHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/-/ready" else 404)
        self.end_headers()
        self.wfile.write(b'{"data": {"path": "%s"}}' % self.path.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def local_daemon() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), ReadyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def http_get(port: int, path: str) -> str:
    script = f"{HTTP_GET_FUNCTION}http_get 127.0.0.1 {port} '{path}'\n"
    return subprocess.run(["bash"], input=script, capture_output=True, text=True).stdout


def test_http_get_reads_a_local_daemon(local_daemon):
    answer = http_get(local_daemon, "/-/ready")
    assert http_status(answer) == 200
    assert api_data(answer) == {"path": "/-/ready"}
    assert http_status(http_get(local_daemon, "/missing")) == 404


def test_http_get_prints_nothing_without_a_daemon():
    closed = HTTPServer(("127.0.0.1", 0), ReadyHandler)
    port = closed.server_address[1]
    closed.server_close()  # the port is now (almost certainly) free
    assert http_get(port, "/-/ready") == ""


def test_only_critical_alerts_fail_health_warnings_warn():
    warning = {"labels": {"alertname": "NodeHighLoad", "instance": "web1", "severity": "warning"},
               "state": "firing"}
    check = evaluate_alerts("obs", [warning])
    assert (check.status, check.detail) == (WARN, "firing: NodeHighLoad (web1)")


# --- TLS --------------------------------------------------------------------------------------

# `openssl x509 -noout -subject -issuer -enddate -dateopt iso_8601` on obs (OpenSSL 3.5) of
# the stand-in certificate, and of the certificate certbot got from pebble, as captured.
STAND_IN = "subject=CN=obs.lab.test\nissuer=CN=obs.lab.test\nnotAfter=2026-12-27 03:12:40Z"
FROM_ACME = (
    "subject=CN=obs.lab.test\nissuer=CN=Pebble Intermediate CA 277cc8\n"
    "notAfter=2031-11-27 03:13:10Z"
)
NOW = 1795749211  # when it was captured: 2026-11-27 03:13:31 UTC


def tls_check(certificate: str, now: float = NOW) -> Result:
    sections = {"tls:now": str(now), "tls:certificate": certificate}
    [check] = evaluate_tls(OBS, sections)
    return check


def test_certificate_from_the_ca_passes_with_days_left():
    check = tls_check(FROM_ACME)
    assert check.status == PASS
    assert check.detail == "1826 days left, issuer CN=Pebble Intermediate CA 277cc8"


def test_certificate_close_to_expiry_warns_then_fails():
    # 1825.99 days left at NOW.
    assert tls_check(FROM_ACME, now=NOW + 1804 * 86400).status == PASS  # 21.99 left
    assert tls_check(FROM_ACME, now=NOW + 1805 * 86400).status == WARN  # 20.99 left
    assert tls_check(FROM_ACME, now=NOW + 1818 * 86400).status == WARN  # 7.99 left
    assert tls_check(FROM_ACME, now=NOW + 1819 * 86400).status == FAIL  # 6.99 left


def test_the_stand_in_certificate_fails_saying_certbot_has_not_delivered():
    check = tls_check(STAND_IN)
    assert check.status == FAIL
    assert "self-signed stand-in certificate: certbot has not obtained" in check.detail


def test_nothing_served_on_443_fails():
    assert tls_check("").detail == "no certificate served on 127.0.0.1:443"


def test_monitored_hosts_get_no_tls_check():
    assert tls_commands(WEB1) == {}
    assert evaluate_tls(WEB1, {}) == []


# --- the components a host runs, from the catalog ----------------------------------------------


def test_blackbox_exporter_is_checked_where_it_probes():
    server = HostInfo(
        "obs",
        OBS.groups,
        {**OBS.data, "blackbox_targets": ["https://x.test/"], "blackbox_exporter_port": 9115},
    )
    commands = service_commands(server)
    assert commands["unit:blackbox_exporter.service"] == (
        "systemctl is-active blackbox_exporter.service"
    )
    assert commands["ready:blackbox_exporter"] == (
        "http_get 127.0.0.1 9115 /-/healthy | head -n 1"
    )
    sections = {
        "unit:blackbox_exporter.service": "active",
        "ready:blackbox_exporter": "HTTP/1.0 200 OK",
    }
    checks = by_name(evaluate_services(server, sections))
    assert checks["unit:blackbox_exporter.service"].status == PASS
    assert checks["ready:blackbox_exporter"] == Result(
        "obs", "ready:blackbox_exporter", PASS, "127.0.0.1:9115/-/healthy answered 200"
    )
    assert "unit:blackbox_exporter.service" not in service_commands(OBS)


def test_an_auto_host_is_checked_for_the_agents_detection_finds():
    commands = service_commands(WEB1)
    assert "@detected" in commands["agents"]
    assert {"ready:nginx_exporter", "ready:mysqld_exporter"} <= set(commands)
    sections = {
        "agents": "@agent nginx\n@agent fail2ban\n@detected",
        "unit:nginx_exporter.service": "inactive",
        "ready:nginx_exporter": "",
    }
    checks = by_name(evaluate_services(WEB1, sections))
    assert checks["unit:nginx_exporter.service"] == Result(
        "web1", "unit:nginx_exporter.service", FAIL, "inactive"
    )
    assert checks["ready:nginx_exporter"].detail == "no answer from 10.99.0.11:9113/metrics"
    assert "unit:mysqld_exporter.service" not in checks
    # Detection cut short: no agent is judged.
    cut = by_name(evaluate_services(WEB1, {"agents": "@agent nginx"}))
    assert set(cut) == {"unit:node_exporter.service", "ready:node_exporter"}


def test_listed_agents_are_checked_without_detection():
    app1 = HostInfo("app1", WEB1.groups, {**WEB1.data, "agents": ["mysql"]})
    commands = service_commands(app1)
    assert "agents" not in commands and "ready:nginx_exporter" not in commands
    assert commands["ready:mysqld_exporter"] == "http_get 10.99.0.11 9104 /metrics | head -n 1"
    sections = {
        "unit:mysqld_exporter.service": "active",
        "ready:mysqld_exporter": "HTTP/1.0 200 OK",
    }
    assert by_name(evaluate_services(app1, sections))["ready:mysqld_exporter"].status == PASS
