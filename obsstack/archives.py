"""The release-archive components this project installs, and how upstream names their files.

Two release tools make the archives, and they lay them out differently:

- promu (the Prometheus projects): ``prometheus-3.14.0.linux-amd64.tar.gz``, every file under
  a top directory of the same name, checksums in ``sha256sums.txt``;
- goreleaser with its defaults (nginx-prometheus-exporter):
  ``nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz``, the files at the archive's root,
  checksums in ``nginx-prometheus-exporter_1.5.3_checksums.txt``.

Example::

    >>> from obsstack.archives import ARCHIVES
    >>> ARCHIVES["prometheus"].archive_name("3.14.0")
    'prometheus-3.14.0.linux-amd64.tar.gz'
    >>> ARCHIVES["prometheus"].top_directory("3.14.0")
    'prometheus-3.14.0.linux-amd64'
    >>> ARCHIVES["nginx_exporter"].archive_name("1.5.3")
    'nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz'
    >>> ARCHIVES["nginx_exporter"].top_directory("1.5.3") is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """How a release tool names an archive and its checksum file, as format strings.

    Fields in the formats: ``{project}`` (the name upstream's files carry), ``{version}``
    (no leading v) and, in ``stem``, ``{arch}`` (Go's name: amd64, arm64).
    """

    stem: str
    wrapped: bool  # everything sits under a top directory named like the stem
    checksums: str


PROMU = Layout("{project}-{version}.linux-{arch}", wrapped=True, checksums="sha256sums.txt")
GORELEASER = Layout(
    "{project}_{version}_linux_{arch}", wrapped=False, checksums="{project}_{version}_checksums.txt"
)


@dataclass(frozen=True)
class ReleaseArchive:
    """A program shipped as an upstream release archive (a GitHub release asset)."""

    name: str
    github_repo: str
    binaries: tuple[str, ...]
    layout: Layout = PROMU
    # The name upstream's files carry, when it is not the component's name.
    project: str | None = None

    @property
    def project_name(self) -> str:
        """The name upstream's files carry, e.g. ``nginx-prometheus-exporter``."""
        return self.project or self.name

    def archive_stem(self, version: str, arch: str = "amd64") -> str:
        """The archive's name without ``.tar.gz``, e.g. ``prometheus-3.14.0.linux-amd64``."""
        return self.layout.stem.format(project=self.project_name, version=version, arch=arch)

    def archive_name(self, version: str, arch: str = "amd64") -> str:
        return f"{self.archive_stem(version, arch)}.tar.gz"

    def top_directory(self, version: str, arch: str = "amd64") -> str | None:
        """The directory holding the archive's files, or None when they sit at its root."""
        return self.archive_stem(version, arch) if self.layout.wrapped else None

    def checksum_file(self, version: str) -> str:
        """The name of the release's file of sha256 sums, e.g. ``sha256sums.txt``."""
        return self.layout.checksums.format(project=self.project_name, version=version)


ARCHIVES: dict[str, ReleaseArchive] = {
    component.name: component
    for component in (
        ReleaseArchive("prometheus", "prometheus/prometheus", ("prometheus", "promtool")),
        ReleaseArchive("alertmanager", "prometheus/alertmanager", ("alertmanager", "amtool")),
        ReleaseArchive("node_exporter", "prometheus/node_exporter", ("node_exporter",)),
        ReleaseArchive("mysqld_exporter", "prometheus/mysqld_exporter", ("mysqld_exporter",)),
        ReleaseArchive("blackbox_exporter", "prometheus/blackbox_exporter", ("blackbox_exporter",)),
        # Since 1.0; the 0.x releases named their checksum file sha256sums.txt.
        ReleaseArchive(
            "nginx_exporter",
            "nginx/nginx-prometheus-exporter",
            ("nginx-prometheus-exporter",),
            layout=GORELEASER,
            project="nginx-prometheus-exporter",
        ),
    )
}
