"""What ``deploys/uninstall.py`` removes, planned on ``@fake`` hosts: the daemon accounts and
their homes go with ``purge`` only, every exporter's alike."""

from __future__ import annotations

import pytest
from planned_operations import planned_operations

HOSTS = {"obs": "observability", "web1": "monitored"}
ACCOUNTS = {
    "obs": [
        ("node-exp", "/var/lib/node_exporter"),
        ("prometheus", "/var/lib/prometheus"),
        ("alertmanager", "/var/lib/alertmanager"),
        ("blackbox-exp", "/var/lib/blackbox_exporter"),
    ],
    "web1": [
        ("node-exp", "/var/lib/node_exporter"),
        ("nginx-exp", "/var/lib/nginx_exporter"),
        ("mysqld-exp", "/var/lib/mysqld_exporter"),
    ],
}


def purge_operations(user: str, home: str) -> set[str]:
    # "Remove user" removes its group of the same name too.
    return {f"Purge {home}", f"Remove user {user}"}


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> dict[bool, dict[str, list[str]]]:
    return {
        purge: planned_operations(
            tmp_path_factory.mktemp(f"purge-{purge}"),
            "deploys/uninstall.py",
            HOSTS,
            data={"purge": purge},
        )
        for purge in (False, True)
    }


@pytest.mark.parametrize("host", HOSTS)
def test_purge_deletes_every_daemon_account_and_its_home(planned, host):
    for user, home in ACCOUNTS[host]:
        assert purge_operations(user, home) <= set(planned[True][host]), user


@pytest.mark.parametrize("host", HOSTS)
def test_without_purge_accounts_and_data_stay(planned, host):
    names = set(planned[False][host])
    for user, home in ACCOUNTS[host]:
        assert not purge_operations(user, home) & names, user
    assert not [name for name in names if name.startswith(("Purge ", "Remove user "))]
