"""Is the deployed stack healthy right now? (``invoke health -i INVENTORY``)

One bash script per host, all hosts in parallel, gathers everything: the state of each unit
the host runs (its catalog entries: by role, and the agents listed or, on an "auto" host,
detected), each daemon's health endpoint (HTTP to the address it listens on, through bash's
/dev/tcp: hosts have no curl), free disk space, and on the Prometheus server its targets
and alerts. The script prints one section per item (obsstack.checks); Python parses the
sections and judges them, so every judgement is a pure function of text captured from a
host.

What is checked comes from probes: a probe names the commands that gather its sections and
the function that turns them into checks. On the observability server, the TLS probe reads
the certificate nginx serves: days left, and whether certbot has replaced the stand-in.

A failing check names what fails and which host that is about (a target of web1 fails a
check of the observability server): the deploy's health gate tells failures it caused from
those that were there before (obsstack.pipeline).

Each host's results are also written to node_exporter's textfile directory
(``obs_health_check_success{check="..."}``), so Prometheus alerts on failing or stale checks
(templates/prometheus/rules/health.rules.yml.j2).

Example::

    from obsstack.checks import format_report
    from obsstack.health import run_health
    report = run_health("inventories/lab.py")
    print(format_report(report))     # a table, then "21 pass, 0 warn, 0 fail"
    report.ok                        # False when any check FAILs
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from obsstack.addresses import LOOPBACK, host_port, listen_address
from obsstack.agents import DETECTION_SECTION, agents_of, parse_agents
from obsstack.catalog import DETECTABLE_AGENTS, running, runs_on
from obsstack.catalog.host import TEXTFILE_DIR
from obsstack.catalog.schema import Component
from obsstack.catalog.server import LOKI, PROMETHEUS
from obsstack.checks import (
    FAIL,
    PASS,
    WARN,
    Report,
    Result,
    Sections,
    run_checks,
    section_script,
)
from obsstack.fields import instance_label
from obsstack.session import HostInfo, RemoteResult, hosts_named, run_scripts
from obsstack.settings import parse_duration
from obsstack.textfile import replace_command
from obsstack.textparse import parse_key_values
from obsstack.worker import in_worker

DISK_FREE_WARN_PERCENT = 15
DISK_FREE_FAIL_PERCENT = 5
# A target not scraped for this many scrape intervals is stale (unless told otherwise).
STALE_SCRAPE_INTERVALS = 3
# Watchdog fires all the time by design. The health alerts restate this report's own results:
# counting them would keep a failure alive after its cause is gone, because the alert raised by
# the previous run's failure would fail the next run.
IGNORED_ALERTS = frozenset({"Watchdog", "ObsHealthCheckFailing", "ObsHealthCheckStale"})
METRICS_FILE = f"{TEXTFILE_DIR}/obs_health.prom"
HTTP_TIMEOUT_SECONDS = 5
# Certbot renews 30 days before expiry: under 21 days left, renewals have been failing.
TLS_WARN_DAYS = 21
TLS_FAIL_DAYS = 7
SCRIPT_TIMEOUT_SECONDS = 30
UNREACHABLE_CHECK = "reachable"

# GET from a daemon on this host (ADDRESS PORT PATH); prints the raw answer, nothing when
# it refuses or hangs.
HTTP_GET_FUNCTION = (
    "http_get() {\n"
    '  ( exec 3<>"/dev/tcp/$1/$2" &&\n'
    "    printf 'GET %s HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' \"$3\" >&3 &&\n"
    f"    timeout {HTTP_TIMEOUT_SECONDS} cat <&3 ) 2>/dev/null\n"
    "}\n"
)
# POST a JSON body (ADDRESS PORT PATH BODY, the body ASCII) the same way.
HTTP_POST_FUNCTION = (
    "http_post() {\n"
    '  ( exec 3<>"/dev/tcp/$1/$2" &&\n'
    "    printf 'POST %s HTTP/1.0\\r\\nHost: localhost\\r\\nContent-Type: application/json"
    "\\r\\nContent-Length: %s\\r\\n\\r\\n%s' \"$3\" \"${#4}\" \"$4\" >&3 &&\n"
    f"    timeout {HTTP_TIMEOUT_SECONDS} cat <&3 ) 2>/dev/null\n"
    "}\n"
)
# The stream Loki's ingestion check pushes one line to, each health run.
LOKI_HEALTH_JOB = "obs_health"


@dataclass(frozen=True)
class Probe:
    """One aspect of host health: the commands that gather its sections, and their judge."""

    commands: Callable[[HostInfo], dict[str, str]]  # section name -> bash command
    evaluate: Callable[[HostInfo, Sections], list[Result]]


@in_worker
def run_health(
    inventory: str,
    stale_after_seconds: float | None = None,
    write_metrics: bool = True,
    hosts: Iterable[str] | None = None,
    described: list[HostInfo] | None = None,
) -> Report:
    """Check every host of ``inventory`` (or those named in ``hosts``); with
    ``write_metrics``, expose the results on each. ``described``: the inventory's hosts,
    when the caller has them already."""
    hosts = hosts_named(inventory, hosts, described)
    host_probes = probes(stale_after_seconds)
    results = run_checks(
        inventory,
        hosts,
        script=partial(host_script, host_probes=host_probes),
        judge=partial(evaluate_host, host_probes=host_probes),
        script_failure=script_failure,
        timeout=SCRIPT_TIMEOUT_SECONDS,
    )
    if write_metrics:
        # A host whose script failed gets its metrics too: that failure is one of its checks.
        unreachable = {result.host for result in results if result.check == UNREACHABLE_CHECK}
        reachable = [host.name for host in hosts if host.name not in unreachable]
        results += write_health_metrics(inventory, reachable, results, time.time())
    return Report(results)


def probes(stale_after_seconds: float | None = None) -> list[Probe]:
    return [
        Probe(service_commands, evaluate_services),
        Probe(
            prometheus_commands,
            partial(evaluate_prometheus, stale_after_seconds=stale_after_seconds),
        ),
        Probe(loki_commands, evaluate_loki),
        Probe(disk_commands, evaluate_disk),
        Probe(tls_commands, evaluate_tls),
    ]


# --- the script and its sections -------------------------------------------------------------


def host_script(host: HostInfo, host_probes: Iterable[Probe]) -> str:
    """The bash script that prints every section the probes need for ``host``."""
    commands = {
        section: command
        for probe in host_probes
        for section, command in probe.commands(host).items()
    }
    return section_script(commands, prelude=HTTP_GET_FUNCTION + HTTP_POST_FUNCTION)


def http_status(answer: str) -> int | None:
    """The status code of a raw HTTP answer; None when there was no answer."""
    words = answer.split(None, 2)
    return int(words[1]) if len(words) >= 2 and words[1].isdigit() else None


def api_data(answer: str) -> Any:
    """The ``data`` of a Prometheus API answer; None unless it answered 200 with JSON."""
    if http_status(answer) != 200:
        return None
    body = re.split(r"\r?\n\r?\n", answer, maxsplit=1)[-1]
    try:
        return json.loads(body)["data"]
    except (ValueError, KeyError):
        return None


def evaluate_host(
    host: HostInfo, sections: Sections, host_probes: Iterable[Probe]
) -> list[Result]:
    """Every probe's results of the sections ``host`` printed."""
    return [result for probe in host_probes for result in probe.evaluate(host, sections)]


