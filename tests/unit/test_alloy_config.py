"""Alloy's config.alloy, as deploys/alloy.py writes it, and the serializer it writes with.

The configs are golden files (tests/unit/golden/alloy/), built from the real catalog, so a
change of a component's log files shows up as a diff to review. Set UPDATE_GOLDEN=1 to
write them anew. Alloy cannot be obtained on this machine: the golden files were reviewed
against Alloy's documentation and syntax rules, never run through ``alloy validate`` here
(a deploy runs that on the host before the file goes live). Each is checked for structure
below: balanced braces, one attribute per line, a comma after every element of a list or
object that spans lines.
"""

from __future__ import annotations

import difflib
import doctest
import json
import os
import re
from pathlib import Path

import pytest
from pyinfra.api import Inventory
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host, ctx_inventory

from deploys import alloy
from obsstack import alloy_syntax
from obsstack.alloy_syntax import attribute, block, comment, document, raw, ref, string, value
from obsstack.catalog import running, setting_defaults
from obsstack.catalog.host import ALLOY_PUSH_PASSWORD_FILE
from obsstack.catalog.schema import NGINX_COMBINED, LogFiles
from obsstack.secrets import env_name

GOLDEN_DIR = Path(__file__).parent / "golden" / "alloy"
DOMAIN = "monitoring.example.net"
ENVIRONMENT = "production"


def agent_logs(agents: list[str]) -> list[LogFiles]:
    """The LogFiles of what a monitored host with ``agents`` runs, from the catalog."""
    settings = setting_defaults()
    return [f for c in running(["monitored"], settings, agents) for f in c.logs]


def server_logs() -> list[LogFiles]:
    settings = setting_defaults()
    return [f for c in running(["observability"], settings, []) for f in c.logs]


def monitored(agents: list[str]) -> str:
    return alloy.config(
        "web1", "monitored", ENVIRONMENT, agent_logs(agents), alloy.proxy_push(DOMAIN, "web1")
    )


CASES = {
    "observability": lambda: alloy.config(
        "mon", "observability", ENVIRONMENT, server_logs(), alloy.loopback_push(3100)
    ),
    "monitored_no_agents": lambda: monitored([]),
    "nginx": lambda: monitored(["nginx"]),
    "nginx_php_fpm": lambda: monitored(["nginx", "php_fpm"]),
    "mysql": lambda: monitored(["mysql"]),
    "fail2ban": lambda: monitored(["fail2ban"]),
    "all_agents": lambda: monitored(["nginx", "mysql", "php_fpm", "fail2ban"]),
}


def golden(name: str, text: str) -> None:
    """``text`` matches golden file ``name`` (written anew with UPDATE_GOLDEN=1)."""
    path = GOLDEN_DIR / f"{name}.alloy"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_text()
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"golden/alloy/{name}.alloy",
            "generated",
        )
        pytest.fail(
            "config differs from its golden file (UPDATE_GOLDEN=1 accepts it):\n" + "".join(diff)
        )


@pytest.mark.parametrize("name", CASES)
def test_config_matches_its_golden_file(name):
    golden(name, CASES[name]())


def test_every_golden_file_is_a_case():
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.alloy")) == sorted(CASES)


# -- the structure of each golden file ---------------------------------------------------

TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)|(?P<comment>//[^\n]*)'
    r"|(?P<op>==|!=|<=|>=)|(?P<punct>[{}\[\]=,])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<number>\d+)|(?P<space>[ \t]+)|(?P<other>.)"
)


