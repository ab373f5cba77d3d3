"""Logs on the lab's real Loki (a build of Loki 3.4.6 from Grafana's source, obslab/grafana.py):
its config checked by Loki itself, pushes from a monitored host through the proxy with that
host's own password, queries with their labels, log alerts into Alertmanager and the mail
relay, retention that deletes, and a rollback that restores Loki's config.

Grafana Alloy cannot be obtained on these machines, so the lab's hosts run without it
(``alloy_enabled`` is off in obslab/settings.py): every line here is pushed by the test
itself, from web1, with curl, exactly where Alloy would push. What Alloy itself reads and
sends is never run here; tests/unit/test_alloy_config.py checks the config we write for it.
"""

from __future__ import annotations

import secrets as token_source
import time

import pytest
import requests
from conftest import (
    LAB_INVENTORY,
    OBS_NAME,
    address,
    assert_unchanged,
    deploy,
    host_state,
    on_host,
    pebble_root_file,
    server_get,
    tcp_connects,
)
from loki_push import PUSH_URL, push_from_web1, push_password, stream
from waiting import wait_until

from obslab import services
from obsstack import secrets
from obsstack.checks import PASS
from obsstack.deploy import ROLLBACK, run_deploy
from obsstack.health import run_health
from obsstack.history import list_releases
from obsstack.logs import query_logs

pytestmark = pytest.mark.lab

PUSHER = "web1"
DAY_NS = 86400 * 10**9
def query_range(selector: str, start_ns: int, auth=None) -> requests.Response:
    kwargs = {} if auth is None else {"auth": auth}
    return server_get(
        "/loki/api/v1/query_range",
        params={"query": selector, "start": str(start_ns), "end": str(time.time_ns()),
                "limit": 1000},
        **kwargs,
    )


def lines_of(selector: str, start_ns: int) -> list[tuple[dict, str]]:
    answer = query_range(selector, start_ns)
    assert answer.status_code == 200, answer.text
    return [
        (result["stream"], line)
        for result in answer.json()["data"]["result"]
        for _, line in result["values"]
    ]


def run_id() -> str:
    return token_source.token_hex(4)


def test_loki_listens_on_loopback_with_a_config_loki_verifies(deployed, hosts):
    obs = hosts[OBS_NAME]
    check = obs.run("/usr/local/bin/loki -verify-config -config.file=/etc/loki/config.yml")
    assert check.rc == 0 and "config is valid" in check.stdout + check.stderr, check.stderr
    listening = obs.check_output("ss -Hltn")
    assert "127.0.0.1:3100 " in listening and "127.0.0.1:9096 " in listening
    assert "0.0.0.0:3100 " not in listening and "*:3100 " not in listening
    assert obs.user("loki").exists and obs.service("loki.service").is_running
    config = obs.file("/etc/loki/config.yml")
    assert (config.user, config.group, config.mode) == ("root", "loki", 0o640)
    # Only through the proxy: outsider gets no answer from Loki's port, and does from 443.
    assert not tcp_connects("outsider", address(OBS_NAME), 3100)
    assert tcp_connects("outsider", address(OBS_NAME), 443)


def test_a_line_pushed_from_a_host_is_queryable_with_its_labels(deployed):
    marker = f"hello from web1 {run_id()}"
    started = time.time_ns()
    labels = {"host": PUSHER, "job": "lab_test", "env": "lab", "role": "monitored"}
    assert push_from_web1([stream(labels, [marker])]) == 204

    found = wait_until(
        lambda: [s for s, line in lines_of('{job="lab_test"}', started) if line == marker],
        timeout=30,
        what="the pushed line in Loki",
    )
    assert {key: found[0][key] for key in labels} == labels
    # invoke logs asks the same way, as the inventory's proxy user with the loki permission.
    read = query_logs(LAB_INVENTORY, f'{{job="lab_test"}} |= "{marker}"', since="10m")
    assert [(line.labels["host"], line.text) for line in read] == [(PUSHER, marker)]


def test_health_checks_lokis_unit_readiness_and_ingestion(deployed):
    report = run_health(LAB_INVENTORY, write_metrics=False, hosts=[OBS_NAME])
    checks = {result.check: result for result in report.results}
    for name in ("unit:loki.service", "ready:loki", "ingest:loki"):
        assert checks[name].status == PASS, checks[name]


