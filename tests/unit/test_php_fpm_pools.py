"""PHP-FPM pools read from ``php-fpm -tt`` and the status lines kept in their files, by
awk as on a host (the scripts on real hosts, and FPM answering the page, in tests/lab)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fakehost import run_operation

from obsstack.agents import DetectionError, served_pools
from operations.fpm_pools import (
    KEPT_LINES,
    LEGACY_STATUS_PATH,
    MARKER,
    STATUS_LINE,
    STATUS_PATH,
    PhpFpmPool,
    PhpFpmPools,
    PoolsReadError,
    edit_command,
    fastcgi_address,
    has_our_lines,
    layout_command,
    parse_pools,
    pool_problem,
    pool_status_lines,
)

# What POOLS_SCRIPT printed on a lab host (trimmed to the lines that matter, plus a second
# FPM whose configuration is broken).
OUTPUT = """\
@php 8.2
[27-Nov-2026 06:03:53] NOTICE: [global]
[27-Nov-2026 06:03:53] ALERT: [pool ghost] user has not been defined
[27-Nov-2026 06:03:53] ERROR: failed to post process the configuration
[27-Nov-2026 06:03:53] ERROR: FPM initialization failed
@test 78
@section /etc/php/8.2/fpm/pool.d/zz.conf [ghost]
@marked /etc/php/8.2/fpm/pool.d/www.conf
@php 8.4
[27-Nov-2026 06:03:53] NOTICE: [global]
[27-Nov-2026 06:03:53] NOTICE: \tpid = /run/php/php8.4-fpm.pid
[27-Nov-2026 06:03:53] NOTICE: \x20
[27-Nov-2026 06:03:53] NOTICE: [shop]
[27-Nov-2026 06:03:53] NOTICE: \tlisten = 127.0.0.1:9001
[27-Nov-2026 06:03:53] NOTICE: \tpm.status_path = /status
[27-Nov-2026 06:03:53] NOTICE: \x20
[27-Nov-2026 06:03:53] NOTICE: [www]
[27-Nov-2026 06:03:53] NOTICE: \tlisten = /run/php/php8.4-fpm.sock
[27-Nov-2026 06:03:53] NOTICE: \tpm.status_path = undefined
[27-Nov-2026 06:03:53] NOTICE: \tpm.status_listen = undefined
[27-Nov-2026 06:03:53] NOTICE: configuration file /etc/php/8.4/fpm/php-fpm.conf test is successful
@test 0
@section /etc/php/8.4/fpm/php-fpm.conf [global]
@section /etc/php/8.4/fpm/pool.d/shop.conf [shop]
@section /etc/php/8.4/fpm/pool.d/www.conf [www]
@section /etc/php/8.4/fpm/pool.d/zz-tuning.conf [www]
@end
"""
# What php-fpm -tt prints of a pool, secrets included: only some of it may leave the host.
TT_DUMP = """\
[01-Dec-2026 18:53:55] NOTICE: [www]
[01-Dec-2026 18:53:55] NOTICE: \tprefix = undefined
[01-Dec-2026 18:53:55] NOTICE: \tlisten = /run/php/php8.4-fpm.sock
[01-Dec-2026 18:53:55] NOTICE: \tlisten.owner = www-data
[01-Dec-2026 18:53:55] NOTICE: \tpm.status_path = /status
[01-Dec-2026 18:53:55] NOTICE: \tpm.status_listen = undefined
[01-Dec-2026 18:53:55] NOTICE: \tenv[DB_PASSWORD] = hunter2-from-env
[01-Dec-2026 18:53:55] NOTICE: \tphp_admin_value[mysqli.default_pw] = hunter2-admin
[01-Dec-2026 18:53:55] NOTICE: configuration file /etc/php/8.4/fpm/php-fpm.conf test is successful
"""

TIMES = "atime=0 mtime=0 ctime=0"
POOL_FILE = """\
; Start a new pool named 'www'.
[www]
user = www-data
listen = /run/php/php8.4-fpm.sock

