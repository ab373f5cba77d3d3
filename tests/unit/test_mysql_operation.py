"""The MySQL monitoring account: created from a 0600 file, never with the password in a
command; nothing when it exists; dropped when the agent goes."""

from __future__ import annotations

import shlex

import pytest
from fakehost import run_operation

from operations.mysql import (
    SQL_FILE,
    MysqlUserExists,
    drop_monitoring_user,
    monitoring_user,
    user_sql,
)

PASSWORD = "s3cret-pa55word"
EXISTS = {"SELECT COUNT(*) FROM mysql.user": "1"}
MISSING = {"SELECT COUNT(*) FROM mysql.user": "0"}


def commands(run) -> list[str]:
    return [command for command in run.commands if "mysql.user" not in command]


def test_fact_reads_the_count_and_treats_no_server_as_missing():
    fact = MysqlUserExists()
    assert fact.process(["1"]) is True
    assert fact.process(["0"]) is False
    assert fact.process([]) is False
    assert "2>/dev/null || echo 0" in str(fact.command(user="obs_exporter"))


def test_a_missing_account_is_created_from_a_private_file_removed_afterwards():
    run = run_operation(monitoring_user, MISSING, user="obs_exporter", password=PASSWORD)
    assert run.succeeded
    ran = commands(run)
    assert ran[0] == f"install -m 0600 -o root -g root /dev/null {SQL_FILE}"
    assert ran[-1] == f"mysql < {SQL_FILE}; status=$?; rm -f {SQL_FILE}; exit $status"
    assert not any(PASSWORD in command for command in ran)


def test_an_existing_account_is_left_alone_unless_forced():
    run = run_operation(monitoring_user, EXISTS, user="obs_exporter", password=PASSWORD)
    assert run.succeeded and commands(run) == []
    forced = run_operation(
        monitoring_user, EXISTS, user="obs_exporter", password=PASSWORD, force=True
    )
    assert forced.succeeded
    assert commands(forced)[-1].startswith(f"mysql < {SQL_FILE}")


def test_the_sql_grants_read_only_monitoring_privileges_and_escapes_the_password():
    sql = user_sql("obs_exporter", "it's\\here")
    assert "IDENTIFIED BY 'it\\'s\\\\here'" in sql
    assert "GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'obs_exporter'@'localhost'" in sql
    assert "MAX_USER_CONNECTIONS 3" in sql
    for write in ("INSERT", "UPDATE", "DELETE", "ALL PRIVILEGES", "SUPER"):
        assert write not in sql


def test_the_account_is_dropped_only_when_it_exists():
    run = run_operation(drop_monitoring_user, EXISTS, user="obs_exporter")
    assert run.succeeded
    [drop] = commands(run)
    assert shlex.split(drop) == ["mysql", "-e", "DROP USER IF EXISTS 'obs_exporter'@'localhost'"]
    assert commands(run_operation(drop_monitoring_user, MISSING, user="obs_exporter")) == []


def test_account_names_are_restricted_to_safe_characters():
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        user_sql_name = "x'; DROP"
        MysqlUserExists().command(user=user_sql_name)
