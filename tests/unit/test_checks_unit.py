"""The check framework: section scripts run by bash and parsed back, the one FAIL of a host
whose script did not run, and the report's counts, JSON and table."""

from __future__ import annotations

import json
import subprocess

import pytest

from obsstack.checks import (
    FAIL,
    PASS,
    WARN,
    Report,
    Result,
    format_report,
    host_results,
    parse_sections,
    section_script,
)
from obsstack.session import HostInfo, RemoteResult

WEB1 = HostInfo("web1", ["monitored"])


def run_bash(script: str) -> str:
    return subprocess.run(["bash"], input=script, capture_output=True, text=True).stdout


def test_sections_survive_bash_and_the_parser():
    script = section_script(
        {
            "greeting": "greet",
            "no newline": "printf '{}'",  # an HTTP body, say
            "silent": "true",
            "lines": "printf 'a\\nb\\n'",
        },
        prelude="greet() { echo hello; }\n",
    )
    assert parse_sections(run_bash(script)) == {
        "greeting": "hello",
        "no newline": "{}",
        "silent": "",
        "lines": "a\nb",
    }


def judge(host: HostInfo, sections: dict[str, str]) -> list[Result]:
    return [Result(host.name, name, PASS, text) for name, text in sections.items()]


def script_failure(host: str, answer: RemoteResult) -> Result:
    return Result(host, "script", FAIL, answer.stderr.strip())


@pytest.mark.parametrize(
    "answer",
    [
        RemoteResult(False, "", "no route to host", connected=False),
        RemoteResult(False, "", "no route to host"),
        RemoteResult(True, "a login banner, then nothing", "no route to host"),
    ],
)
def test_a_host_whose_script_did_not_run_is_one_failure(answer):
    assert host_results(WEB1, answer, judge, script_failure) == [
        Result("web1", "script", FAIL, "no route to host")
    ]


def test_the_sections_of_a_host_that_answered_are_judged():
    answer = RemoteResult(True, run_bash(section_script({"kernel": "echo 6.1.0"})), "")
    assert host_results(WEB1, answer, judge, script_failure) == [
        Result("web1", "kernel", PASS, "6.1.0")
    ]


def test_a_failure_is_about_its_own_host_unless_it_names_others():
    assert Result("web1", "disk", FAIL, "full").failing_items == (("web1", "full"),)
    about_app1 = (("app1", "target node/app1 down"),)
    assert Result("obs", "targets", FAIL, "1 down", items=about_app1).failing_items == about_app1
    assert Result("obs", "targets", WARN, "1 unknown", items=about_app1).failing_items == ()


REPORT = Report(
    [
        Result("web1", "clock", WARN, "unknown", "check the host's clock"),
        Result("web1", "commands", FAIL, "missing: ss (iproute2)", "apt-get install"),
        Result("controller", "artifact source", PASS, "exists"),
    ]
)


def test_report_json_has_counts_and_every_result():
    data = json.loads(json.dumps(REPORT.to_json()))
    assert data == {
        "ok": False,
        "counts": {"pass": 1, "warn": 1, "fail": 1},
        "results": [
            {
                "host": "web1",
                "check": "clock",
                "status": WARN,
                "detail": "unknown",
                "hint": "check the host's clock",
                "items": [],
            },
            {
                "host": "web1",
                "check": "commands",
                "status": FAIL,
                "detail": "missing: ss (iproute2)",
                "hint": "apt-get install",
                "items": [],
            },
            {
                "host": "controller",
                "check": "artifact source",
                "status": PASS,
                "detail": "exists",
                "hint": "",
                "items": [],
            },
        ],
    }
    assert Report([], fixed=[]).to_json()["fixed"] == []


def test_report_table_summary_and_failures():
    assert format_report(REPORT) == (
        "host        check            status  detail                  hint\n"
        "----------  ---------------  ------  ----------------------  ----------------------\n"
        "web1        clock            WARN    unknown                 check the host's clock\n"
        "web1        commands         FAIL    missing: ss (iproute2)  apt-get install\n"
        "controller  artifact source  PASS    exists\n"
        "\n"
        "1 pass, 1 warn, 1 fail\n"
        "failures:\n"
        "  web1 commands: missing: ss (iproute2)"
    )


def test_without_hints_there_is_no_hint_column():
    text = format_report(Report([Result("web1", "disk:/", PASS, "30.8% free")]))
    assert text.splitlines()[0] == "host  check   status  detail"


def test_what_was_fixed_is_printed_when_a_fix_was_asked():
    assert "fixed:" not in format_report(Report([]))
    assert "fixed: nothing to repair" in format_report(Report([], fixed=[]))
    assert "fixed: web1: installed iproute2" in format_report(
        Report([], fixed=["web1: installed iproute2"])
    )