def script_failure(host: str, answer: RemoteResult) -> Result:
    """The one result of a host that cannot be reached, or whose script failed."""
    if not answer.connected:
        return Result(host, UNREACHABLE_CHECK, FAIL, f"unreachable: {answer.stderr.strip()}")
    return Result(host, "script", FAIL, f"health script failed: {answer.stderr.strip()}")


# --- services: units and health endpoints -----------------------------------------------------


def detects_agents(host: HostInfo) -> bool:
    """Whether the host's agents are detected on it (``agents = "auto"``)."""
    return "monitored" in host.groups and not isinstance(host.data.get("agents"), list)


def checked_components(host: HostInfo, agents: list[str]) -> list[Component]:
    """The components of ``host`` (running ``agents``) whose health is checked."""
    return [component for component in running(host.groups, host.data, agents) if component.health]


def ready_path(component: Component) -> str:
    """The path below which ``component`` answers 200 when it is healthy."""
    assert component.health is not None
    return component.route_prefix + component.health.ready_path


def service_commands(host: HostInfo) -> dict[str, str]:
    """The unit and endpoint of each component the host may run: on an "auto" host, every
    agent's detection can find too, and detection, which tells the judge which it runs."""
    commands = {"agents": DETECTION_SECTION} if detects_agents(host) else {}
    # Its daemons listen on the host's one listen address (loopback on the server).
    address = listen_address(host.name, host.groups, host.data)
    for component in checked_components(host, agents_of(host, list(DETECTABLE_AGENTS))):
        assert component.unit and component.listen
        unit, port = component.unit.name, component.listen.number(host.data)
        commands[f"unit:{unit}"] = f"systemctl is-active {unit}"
        # The status line is enough: /metrics bodies are large.
        commands[f"ready:{component.name}"] = (
            f"http_get {address} {port} {ready_path(component)} | head -n 1"
        )
    return commands


