"""obsstack.addresses reads a host's settings the way a deploy has them: pyinfra's HostData,
which answers ``get`` and attributes but not ``[key]``."""

from __future__ import annotations

from pyinfra.api.host import HostData

from obsstack.addresses import LOOPBACK, listen_address, scrape_host


def test_a_listen_address_set_in_host_data_is_the_one_exporters_listen_on():
    data = HostData("web1", {"listen_address": "10.0.0.5", "ssh_hostname": "203.0.113.5"})
    assert listen_address("web1", ["monitored"], data) == "10.0.0.5"


def test_without_one_the_scrape_address_is_used_and_the_server_listens_on_loopback():
    data = HostData("web1", {"ssh_hostname": "203.0.113.5"})
    assert scrape_host("web1", ["monitored"], data) == "203.0.113.5"
    assert listen_address("web1", ["monitored"], data) == "203.0.113.5"
    assert listen_address("obs", ["observability"], data) == LOOPBACK
