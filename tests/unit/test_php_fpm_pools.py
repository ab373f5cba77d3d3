"""PHP-FPM pools read from ``php-fpm -tt`` and the status line kept in their files (the
script itself, and FPM answering the status page, run on a real host in tests/lab)."""

from __future__ import annotations

import pytest
from fakehost import run_operation

from obsstack.agents import DETECTION_SCRIPT, parse_detected, served_pools
from obsstack.php_fpm import (
    MARKER,
    STATUS_LINE,
    STATUS_PATH,
    PhpFpmPool,
    parse_pools,
    pool_problem,
    with_status_lines,
    without_status_lines,
)
from operations.php_fpm import PhpFpmPools, pool_status_lines

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
        # The first file that opens the section is the one that gets our line.
        PhpFpmPool(
            "8.4", "www", "/run/php/php8.4-fpm.sock", None, "/etc/php/8.4/fpm/pool.d/www.conf"
        ),
    )


def test_the_fact_reads_the_same_output_and_means_none_when_silent():
    fact = PhpFpmPools()
    assert fact.process(OUTPUT.splitlines()) == parse_pools(OUTPUT)
    assert fact.default() == []
    assert parse_pools("") == []


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
    assert PhpFpmPool("8.4", "www", listen, None, None).fastcgi_address == address


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


def test_the_status_line_goes_right_under_its_pools_header_only():
    changed = with_status_lines(POOL_FILE, ["www"])
    assert changed.splitlines()[1:4] == ["[www]", MARKER, STATUS_LINE]
    assert changed.count(STATUS_LINE) == 1, "[www-admin] is another pool"
    assert with_status_lines(changed, ["www"]) == changed
    assert without_status_lines(changed) == POOL_FILE
    both = with_status_lines(changed, ["www", "www-admin"])
    assert both.count(STATUS_LINE) == 2
    assert with_status_lines(both, []) == POOL_FILE
    assert with_status_lines("[www]", ["www"]) == f"[www]\n{MARKER}\n{STATUS_LINE}\n"
    with pytest.raises(ValueError, match=r"no \[shop\] section"):
        with_status_lines(POOL_FILE, ["shop"])


def test_a_pool_file_that_already_has_the_lines_is_left_alone():
    lines = with_status_lines(POOL_FILE, ["www"]).splitlines()
    run = run_operation(
        pool_status_lines,
        {"cat /etc/php/8.4/fpm/pool.d/www.conf": "\n".join(lines)},
        path="/etc/php/8.4/fpm/pool.d/www.conf",
        php="8.4",
        pools=["www"],
    )
    assert run.succeeded
    assert [command for command in run.commands if "&& cat " not in command] == []


def test_a_changed_pool_file_is_checked_by_fpm_and_keeps_its_owner_and_mode():
    path = "/etc/php/8.4/fpm/pool.d/www.conf"
    run = run_operation(
        pool_status_lines,
        {
            f"cat {path}": POOL_FILE.rstrip("\n"),
            "sha256sum": "",
            "stat ": f"user=root group=www-data mode=-rw-r----- {TIMES} size=1 '{path}'",
        },
        path=path,
        php="8.4",
        pools=["www"],
    )
    assert run.succeeded
    commands = run.commands
    check = next(i for i, c in enumerate(commands) if "/usr/sbin/php-fpm8.4 -t" in c)
    swap = commands.index(f"mv -f {path}.obs-new {path}")
    assert check < swap and "unshare --mount" in commands[check]
    assert f"chown root:www-data {path}.obs-new && chmod 0640 {path}.obs-new" in commands


def test_php_fpm_is_detected_only_where_nginx_serves_its_status():
    assert "'php*-fpm.service'" in DETECTION_SCRIPT, "the unit glob must reach systemctl unexpanded"
    assert parse_detected("@agent php_fpm\n@agent fail2ban\n") == ["fail2ban"]
    assert parse_detected("@agent php_fpm\n@agent nginx\n") == ["nginx", "php_fpm"]
    # Words in the pool listing that follows are not agents.
    assert parse_detected(OUTPUT + "nginx\n") == []


def test_the_observability_server_gets_the_pools_the_agent_serves():
    assert served_pools(OUTPUT) == [{"php": "8.4", "pool": "shop"}, {"php": "8.4", "pool": "www"}]