def evaluate_services(host: HostInfo, sections: Sections) -> list[Result]:
    checks = []
    agents = agents_of(host, parse_agents(sections.get("agents", "")))
    for component in checked_components(host, agents):
        assert component.unit and component.listen
        unit = component.unit.name
        state = sections.get(f"unit:{unit}") or "unknown"
        checks.append(Result(host.name, f"unit:{unit}", PASS if state == "active" else FAIL, state))
        address = host_port(
            listen_address(host.name, host.groups, host.data), component.listen.number(host.data)
        )
        url = f"{address}{ready_path(component)}"
        status = http_status(sections.get(f"ready:{component.name}", ""))
        checks.append(
            Result(
                host.name,
                f"ready:{component.name}",
                PASS if status == 200 else FAIL,
                f"{url} answered {status}" if status else f"no answer from {url}",
            )
        )
    return checks


# --- Loki: does it take a line? ---------------------------------------------------------------


def loki_commands(host: HostInfo) -> dict[str, str]:
    """Push one line to the host's Loki on loopback, stamped with the host's own clock."""
    if not runs_on(LOKI, host.groups):
        return {}
    assert LOKI.listen is not None
    labels = json.dumps({"job": LOKI_HEALTH_JOB, "host": instance_label(host.name)})
    before = f'{{"streams":[{{"stream":{labels},"values":[["'
    after = '","health check: Loki takes this line"]]}]}'
    body = f'{shlex.quote(before)}"$(date +%s%N)"{shlex.quote(after)}'
    port = LOKI.listen.number(host.data)
    return {"loki:push": f"http_post {LOOPBACK} {port} /loki/api/v1/push {body} | head -n 1"}


def evaluate_loki(host: HostInfo, sections: Sections) -> list[Result]:
    if not runs_on(LOKI, host.groups):
        return []
    status = http_status(sections.get("loki:push", ""))
    detail = f"a pushed line was answered {status}" if status else "no answer to a push"
    return [Result(host.name, "ingest:loki", PASS if status == 204 else FAIL, detail)]


# --- Prometheus: targets, firing alerts, stale scrapes -----------------------------------------


def runs_prometheus(host: HostInfo) -> bool:
    return runs_on(PROMETHEUS, host.groups)


def prometheus_commands(host: HostInfo) -> dict[str, str]:
    if not runs_prometheus(host):
        return {}
    assert PROMETHEUS.listen is not None
    port = PROMETHEUS.listen.number(host.data)
    api = f"{PROMETHEUS.route_prefix}/api/v1"
    return {
        # The host's own clock: scrape ages are then immune to the controller's clock skew.
        "prometheus:now": "date +%s.%N",
        "prometheus:targets": f"http_get {LOOPBACK} {port} '{api}/targets?state=active'",
        "prometheus:alerts": f"http_get {LOOPBACK} {port} {api}/alerts",
    }


def evaluate_prometheus(
    host: HostInfo, sections: Sections, stale_after_seconds: float | None = None
) -> list[Result]:
    if not runs_prometheus(host):
        return []
    if stale_after_seconds is None:
        interval = parse_duration(host.data["prometheus_scrape_interval"])
        stale_after_seconds = STALE_SCRAPE_INTERVALS * interval
    targets = api_data(sections.get("prometheus:targets", ""))
    alerts = api_data(sections.get("prometheus:alerts", ""))
    if targets is None:
        checks = [
            Result(host.name, name, FAIL, "no answer from /api/v1/targets")
            for name in ("targets", "stale")
        ]
    else:
        now = float(sections["prometheus:now"])
        checks = [
            evaluate_targets(host.name, targets["activeTargets"]),
            evaluate_stale(host.name, targets["activeTargets"], now, stale_after_seconds),
        ]
    if alerts is None:
        checks.append(Result(host.name, "alerts", FAIL, "no answer from /api/v1/alerts"))
    else:
        checks.append(evaluate_alerts(host.name, alerts["alerts"]))
    return checks