[www-admin]
user = admin
"""


def test_pools_come_from_the_effective_configuration():
    broken, current = parse_pools(OUTPUT)
    assert broken.php == "8.2" and broken.pools == ()
    assert (
        broken.error
        == "php-fpm8.2 -t rejects its configuration: [pool ghost] user has not been defined"
    )
    assert broken.marked_files == ("/etc/php/8.2/fpm/pool.d/www.conf",)
    assert current.error is None and current.unit == "php8.4-fpm.service"
    assert current.pools == (
        PhpFpmPool("8.4", "shop", "127.0.0.1:9001", "/status", "/etc/php/8.4/fpm/pool.d/shop.conf"),
        # The first file that opens the section is the one that gets our lines.
        PhpFpmPool(
            "8.4", "www", "/run/php/php8.4-fpm.sock", None, "/etc/php/8.4/fpm/pool.d/www.conf"
        ),
    )


def test_the_fact_reads_the_same_output_and_refuses_half_of_it():
    fact = PhpFpmPools()
    assert fact.process(OUTPUT.splitlines()) == parse_pools(OUTPUT)
    assert fact.default() == []
    assert parse_pools("@end\n") == []
    with pytest.raises(PoolsReadError, match="ended early"):
        parse_pools(OUTPUT.replace("@end\n", ""))


def test_an_odd_php_version_from_a_host_is_refused():
    # A trailing backslash once made the server's whole scrape config unreadable.
    with pytest.raises(PoolsReadError, match=r"not named php-fpmX\.Y"):
        parse_pools("@php 8.3\\\n@test 0\n@end\n")
    with pytest.raises(DetectionError):
        served_pools('@php 8.3"\n@test 0\n@end\n')


def test_only_pool_names_addresses_and_status_settings_leave_the_host():
    kept = subprocess.run(
        ["grep", "-E", KEPT_LINES], input=TT_DUMP, capture_output=True, text=True, check=True
    ).stdout
    assert "hunter2" not in kept
    assert "listen.owner" not in kept and "prefix" not in kept
    assert [line.split("NOTICE: ")[1] for line in kept.splitlines()] == [
        "[www]",
        "\tlisten = /run/php/php8.4-fpm.sock",
        "\tpm.status_path = /status",
        "\tpm.status_listen = undefined",
    ]


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("/run/php/php8.4-fpm.sock", "unix:/run/php/php8.4-fpm.sock"),
        ("9000", "127.0.0.1:9000"),
        ("0.0.0.0:9000", "127.0.0.1:9000"),
        ("[::]:9000", "[::1]:9000"),
        ("10.0.0.5:9000", "10.0.0.5:9000"),
    ],
)
def test_nginx_reaches_a_wildcard_listener_on_loopback(listen, address):
    assert fastcgi_address(listen) == address


def test_the_status_page_is_asked_on_its_own_socket_when_it_has_one():
    pool = PhpFpmPool("8.4", "www", "/run/php/php8.4-fpm.sock", STATUS_PATH, None)
    assert pool.status_address == "unix:/run/php/php8.4-fpm.sock"
    separate = PhpFpmPool("8.4", "www", "9000", STATUS_PATH, None, "/run/php/s.sock")
    assert separate.status_address == "unix:/run/php/s.sock"
    assert not separate.has_status_of_its_own
    assert not PhpFpmPool("8.4", "w", "9000", LEGACY_STATUS_PATH, None).has_status_of_its_own
    assert PhpFpmPool("8.4", "w", "9000", "/status", None).has_status_of_its_own


def test_a_pool_the_agent_cannot_serve_is_named_with_the_reason():
    def pool(**changes) -> PhpFpmPool:
        values = {"php": "8.4", "name": "www", "listen": "/run/php/x.sock", "status_path": None}
        return PhpFpmPool(**{**values, "file": "/etc/php/8.4/fpm/pool.d/www.conf", **changes})

    assert pool_problem(pool()) is None
    assert "letters, digits" in pool_problem(pool(name="my shop"))
    assert "not a plain /path" in pool_problem(pool(status_path="/st;atus"))
    assert f"set pm.status_path = {STATUS_PATH}" in pool_problem(pool(file=None))
    assert pool_problem(pool(file=None, status_path="/status")) is None
    assert "no listen address" in pool_problem(pool(listen=""))
    assert "is not a socket path" in pool_problem(pool(listen="/run/a b.sock"))
    assert "is not a socket path" in pool_problem(pool(status_listen="x;y"))


def edited(tmp_path: Path, text: str, pools: list[str], php: str = "8.4") -> str:
    """``text`` as ``edit_command`` leaves it, run by bash and awk like on a host."""
    live, candidate = tmp_path / "pool.conf", tmp_path / "pool.conf.obs-new"
    live.write_text(text)
    result = subprocess.run(
        ["bash", "-c", edit_command(str(live), str(candidate), pools, php)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return candidate.read_text()


def layout(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "layout.conf"
    path.write_text(text)
    return subprocess.run(
        ["bash", "-c", layout_command(str(path))], capture_output=True, text=True, check=True
    ).stdout.splitlines()


LISTEN_LINE = "pm.status_listen = /run/php/observability-stack-php8.4-www.sock"


def test_the_status_lines_go_right_under_their_pools_header_only(tmp_path):
    changed = edited(tmp_path, POOL_FILE, ["www"])
    assert changed.splitlines()[1:5] == ["[www]", MARKER, STATUS_LINE, LISTEN_LINE]
    assert changed.count(STATUS_LINE) == 1, "[www-admin] is another pool"
    assert edited(tmp_path, changed, ["www"]) == changed
    assert edited(tmp_path, changed, []) == POOL_FILE
    both = edited(tmp_path, changed, ["www", "www-admin"])
    assert both.count(STATUS_LINE) == 2
    assert edited(tmp_path, both, []) == POOL_FILE
    assert edited(tmp_path, "[www]", ["www"]) == f"[www]\n{MARKER}\n{STATUS_LINE}\n{LISTEN_LINE}\n"


def test_a_pool_the_file_does_not_open_is_an_error(tmp_path):
    live = tmp_path / "pool.conf"
    live.write_text(POOL_FILE)
    result = subprocess.run(
        ["bash", "-c", edit_command(str(live), str(tmp_path / "new"), ["shop"], "8.4")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 3 and "no [shop] section" in result.stderr


def test_the_line_earlier_versions_added_is_replaced(tmp_path):
    ours = f"{MARKER}\npm.status_path = {LEGACY_STATUS_PATH}\n"
    earlier = POOL_FILE.replace("[www]\n", f"[www]\n{ours}")
    assert edited(tmp_path, earlier, []) == POOL_FILE
    assert edited(tmp_path, earlier, ["www"]) == edited(tmp_path, POOL_FILE, ["www"])


def test_only_headers_and_our_lines_are_shown_and_they_tell_when_to_edit(tmp_path):
    secret = POOL_FILE + "env[DB_PASSWORD] = hunter2\n"
    changed = edited(tmp_path, secret, ["www"])
    shown = layout(tmp_path, changed)
    assert "hunter2" not in "".join(shown) and "user = www-data" not in "".join(shown)
    assert has_our_lines(shown, ["www"], "8.4")
    assert not has_our_lines(shown, ["www", "www-admin"], "8.4")
    assert not has_our_lines(shown, [], "8.4")
    assert not has_our_lines(layout(tmp_path, secret), ["www"], "8.4")
    assert has_our_lines(layout(tmp_path, secret), [], "8.4")
    swapped = f"{LISTEN_LINE}\n{STATUS_LINE}"
    moved = changed.replace(f"{STATUS_LINE}\n", "").replace(LISTEN_LINE, swapped)
    assert not has_our_lines(layout(tmp_path, moved), ["www"], "8.4")


def test_no_uri_through_a_site_can_become_our_status_path():
    # nginx removes dot segments from every URI ($uri, $fastcgi_script_name): what a site
    # passes to FPM as SCRIPT_NAME can never hold "/./" (tests/lab proves it on web1).
    assert "/./" in STATUS_PATH


def test_a_pool_file_that_already_has_the_lines_is_left_alone(tmp_path):
    path = "/etc/php/8.4/fpm/pool.d/www.conf"
    run = run_operation(
        pool_status_lines,
        {"awk -v marker": layout(tmp_path, edited(tmp_path, POOL_FILE, ["www"]))},
        path=path,
        php="8.4",
        pools=["www"],
    )
    assert run.succeeded
    assert [command for command in run.commands if "awk -v marker" not in command] == []


def test_a_changed_pool_file_is_edited_on_the_host_checked_by_fpm_keeping_owner_and_mode(
    tmp_path,
):
    path = "/etc/php/8.4/fpm/pool.d/www.conf"
    run = run_operation(
        pool_status_lines,
        {
            re.compile("^test -f .* awk"): layout(tmp_path, POOL_FILE),
            "stat ": f"user=root group=www-data mode=-rw-r----- {TIMES} size=1 '{path}'",
        },
        path=path,
        php="8.4",
        pools=["www"],
    )
    assert run.succeeded
    commands = run.commands
    edit = next(i for i, c in enumerate(commands) if "-v pools=www" in c)
    assert commands[edit].endswith(f"{path} > {path}.obs-new")
    check = next(i for i, c in enumerate(commands) if "/usr/sbin/php-fpm8.4 -t" in c)
    swap = commands.index(f"mv -f {path}.obs-new {path}")
    assert edit < check < swap and "unshare --mount" in commands[check]
    assert f"chown root:www-data {path}.obs-new && chmod 0640 {path}.obs-new" in commands


def test_the_observability_server_gets_the_pools_the_agent_serves():
    working = OUTPUT[OUTPUT.index("@php 8.4") :]
    assert served_pools(working) == [{"php": "8.4", "pool": "shop"}, {"php": "8.4", "pool": "www"}]


def test_a_configuration_fpm_rejects_stops_detection():
    with pytest.raises(DetectionError, match="user has not been defined"):
        served_pools(OUTPUT)