def test_pushes_need_the_hosts_own_password_and_only_push(deployed):
    labels = {"host": PUSHER, "job": "lab_test"}
    line = [stream(labels, ["refused"])]
    assert push_from_web1(line, password="wrong") == 401
    assert push_from_web1(line, password="") == 401
    # app1's password is app1's: it does not push as web1.
    assert push_from_web1(line, password=push_password("app1")) == 401
    assert push_from_web1(line, user="app1") == 204
    # A push password does not read; a proxy user without the loki permission does not
    # read either; one with it does, and does not push.
    since = time.time_ns() - 60 * 10**9
    assert query_range('{job="lab_test"}', since, auth=(PUSHER, push_password())).status_code == 401
    viewer = ("viewer", secrets.read("proxy_password_viewer", services.SECRETS_DIR))
    assert query_range('{job="lab_test"}', since, auth=viewer).status_code == 401
    assert query_range('{job="lab_test"}', since).status_code == 200
    admin_push = requests.post(
        PUSH_URL, json={"streams": line}, verify=pebble_root_file(), timeout=10,
        auth=("admin", secrets.read("proxy_password_admin", services.SECRETS_DIR)),
    )
    assert admin_push.status_code == 401
    # Deleting logs is not something the proxy lets anyone do.
    assert server_get("/loki/api/v1/delete").status_code == 403


ALERT_LINES = {
    "NginxServerErrorBurst": (
        {"job": "nginx_access"},
        [
            f'203.0.113.{i} - - [02/Dec/2026:10:00:00 +0000] "GET /shop HTTP/1.1" 502 157 "-" '
            '"curl/8.14"'
            for i in range(25)
        ],
    ),
    "SshAuthenticationFailures": (
        {"job": "journal", "unit": "ssh.service"},
        [f"Failed password for root from 198.51.100.{i} port 4242 ssh2" for i in range(11)],
    ),
    "KernelOomKill": (
        {"job": "journal"},
        ["Out of memory: Killed process 4242 (mariadbd) total-vm:2000000kB"],
    ),
    "MysqlErrorsLogged": (
        {"job": "journal", "unit": "mariadb.service"},
        ["2026-12-02 10:00:00 0 [ERROR] mariadbd: Table './shop/orders' is marked as crashed"],
    ),
    "PhpFatalErrors": (
        {"job": "php_fpm"},
        ["[02-Dec-2026 10:00:00] WARNING: [pool www] child 42 said into stderr: "
         '"PHP Fatal error:  Uncaught Error: Call to undefined function shop() in /srv/a.php"'],
    ),
}


