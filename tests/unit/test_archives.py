"""Upstream's archive names per release tool, and which pins a host needs."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from obsstack.artifacts import archive_location
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.settings import check_data, missing_keys

REPO = Path(__file__).resolve().parents[2]
PINS = runpy.run_path(str(REPO / "group_data" / "all.py"))["releases"]


@pytest.mark.parametrize(
    ("component", "version", "archive", "top", "checksums"),
    [
        (
            "prometheus", "3.14.0", "prometheus-3.14.0.linux-amd64.tar.gz",
            "prometheus-3.14.0.linux-amd64", "sha256sums.txt",
        ),
        (
            "mysqld_exporter", "0.20.0", "mysqld_exporter-0.20.0.linux-amd64.tar.gz",
            "mysqld_exporter-0.20.0.linux-amd64", "sha256sums.txt",
        ),
        (
            "blackbox_exporter", "0.28.0", "blackbox_exporter-0.28.0.linux-amd64.tar.gz",
            "blackbox_exporter-0.28.0.linux-amd64", "sha256sums.txt",
        ),
        # goreleaser's defaults: underscores, files at the archive's root, named checksums.
        (
            "nginx_exporter", "1.5.3", "nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz",
            None, "nginx-prometheus-exporter_1.5.3_checksums.txt",
        ),
    ],
)
def test_archive_names_follow_upstream(component, version, archive, top, checksums):
    spec = RELEASE_ARCHIVES[component]
    assert spec.archive_name(version) == archive
    assert spec.top_directory(version) == top
    assert spec.checksum_file(version) == checksums


def test_nginx_exporter_downloads_from_the_nginx_organisation():
    assert archive_location("nginx_exporter", "1.5.3", "github") == (
        "https://github.com/nginx/nginx-prometheus-exporter/releases/download/v1.5.3/"
        "nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz"
    )
    assert archive_location("nginx_exporter", "1.4.1", "/srv/mirror") == (
        "/srv/mirror/nginx_exporter/1.4.1/nginx-prometheus-exporter_1.4.1_linux_amd64.tar.gz"
    )


def test_the_shipped_pins_cover_every_component_and_are_valid():
    assert set(PINS) == set(RELEASE_ARCHIVES)
    assert check_data({"releases": PINS}, "group_data/all.py") == []


def test_releases_written_before_the_exporters_existed_stay_valid():
    # A user's own pins from before the exporters: the original three components, and Loki,
    # which the server runs since (a pin of one's own must name it: the error says so).
    older = {name: PINS[name] for name in ("prometheus", "alertmanager", "node_exporter", "loki")}
    assert check_data({"releases": older}, "group_data/all.py") == []
    problems = missing_keys("obs", {"observability"}, {"releases": older})
    assert not any("releases." in problem for problem in problems), problems


def test_a_host_must_pin_what_its_roles_run():
    only_node = {"node_exporter": PINS["node_exporter"]}
    [problem] = missing_keys("obs", {"observability"}, {"releases": only_node})
    assert "releases.prometheus" in problem and "releases.alertmanager" in problem
    monitored = missing_keys("web1", {"monitored"}, {"releases": only_node})
    assert not any("releases." in problem for problem in monitored), monitored


def test_a_host_must_pin_the_agents_it_lists():
    only_node = {"node_exporter": PINS["node_exporter"]}
    [problem] = missing_keys("web1", {"monitored"}, {"releases": only_node, "agents": ["nginx"]})
    assert "releases.nginx_exporter" in problem and "releases.mysqld_exporter" not in problem
    detected = missing_keys("web1", {"monitored"}, {"releases": only_node, "agents": "auto"})
    assert not any("releases." in problem for problem in detected), detected


def test_grafana_downloads_from_grafanas_own_site_with_its_build_number():
    spec = RELEASE_ARCHIVES["grafana"]
    pin = PINS["grafana"]
    name = "grafana_13.2.3_36482603486_linux_amd64.tar.gz"
    assert spec.archive_name(pin["version"], pin["build"]) == name
    assert spec.top_directory(pin["version"], pin["build"]) is None  # it varies: stripped
    assert spec.checksum_file(pin["version"], pin["build"]) == f"{name}.sha256"
    assert archive_location("grafana", "13.2.3", "github", "36482603486") == (
        f"https://dl.grafana.com/grafana/release/13.2.3/{name}"
    )
    assert archive_location("grafana", "13.2.3", "/srv/mirror", "36482603486") == (
        f"/srv/mirror/grafana/13.2.3/{name}"
    )
