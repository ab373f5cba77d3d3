"""The log alert rules (templates/loki/rules/), at the catalog's default thresholds, checked
and evaluated by a real Loki on this machine: the lab's build of Loki from Grafana's source
(obslab/grafana.py), run with the config deploys/loki.py writes, in a scratch directory.

- the rule files pass the check a deploy runs on the server (templates/loki/check-rules.sh.j2),
  and a broken one fails it with Loki's own message;
- each rule's expression, queried the moment after lines were pushed, finds the host whose
  lines should fire it and not the host whose lines fall short (below a threshold, another
  unit, another level): what the ruler evaluates, without waiting for its schedule.
"""

from __future__ import annotations

import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prerequisites import require
from pyinfra.api.exceptions import PyinfraError

from deploys.loki import config, rule_files
from obslab.grafana import SHARED_DIR
from obsstack.catalog import setting_defaults
from obsstack.render import render_template
from obsstack.serialize import MANAGED, yaml_file

DEFAULTS = setting_defaults()


@pytest.fixture(scope="module")
def loki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared folder's Loki binary, unpacked."""
    archives = sorted((SHARED_DIR / "loki").glob("*/loki-linux-amd64.zip"))
    require(bool(archives), f"a Loki build in {SHARED_DIR / 'loki'} (obslab/grafana.py)")
    directory = tmp_path_factory.mktemp("loki-bin")
    with zipfile.ZipFile(archives[-1]) as archive:
        archive.extract("loki-linux-amd64", directory)
    binary = directory / "loki-linux-amd64"
    binary.chmod(0o755)
    return binary