def target_name(target: dict[str, Any]) -> str:
    return f"{target['labels'].get('job')}/{target['labels'].get('instance')}"


def evaluate_targets(host: str, targets: list[dict[str, Any]]) -> Result:
    """FAIL naming each down target; WARN while some are not scraped yet."""
    if not targets:
        return Result(host, "targets", FAIL, "Prometheus has no active targets")
    health = Counter(target["health"] for target in targets)
    summary = f"{health['up']} up, {health['down']} down, {health['unknown']} unknown"
    down = [t for t in targets if t["health"] == "down"]
    if down:
        names = "; ".join(f"{target_name(t)} down: {t['lastError']}" for t in down)
        items = tuple(
            (t["labels"].get("instance", ""), f"target {target_name(t)} down") for t in down
        )
        return Result(host, "targets", FAIL, f"{summary}; {names}", items=items)
    unknown = [target_name(t) for t in targets if t["health"] == "unknown"]
    if unknown:
        return Result(host, "targets", WARN, f"{summary}; not scraped yet: {', '.join(unknown)}")
    return Result(host, "targets", PASS, summary)


def scrape_time(target: dict[str, Any]) -> float | None:
    """Unix time of the target's last scrape; None if never scraped (Go's zero time)."""
    last = datetime.fromisoformat(target["lastScrape"])
    return None if last.year == 1 else last.timestamp()


def evaluate_stale(
    host: str, targets: list[dict[str, Any]], now: float, stale_after_seconds: float
) -> Result:
    """FAIL naming each target whose last scrape is older than ``stale_after_seconds``.

    Targets never scraped are the targets check's business (health "unknown").
    """
    stale, items = [], []
    for target in targets:
        scraped = scrape_time(target)
        if scraped is not None and now - scraped > stale_after_seconds:
            stale.append(f"{target_name(target)} last scraped {now - scraped:.0f}s ago")
            items.append(
                (target["labels"].get("instance", ""), f"target {target_name(target)} stale")
            )
    if stale:
        return Result(host, "stale", FAIL, "; ".join(stale), items=tuple(items))
    return Result(host, "stale", PASS, f"every target scraped within {stale_after_seconds:g}s")


def evaluate_alerts(host: str, alerts: list[dict[str, Any]]) -> Result:
    """Firing alerts other than IGNORED_ALERTS, with their instances: FAIL when one is
    critical, WARN otherwise (a warning such as high load must not fail a deploy's gate)."""
    firing: dict[str, list[str]] = {}
    critical = []
    for alert in alerts:
        name = alert["labels"].get("alertname", "?")
        if alert["state"] == "firing" and name not in IGNORED_ALERTS:
            instance = alert["labels"].get("instance")
            instances = firing.setdefault(name, [])
            if instance:
                instances.append(instance)
            if alert["labels"].get("severity") == "critical":
                critical.append((instance or host, f"alert {name} ({instance or 'no instance'})"))
    if not firing:
        return Result(host, "alerts", PASS, "none firing")
    listed = [
        f"{name} ({', '.join(sorted(instances))})" if instances else name
        for name, instances in sorted(firing.items())
    ]
    detail = "firing: " + "; ".join(listed)
    if critical:
        return Result(host, "alerts", FAIL, detail, items=tuple(sorted(set(critical))))
    return Result(host, "alerts", WARN, detail)


# --- TLS: the certificate nginx serves --------------------------------------------------------


def tls_commands(host: HostInfo) -> dict[str, str]:
    if "observability" not in host.groups:
        return {}
    domain = shlex.quote(host.data["domain"])
    return {
        "tls:now": "date +%s",
        "tls:certificate": (
            f"timeout {HTTP_TIMEOUT_SECONDS} openssl s_client -connect 127.0.0.1:443"
            f" -servername {domain} </dev/null 2>/dev/null"
            " | openssl x509 -noout -subject -issuer -enddate -dateopt iso_8601 2>/dev/null"
        ),
    }


