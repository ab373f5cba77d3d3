"""The agents of monitored hosts: what the ``agents`` setting names, besides node_exporter.

Example::

    >>> from obsstack.catalog.agents import NGINX_EXPORTER
    >>> NGINX_EXPORTER.archive.archive_name("1.5.3")
    'nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz'
"""

from __future__ import annotations

from obsstack.catalog.schema import GORELEASER, Component, ReleaseArchive

MONITORED = ("monitored",)

NGINX_EXPORTER = Component(
    name="nginx_exporter",
    summary="nginx's stub_status as metrics (nginx-prometheus-exporter)",
    roles=MONITORED,
    # Since 1.0; the 0.x releases named their checksum file sha256sums.txt.
    archive=ReleaseArchive(
        "nginx/nginx-prometheus-exporter",
        "nginx-prometheus-exporter",
        ("nginx-prometheus-exporter",),
        layout=GORELEASER,
    ),
)
MYSQLD_EXPORTER = Component(
    name="mysqld_exporter",
    summary="MySQL/MariaDB metrics through a read-only monitoring account",
    roles=MONITORED,
    archive=ReleaseArchive("prometheus/mysqld_exporter", "mysqld_exporter", ("mysqld_exporter",)),
)
PHP_FPM = Component(
    name="php_fpm",
    summary="each PHP-FPM pool's own status page, served by nginx to Prometheus",
    roles=MONITORED,
)
FAIL2BAN = Component(
    name="fail2ban",
    summary="jail and ban counts through node_exporter's textfile collector",
    roles=MONITORED,
)