def line_tokens(line: str) -> list[tuple[str, str]]:
    """The tokens of one line, strings and comments as one token each."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(line)]
    assert not [t for t in tokens if t[0] == "other"], f"unexpected character in {line!r}"
    return [t for t in tokens if t[0] not in ("space", "comment")]


def structure_problems(text: str) -> list[str]:
    """What breaks Alloy's rules in ``text``: unbalanced braces, two attributes on a line,
    an element of a multi-line list or object without its comma."""
    problems = []
    stack: list[str] = []  # "block", "object", "list"
    previous = None  # the last token before this one, across lines
    for number, line in enumerate(text.splitlines(), 1):
        tokens = line_tokens(line)
        if sum(1 for kind, _ in tokens if kind == "punct" and _ == "=") > 1:
            problems.append(f"line {number}: two attributes: {line!r}")
        for kind, token in tokens:
            if token == "{":
                in_value = previous in ("=", "[", ",") or (stack and stack[-1] != "block")
                stack.append("object" if in_value else "block")
            elif token == "[":
                stack.append("list")
            elif token in "}]" and kind == "punct":
                if not stack or (stack[-1] == "list") != (token == "]"):
                    problems.append(f"line {number}: unmatched {token!r}")
                else:
                    stack.pop()
            previous = token
        if tokens and stack and stack[-1] in ("object", "list"):
            last = tokens[-1][1]
            if last not in (",", "[", "{"):
                problems.append(f"line {number}: element without its comma: {line!r}")
    if stack:
        problems.append(f"unclosed: {stack}")
    return problems


@pytest.mark.parametrize("name", CASES)
def test_golden_file_structure(name):
    text = (GOLDEN_DIR / f"{name}.alloy").read_text()
    assert structure_problems(text) == []
    assert text.startswith(
        "// Managed by observability-stack: local edits are replaced on the next deploy.\n"
    )


def test_the_structure_check_sees_each_fault():
    assert structure_problems('a {\n  b = "x" c = "y"\n}\n')
    assert structure_problems("a {\n  b = [\n    1\n  ]\n}\n")
    assert structure_problems("a {\n  b = {\n    c = 1,\n  }\n")
    assert structure_problems("a {\n  b = [\n    1,\n  }\n}\n")
    assert structure_problems("a {\n  b = [\n    {\n      c = 1,\n    }\n  ]\n}\n")
    # A brace or an equals sign inside a string is text, not structure.
    assert structure_problems('a {\n  b = "{ c = [ ,"\n  d = `}=]`\n}\n') == []


# -- what the configs say ----------------------------------------------------------------


def test_a_monitored_host_pushes_through_the_proxy_with_its_own_login():
    text = monitored([])
    assert f'url = "https://{DOMAIN}/loki/api/v1/push"' in text
    assert 'username = "web1"' in text
    assert f'password_file = "{ALLOY_PUSH_PASSWORD_FILE}"' in text


def test_the_server_pushes_to_loki_on_loopback_without_login():
    text = CASES["observability"]()
    assert 'url = "http://127.0.0.1:3100/loki/api/v1/push"' in text
    assert "basic_auth" not in text
    assert 'loki.source.file "nginx_access"' in text
    assert "prometheus." not in text


def test_nginx_fields_become_structured_metadata_never_labels():
    text = monitored(["nginx"])
    assert "stage.labels" not in text
    assert "labels_from_groups" not in text
    metadata = text.split("stage.structured_metadata {", 1)[1].split("}", 1)[0]
    assert re.findall(r"(\w+) = ", metadata) == ["values", "method", "status"]
    assert "forward_to = [\n    loki.process.nginx_access.receiver," in text


def test_the_nginx_expression_parses_combined_lines():
    expression = re.search(r"expression = `([^`]*)`", monitored(["nginx"])).group(1)
    line = '203.0.113.7 - - [10/Oct/2025:13:55:36 +0200] "GET /a?b=1 HTTP/1.1" 503 12 "-" "x"'
    fields = re.match(expression, line).groupdict()
    assert (fields["method"], fields["status"]) == ("GET", "503")
    junk = '203.0.113.7 - - [10/Oct/2025:13:55:36 +0200] "\\x16\\x03" 400 0 "-" "-"'
    assert re.match(expression, junk).group("status") == "400"


def test_a_job_that_two_components_share_is_read_once():
    logs = [*server_logs(), *agent_logs(["nginx"])]
    text = alloy.config("mon", "observability", ENVIRONMENT, logs, alloy.loopback_push(3100))
    assert text.count('loki.source.file "nginx_access"') == 1


def test_two_different_definitions_of_one_job_are_refused():
    logs = [LogFiles("app", ("/var/log/a.log",)), LogFiles("app", ("/var/log/b.log",))]
    with pytest.raises(ValueError, match="app"):
        alloy.config("web1", "monitored", ENVIRONMENT, logs, alloy.proxy_push(DOMAIN, "web1"))


@pytest.mark.parametrize("job", ["nginx-access", "1st", "a.b", "true", ""])
def test_a_job_that_is_no_identifier_is_refused(job):
    with pytest.raises(ValueError):
        alloy.config(
            "web1",
            "monitored",
            ENVIRONMENT,
            [LogFiles(job, ("/x",))],
            alloy.proxy_push(DOMAIN, "web1"),
        )


def test_an_unknown_parser_or_role_is_refused():
    push = alloy.proxy_push(DOMAIN, "web1")
    with pytest.raises(ValueError, match="parser"):
        alloy.config("web1", "monitored", ENVIRONMENT, [LogFiles("a", ("/x",), "json")], push)
    with pytest.raises(ValueError, match="role"):
        alloy.config("web1", "web", ENVIRONMENT, [], push)


def test_values_from_data_are_quoted_not_pasted():
    logs = [LogFiles("app", ('/var/log/a "b"\\c.log',), NGINX_COMBINED)]
    text = alloy.config('we"b', "monitored", "prod\n", logs, alloy.proxy_push(DOMAIN, 'we"b'))
    assert '__path__ = "/var/log/a \\"b\\"\\\\c.log",' in text
    assert 'host = "we\\"b",' in text
    assert 'env = "prod\\n",' in text
    assert structure_problems(text) == []


def test_retries_ride_out_an_outage_of_about_an_hour_and_a_half():
    """dskit's backoff, as loki.write uses it: the n-th wait is drawn from
    [min, max) of a range that starts at [0.5s, 1s) and doubles, both ends capped at
    max_backoff_period; the last try is not followed by a wait."""
    cap = 300.0
    assert alloy.MAX_BACKOFF_PERIOD == "5m"
    low, high, shortest, longest = 0.5, 1.0, 0.0, 0.0
    for _ in range(alloy.MAX_BACKOFF_RETRIES - 1):
        shortest, longest = shortest + low, longest + high
        if high < cap:
            low, high = min(low * 2, cap), min(high * 2, cap)
    assert 85 * 60 < shortest < longest < 2 * 3600


# -- config_files(): what the hook reads of the host being deployed -------------------------


def hook_files(tmp_path, name: str, groups: dict[str, list[str]], monkeypatch) -> tuple:
    data = {**setting_defaults(), "secrets_dir": str(tmp_path), "agents": ["nginx"]}
    hosts = {host for names in groups.values() for host in names}
    inventory = Inventory(
        (sorted(hosts), data),
        **{group: (names, {"domain": DOMAIN}) for group, names in groups.items()},
    )
    monkeypatch.setenv(env_name("loki_push_password_web1"), "Zq8-xW3_pL6vN1mR4tY7uK0")
    with ctx_inventory.use(inventory), ctx_host.use(inventory.get_host(name)):
        return alloy.config_files()


def test_the_hook_writes_a_monitored_hosts_password_first(tmp_path, monkeypatch):
    groups = {"observability": ["mon"], "monitored": ["@ssh/web1"]}
    password, config = hook_files(tmp_path, "@ssh/web1", groups, monkeypatch)
    assert (password.path, password.content, password.secret) == (
        ALLOY_PUSH_PASSWORD_FILE,
        "Zq8-xW3_pL6vN1mR4tY7uK0",
        True,
    )
    assert config.path == "/etc/alloy/config.alloy"
    assert config.validate.endswith("/alloy validate {path}")
    assert config.content == CASES["nginx"]()


def test_the_hook_on_the_server_pushes_to_loopback(tmp_path, monkeypatch):
    groups = {"observability": ["mon"], "monitored": ["web1"]}
    (config,) = hook_files(tmp_path, "mon", groups, monkeypatch)
    assert config.content == CASES["observability"]()


def test_the_hook_refuses_a_monitored_host_without_a_server(tmp_path, monkeypatch):
    with pytest.raises(PyinfraError, match="alloy_enabled = False"):
        hook_files(tmp_path, "web1", {"monitored": ["web1"]}, monkeypatch)


# -- the serializer ------------------------------------------------------------------------


def test_the_module_example_runs():
    assert doctest.testmod(alloy_syntax).failed == 0


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir\\n", '"C:\\\\dir\\\\n"'),
        ("two\nlines\r\tand tab", '"two\\nlines\\r\\tand tab"'),
        ("bell\x07 nul\x00", '"bell\\u0007 nul\\u0000"'),
        ("café 日本 🦊", '"café 日本 🦊"'),  # raw UTF-8, outside the BMP too
        ("${HOME} $1 // not a comment", '"${HOME} $1 // not a comment"'),
    ],
)
def test_strings_are_escaped(text, literal):
    assert string(text) == literal
    assert json.loads(literal) == text  # Alloy decodes these escapes the same way
    assert "\\ud8" not in literal.lower()  # never a surrogate pair


@pytest.mark.parametrize("text", ["del\x7f", "c1\x85", "bom\ufeff", "lone\ud800"])
def test_strings_that_cannot_be_represented_are_refused(text):
    with pytest.raises(ValueError):
        string(text)


def test_only_strings_are_quoted():
    with pytest.raises(TypeError):
        string(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        value(b"bytes")
    with pytest.raises(TypeError):
        value(1.5)  # type: ignore[arg-type]


def test_raw_strings_keep_backslashes_and_quotes_and_refuse_backticks():
    assert value(raw(r'^\S+ "(?P<x>\d)"')) == r'`^\S+ "(?P<x>\d)"`'
    for bad in ["a`b", "line\nbreak", "cr\r", "tab\t"]:
        with pytest.raises(ValueError):
            raw(bad)


@pytest.mark.parametrize("name", ["1abc", "a-b", "a b", "", "é", "true", "null", "a\n"])
def test_invalid_identifiers_are_refused(name):
    with pytest.raises(ValueError):
        alloy_syntax.identifier(name)
    with pytest.raises(ValueError):
        block("loki.write", [], label=name)
    with pytest.raises(ValueError):
        attribute(name, 1)


@pytest.mark.parametrize("path", ["loki..write", ".a", "a.", "a.1b", "a-b.c", "a b"])
def test_invalid_references_and_block_names_are_refused(path):
    with pytest.raises(ValueError):
        ref(path)
    with pytest.raises(ValueError):
        block(path, [])


def test_object_keys_that_are_no_identifiers_are_quoted():
    assert value({"__path__": "/x", "a.b": 1, "true": False}) == (
        '{\n  __path__ = "/x",\n  "a.b" = 1,\n  "true" = false,\n}'
    )


def test_nested_blocks_lists_and_objects_indent_with_trailing_commas():
    text = block(
        "outer",
        [
            block("inner", [attribute("items", [{"a": [1, ref("x.y")]}, [], {}, None])]),
            attribute("flag", True),
        ],
        label="main",
    )
    assert text == (
        'outer "main" {\n'
        "  inner {\n"
        "    items = [\n"
        "      {\n"
        "        a = [\n"
        "          1,\n"
        "          x.y,\n"
        "        ],\n"
        "      },\n"
        "      [],\n"
        "      {},\n"
        "      null,\n"
        "    ]\n"
        "  }\n"
        "  flag = true\n"
        "}"
    )
    assert structure_problems(text) == []
    assert block("prometheus.exporter.self", [], label="alloy") == (
        'prometheus.exporter.self "alloy" { }'
    )


def test_comments_are_one_line():
    assert document([], header="x") == "// x\n"
    assert comment("") == "//"
    for bad in ["two\nlines", "cr\r"]:
        with pytest.raises(ValueError):
            comment(bad)