def evaluate_tls(host: HostInfo, sections: Sections) -> list[Result]:
    if "observability" not in host.groups:
        return []
    fields = parse_key_values(sections.get("tls:certificate", ""))
    if "notAfter" not in fields:
        return [Result(host.name, "tls", FAIL, "no certificate served on 127.0.0.1:443")]
    days_left = (iso_timestamp(fields["notAfter"]) - float(sections["tls:now"])) / 86400
    detail = f"{days_left:.0f} days left, issuer {fields.get('issuer', '?')}"
    if fields.get("issuer") == fields.get("subject"):
        status, detail = FAIL, (
            "self-signed stand-in certificate: certbot has not obtained the real one "
            "(see the deploy output or journalctl -u certbot)"
        )
    elif days_left < TLS_FAIL_DAYS:
        status = FAIL
    elif days_left < TLS_WARN_DAYS:
        status = WARN
    else:
        status = PASS
    return [Result(host.name, "tls", status, detail)]


def iso_timestamp(text: str) -> float:
    """Seconds since the epoch of openssl's ``2026-12-31 23:59:59Z``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- disk space --------------------------------------------------------------------------------


def disk_paths(host: HostInfo) -> list[str]:
    """/ and the homes that hold data (node_exporter's: its textfile directory)."""
    return [
        "/",
        *(
            component.account.home
            for component in running(host.groups, host.data, agents=[])
            if component.account and component.health and component.health.disk
        ),
    ]


def disk_commands(host: HostInfo) -> dict[str, str]:
    # A data directory that does not exist prints nothing and gets no check.
    return {
        f"disk:{path}": f"[ -d {path} ] && df -B1 --output=size,avail,target {path} | tail -n +2"
        for path in disk_paths(host)
    }


def evaluate_disk(host: HostInfo, sections: Sections) -> list[Result]:
    return [
        disk_check(host.name, path, sections[f"disk:{path}"])
        for path in disk_paths(host)
        if sections.get(f"disk:{path}")
    ]


def disk_check(host: str, path: str, df_line: str) -> Result:
    """Judge ``df -B1 --output=size,avail,target`` for ``path``: WARN/FAIL below the limits."""
    size, avail, mount = df_line.split(None, 2)
    free_percent = int(avail) / int(size) * 100 if int(size) else 0.0
    if free_percent < DISK_FREE_FAIL_PERCENT:
        status = FAIL
    elif free_percent < DISK_FREE_WARN_PERCENT:
        status = WARN
    else:
        status = PASS
    detail = (
        f"{free_percent:.1f}% free ({int(avail) / 1e9:.1f} of {int(size) / 1e9:.1f} GB) on {mount}"
    )
    return Result(host, f"disk:{path}", status, detail)


# --- results as metrics ------------------------------------------------------------------------


def metrics_text(results: Iterable[Result], run_time: float) -> str:
    """A host's textfile: one success gauge per check, the failure count and the run time.

    Only check names and outcomes: details (a target's lastError, say) stay out of it.
    """
    results = list(results)
    lines = [
        "# HELP obs_health_check_success 1 if the health check passed on its last run.",
        "# TYPE obs_health_check_success gauge",
        *(
            f'obs_health_check_success{{check="{label_value(r.check)}"}} {int(r.status != FAIL)}'
            for r in results
        ),
        "# HELP obs_health_checks_failed Health checks that failed on the last run.",
        "# TYPE obs_health_checks_failed gauge",
        f"obs_health_checks_failed {sum(r.status == FAIL for r in results)}",
        "# HELP obs_health_last_run_timestamp_seconds Unix time of the last health run.",
        "# TYPE obs_health_last_run_timestamp_seconds gauge",
        f"obs_health_last_run_timestamp_seconds {run_time:.0f}",
    ]
    return "\n".join(lines) + "\n"


def label_value(text: str) -> str:
    """``text`` escaped for a label value in the Prometheus text format."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_health_metrics(
    inventory: str, hosts: list[str], results: list[Result], run_time: float
) -> list[Result]:
    """Write each host's textfile; a WARN result for each host where that failed."""
    scripts = {
        host: replace_command(
            METRICS_FILE, metrics_text((r for r in results if r.host == host), run_time)
        )
        for host in hosts
    }
    answers = run_scripts(inventory, scripts, timeout=SCRIPT_TIMEOUT_SECONDS)
    return [
        Result(host, "metrics", WARN, f"could not write {METRICS_FILE}: {answer.stderr.strip()}")
        for host, answer in answers.items()
        if not answer.ok
    ]
