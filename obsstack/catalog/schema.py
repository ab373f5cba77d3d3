"""What a catalog entry is made of: one ``Component`` per program or agent, and its parts.

Entries are data: the deploy, uninstall, firewall, scrape config, preflight, health and the
README's tables read them; only what data cannot say (a config file's text, the MySQL
account) lives in the component's deploy module.

Two release tools make the upstream archives, and they lay them out differently:

- promu (the Prometheus projects): ``prometheus-3.14.0.linux-amd64.tar.gz``, every file under
  a top directory of the same name, checksums in ``sha256sums.txt``;
- goreleaser with its defaults (nginx-prometheus-exporter):
  ``nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz``, the files at the archive's root,
  checksums in ``nginx-prometheus-exporter_1.5.3_checksums.txt``.

Example::

    >>> from obsstack.catalog.schema import GORELEASER, ReleaseArchive
    >>> archive = ReleaseArchive("prometheus/prometheus", "prometheus", ("prometheus",))
    >>> archive.archive_name("3.14.0"), archive.top_directory("3.14.0")
    ('prometheus-3.14.0.linux-amd64.tar.gz', 'prometheus-3.14.0.linux-amd64')
    >>> nginx = ReleaseArchive(
    ...     "nginx/nginx-prometheus-exporter", "nginx-prometheus-exporter",
    ...     ("nginx-prometheus-exporter",), layout=GORELEASER,
    ... )
    >>> nginx.checksum_file("1.5.3"), nginx.top_directory("1.5.3") is None
    ('nginx-prometheus-exporter_1.5.3_checksums.txt', True)
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

    github_repo: str
    project: str  # the name upstream's files carry, e.g. nginx-prometheus-exporter
    binaries: tuple[str, ...]  # the first is the program; it reports the version
    layout: Layout = PROMU

    def archive_stem(self, version: str, arch: str = "amd64") -> str:
        """The archive's name without ``.tar.gz``, e.g. ``prometheus-3.14.0.linux-amd64``."""
        return self.layout.stem.format(project=self.project, version=version, arch=arch)

    def archive_name(self, version: str, arch: str = "amd64") -> str:
        return f"{self.archive_stem(version, arch)}.tar.gz"

    def top_directory(self, version: str, arch: str = "amd64") -> str | None:
        """The directory holding the archive's files, or None when they sit at its root."""
        return self.archive_stem(version, arch) if self.layout.wrapped else None

    def checksum_file(self, version: str) -> str:
        """The name of the release's file of sha256 sums, e.g. ``sha256sums.txt``."""
        return self.layout.checksums.format(project=self.project, version=version)


# The roles of a component that every host runs, whatever its groups.
EVERY_HOST: tuple[str, ...] = ()


@dataclass(frozen=True)
class Component:
    """One program or agent of the stack: everything the project knows about it."""

    name: str  # its release pin, /opt/<name> and recorded release use this name
    summary: str
    roles: tuple[str, ...]  # the groups whose hosts run it (EVERY_HOST: all of them)
    archive: ReleaseArchive | None = None  # None: a Debian package, or no program at all