@pytest.fixture(scope="module")
def check_rules(loki: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("check") / "check-rules"
    script.write_text(render_template("loki/check-rules.sh.j2", {"loki": str(loki)}))
    script.chmod(0o755)
    return script


def rendered_rules(directory: Path) -> list[Path]:
    paths = []
    for name, text in rule_files(DEFAULTS, []).items():
        path = directory / name
        path.write_text(text)
        paths.append(path)
    return paths


def test_the_rule_files_pass_the_servers_check(check_rules: Path, tmp_path: Path) -> None:
    for path in rendered_rules(tmp_path):
        run = subprocess.run([str(check_rules), str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def test_a_broken_rule_file_fails_the_check_with_lokis_message(check_rules, tmp_path):
    broken = tmp_path / "mine.yml"
    broken.write_text(
        "groups:\n  - name: mine\n    rules:\n      - alert: Mine\n"
        "        expr: 'sum(count_over_time({job=\"x\"}[5m])'\n"
    )
    run = subprocess.run([str(check_rules), str(broken)], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"{broken}: could not parse expression for alert 'Mine'" in run.stderr, run.stderr


def test_an_extra_rule_file_cannot_take_a_baseline_files_name(tmp_path: Path) -> None:
    mine = tmp_path / "logs.rules.yml"
    mine.write_text("groups: []\n")
    with pytest.raises(PyinfraError, match="has the name of a rule file the stack installs"):
        rule_files(DEFAULTS, [str(mine)])
    other = tmp_path / "mine.rules.yml"
    other.write_text("groups: []\n")
    assert rule_files(DEFAULTS, [str(other)])["mine.rules.yml"] == "groups: []\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def loki_url(loki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Loki running the config deploys/loki.py writes, its paths moved to a scratch
    directory and its ports to free ones; no rules (the tests query the expressions)."""
    root = tmp_path_factory.mktemp("loki")
    port, grpc = free_port(), free_port()
    document = config({**DEFAULTS, "loki_port": port, "loki_grpc_port": grpc}, "http://127.0.0.1:1")
    text = yaml_file(document, MANAGED).replace("/var/lib/loki", str(root / "data"))
    text = text.replace("/etc/loki/rules", str(root / "rules"))
    (root / "rules").mkdir()
    (root / "config.yml").write_text(text)
    log = (root / "loki.log").open("w")
    process = subprocess.Popen(
        [str(loki), f"-config.file={root / 'config.yml'}"], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (root / "loki.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "Loki not ready within 60s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def push(url: str, host: str, labels: dict[str, str], lines: list[str]) -> None:
    now = time.time_ns()
    body = {
        "streams": [
            {
                "stream": {"host": host, "env": "test", **labels},
                "values": [[str(now - 10**9 + i), line] for i, line in enumerate(lines)],
            }
        ]
    }
    answer = requests.post(f"{url}/loki/api/v1/push", json=body, timeout=10)
    assert answer.status_code == 204, answer.text


def nginx_line(status: int) -> str:
    return (
        f'203.0.113.7 - - [02/Dec/2026:10:00:00 +0000] "GET /shop?id=1 HTTP/1.1" {status} 157 '
        '"-" "Mozilla/5.0"'
    )


# For each rule: lines that must fire it (host "<rule>-hit") and lines that must not
# (host "<rule>-miss"), as {labels: lines}.
CASES = {
    "NginxServerErrorBurst": (
        [({"job": "nginx_access"}, [nginx_line(502)] * 21)],
        [
            ({"job": "nginx_access"}, [nginx_line(500)] * 20 + [nginx_line(404)] * 30),
            ({"job": "nginx_error"}, [nginx_line(502)] * 30),
        ],
    ),
    "SshAuthenticationFailures": (
        [
            ({"job": "journal", "unit": "ssh.service"},
             ["Failed password for root from 198.51.100.4 port 50000 ssh2"] * 6
             + ["Invalid user admin from 198.51.100.4 port 50001"] * 5),
        ],
        [
            ({"job": "journal", "unit": "ssh.service"},
             ["Failed password for root from 198.51.100.4 port 50000 ssh2"] * 10
             + ["Accepted publickey for root from 10.0.0.1 port 50002 ssh2"] * 5),
            ({"job": "journal", "unit": "cron.service"},
             ["Failed password for root from 198.51.100.4 port 50000 ssh2"] * 20),
        ],
    ),
    "KernelOomKill": (
        [({"job": "journal"}, ["Out of memory: Killed process 4242 (mariadbd) total-vm:9kB"])],
        [({"job": "journal"}, ["oom_score_adj set for process 4242"])],
    ),
    "MysqlErrorsLogged": (
        [
            ({"job": "journal", "unit": "mariadb.service"},
             ["2026-12-02 10:00:00 0 [ERROR] mariadbd: Table './shop/t' is marked as crashed"]),
            ({"job": "mysql_error"}, ["2026-12-02 10:00:00 0 [ERROR] Aborted connection 7"]),
        ],
        [
            ({"job": "journal", "unit": "mariadb.service"},
             ["2026-12-02 10:00:00 0 [Warning] Aborted connection 7 to db: 'shop'"]),
            ({"job": "journal", "unit": "nginx.service"}, ["[ERROR] not the database"]),
        ],
    ),
    "PhpFatalErrors": (
        [
            ({"job": "php_fpm"},
             ['WARNING: [pool www] child 42 said into stderr: "PHP Fatal error:  Uncaught"']),
            ({"job": "nginx_error"},
             ["FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Allowed memory\""]),
        ],
        [({"job": "php_fpm"}, ['child 42 said into stderr: "PHP Warning:  Undefined index"'])],
    ),
}


def rules_by_name() -> dict[str, dict]:
    return {
        rule["alert"]: rule
        for text in rule_files(DEFAULTS, []).values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
    }


def test_every_log_alert_has_a_case() -> None:
    assert set(rules_by_name()) == set(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_the_rule_finds_the_host_whose_lines_fire_it(loki_url: str, alert: str) -> None:
    fire, hold = CASES[alert]
    hit, miss = f"{alert.lower()}-hit", f"{alert.lower()}-miss"
    for labels, lines in fire:
        push(loki_url, hit, labels, lines)
    for labels, lines in hold:
        push(loki_url, miss, labels, lines)
    answer = requests.get(
        f"{loki_url}/loki/api/v1/query",
        params={"query": rules_by_name()[alert]["expr"], "time": str(time.time_ns())},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()["data"]["result"]
    assert [series["metric"].get("instance") for series in found] == [hit], found
    assert found[0]["metric"]["env"] == "test"