def alertmanager_alerts(alertname: str, instance: str) -> list[dict]:
    answer = server_get(
        "/alertmanager/api/v2/alerts",
        params={"filter": [f'alertname="{alertname}"', f'instance="{instance}"']},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_log_alert_fires_into_alertmanager_and_one_is_mailed(deployed, mail):
    # A host name of its own: alerts of an earlier run (their lines are still in the
    # window) cannot answer for this one.
    instance = f"logtest-{run_id()}"
    started = time.time_ns()
    streams = [
        stream({**labels, "host": instance, "env": "lab"}, lines)
        for labels, lines in ALERT_LINES.values()
    ]
    assert push_from_web1(streams) == 204

    for alertname in ALERT_LINES:
        alerts = wait_until(
            lambda name=alertname: alertmanager_alerts(name, instance),
            timeout=90,
            what=f"{alertname} for {instance} in Alertmanager",
        )
        assert alerts[0]["labels"]["env"] == "lab", alerts[0]["labels"]
        assert alerts[0]["labels"]["severity"] in ("warning", "critical")
    message = mail.wait_for(
        lambda m: "NginxServerErrorBurst" in m["Subject"] and instance in m["Subject"],
        timeout=120,
        since_ns=started,
    )
    assert message is not None, [m["Subject"] for m in mail.messages()]


def loki_on_obs(path: str, method: str = "GET") -> str:
    """Loki's answer to ``path`` on its loopback port (what the proxy never serves)."""
    result = on_host(OBS_NAME, f"curl -sS -f -X {method} http://127.0.0.1:3100{path}")
    if result.returncode != 0:
        raise AssertionError(f"{path}: {result.stderr}")
    return result.stdout


# Chunk files the retention sweeper deleted (the count of its timings, status="success").
SWEPT = "loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_count{"


def restart_loki(hosts) -> None:
    hosts[OBS_NAME].check_output("systemctl restart loki.service")
    wait_until(lambda: "ready" in loki_on_obs("/ready"), timeout=60, what="Loki ready again")


def test_retention_deletes_old_lines_once_the_compactor_runs(deployed, hosts):
    """The lab keeps streams labelled retention="short" for 24h (obslab/settings.py) and the
    rest for loki_retention_period (30d). Lines of two days ago go into both.

    Their index reaches storage once flushed and shipped: Loki ships it at start, otherwise
    within 15 minutes. Then the compactor marks the short ones' chunks and deletes their files
    (the lab's loki_retention_delete_delay is 1s; 2h by default), and keeps the others.
    Loki's queriers refresh their copy of the index every 5 minutes, so each check after a
    deletion restarts Loki to ask a fresh one."""
    tag = run_id()
    two_days_ago = time.time_ns() - 2 * DAY_NS
    short = {"job": "lab_test", "retention": "short", "run": tag}
    kept = {"job": "lab_test", "retention": "kept", "run": tag}
    assert push_from_web1(
        [stream(short, [f"short {tag}"], two_days_ago), stream(kept, [f"kept {tag}"], two_days_ago)]
    ) == 204
    loki_on_obs("/flush", method="POST")
    restart_loki(hosts)
    since = two_days_ago - DAY_NS
    assert lines_of(f'{{run="{tag}", retention="short"}}', since), "stored before retention"

    def deleted() -> bool:
        swept = sum(
            float(line.split()[-1])
            for line in loki_on_obs("/metrics").splitlines()
            if line.startswith(SWEPT) and 'status="success"' in line
        )
        if swept < 1:
            return False
        restart_loki(hosts)  # the counters start again from 0
        return not lines_of(f'{{run="{tag}", retention="short"}}', since)

    wait_until(deleted, timeout=300, interval=5, what="the compactor to delete the short lines")
    assert lines_of(f'{{run="{tag}", retention="kept"}}', since), "the 30d lines must stay"


def current_release(host: str) -> str:
    return next(r.id for r in list_releases(LAB_INVENTORY)[host] if r.current)


def test_rollback_restores_the_previous_loki_config(deployed, hosts):
    obs = hosts[OBS_NAME]
    original = current_release(OBS_NAME)
    before = host_state(OBS_NAME)
    changed = deploy(loki_retention_period="45d")
    assert changed.ok and changed.changed[OBS_NAME] > 0, changed.log[-3000:]
    assert "retention_period: 45d" in obs.file("/etc/loki/config.yml").content_string

    rolled = run_deploy(
        LAB_INVENTORY, ROLLBACK, limit=OBS_NAME, data={"rollback_to": original}, echo=False
    )
    assert rolled.ok, rolled.log[-3000:]
    assert host_state(OBS_NAME)["/etc/loki/config.yml"] == before["/etc/loki/config.yml"]
    assert "retention_period: 45d" not in obs.file("/etc/loki/config.yml").content_string
    wait_until(lambda: "ready" in loki_on_obs("/ready"), timeout=60, what="Loki back up")
    assert_unchanged(deploy())


def test_a_config_loki_rejects_never_goes_live(deployed, hosts):
    obs = hosts[OBS_NAME]
    live = obs.file("/etc/loki/config.yml").content_string
    # A selector of the right shape whose regular expression Loki cannot compile.
    result = deploy(
        loki_retention_streams=[{"selector": '{retention=~"("}', "period": "24h", "priority": 1}]
    )
    assert not result.ok and result.failed.get(OBS_NAME), result.log[-3000:]
    assert "error parsing regexp" in result.log, result.log[-3000:]
    assert obs.file("/etc/loki/config.yml").content_string == live
    # Still the same Loki, with the same config (a deploy before may have just restarted it).
    wait_until(lambda: "ready" in loki_on_obs("/ready"), timeout=60, what="Loki ready")
    assert deploy().ok


def test_a_rule_file_loki_rejects_never_goes_live(deployed, hosts, tmp_path):
    broken = tmp_path / "broken-logs.yml"
    broken.write_text(
        "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n"
        "        expr: 'sum(count_over_time({job=\"x\"}[5m])'\n"
    )
    result = deploy(loki_extra_rule_files=[str(broken)])
    assert not result.ok and result.failed.get(OBS_NAME), result.log[-3000:]
    assert "could not parse expression for alert 'Broken'" in result.log, result.log[-3000:]
    assert not hosts[OBS_NAME].file("/etc/loki/rules/fake/broken-logs.yml").exists
    rules = server_get("/loki/api/v1/rules")
    assert rules.status_code == 200 and "NginxServerErrorBurst" in rules.text
    assert deploy().ok
