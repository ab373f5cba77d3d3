"""The release-archive components this project installs, and how upstream names their files.

Example::

    >>> from obsstack.components import COMPONENTS
    >>> COMPONENTS["prometheus"].archive_name("3.14.0")
    'prometheus-3.14.0.linux-amd64.tar.gz'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    """A program shipped as an upstream release archive (Prometheus-family layout)."""

    name: str
    github_repo: str
    binaries: tuple[str, ...]
    checksum_file: str = "sha256sums.txt"

    def archive_stem(self, version: str, arch: str = "amd64") -> str:
        """The archive's top directory, e.g. ``prometheus-3.14.0.linux-amd64``."""
        return f"{self.name}-{version}.linux-{arch}"

    def archive_name(self, version: str, arch: str = "amd64") -> str:
        return f"{self.archive_stem(version, arch)}.tar.gz"


COMPONENTS: dict[str, Component] = {
    component.name: component
    for component in (
        Component("prometheus", "prometheus/prometheus", ("prometheus", "promtool")),
        Component("alertmanager", "prometheus/alertmanager", ("alertmanager", "amtool")),
        Component("node_exporter", "prometheus/node_exporter", ("node_exporter",)),
    )
}
