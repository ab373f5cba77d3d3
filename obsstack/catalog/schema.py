"""What a catalog entry is made of: one ``Component`` per program or agent, and its parts.

Entries are data: the deploy, uninstall, firewall, scrape config, preflight, health and the
README's tables read them; only what data cannot say (a config file's text, the MySQL
account) lives in the component's deploy module.

Three release tools make the upstream archives, and they lay them out differently:

- promu (the Prometheus projects): ``prometheus-3.14.0.linux-amd64.tar.gz``, every file under
  a top directory of the same name, checksums in ``sha256sums.txt``;
- goreleaser with its defaults (nginx-prometheus-exporter):
  ``nginx-prometheus-exporter_1.5.3_linux_amd64.tar.gz``, the files at the archive's root,
  checksums in ``nginx-prometheus-exporter_1.5.3_checksums.txt``;
- Grafana's (Loki, Alloy): ``loki-linux-amd64.zip`` (the version is only in the download's
  path), one file named for the platform (``loki-linux-amd64``), checksums in
  ``SHA256SUMS``;
- Grafana's own, from dl.grafana.com rather than GitHub:
  ``grafana_13.2.3_36482603486_linux_amd64.tar.gz`` (a build number in the name), the whole
  program tree (``bin/grafana``, ``conf/``, ``public/``) under a top directory whose name
  varies between releases, checksum in ``<archive>.sha256``.

Example::

    >>> from obsstack.catalog.schema import GORELEASER, GRAFANA, GRAFANA_SERVER, Pin, ReleaseArchive
    >>> pin = Pin("3.14.0", "f665c6da19eb7ba399c915d30c7d9793c9b417bf8a749b504bc470678631478d")
    >>> archive = ReleaseArchive("prometheus/prometheus", "prometheus", ("prometheus",), pin)
    >>> archive.archive_name("3.14.0"), archive.top_directory("3.14.0")
    ('prometheus-3.14.0.linux-amd64.tar.gz', 'prometheus-3.14.0.linux-amd64')
    >>> nginx = ReleaseArchive(
    ...     "nginx/nginx-prometheus-exporter", "nginx-prometheus-exporter",
    ...     ("nginx-prometheus-exporter",), Pin("1.5.3", "0" * 64), layout=GORELEASER,
    ... )
    >>> nginx.checksum_file("1.5.3"), nginx.top_directory("1.5.3") is None
    ('nginx-prometheus-exporter_1.5.3_checksums.txt', True)
    >>> loki = ReleaseArchive("grafana/loki", "loki", ("loki",), Pin("3.7.8", "0" * 64), GRAFANA)
    >>> loki.archive_name("3.7.8"), loki.member_name("loki")
    ('loki-linux-amd64.zip', 'loki-linux-amd64')
    >>> grafana = ReleaseArchive(
    ...     "grafana/grafana", "grafana", ("grafana",), Pin("13.2.3", "0" * 64, "36482603486"),
    ...     GRAFANA_SERVER,
    ... )
    >>> grafana.archive_name("13.2.3", "36482603486"), grafana.installed_path("grafana")
    ('grafana_13.2.3_36482603486_linux_amd64.tar.gz', 'bin/grafana')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from obsstack.fields import Field, Section


@dataclass(frozen=True)
class Layout:
    """How a release tool names an archive and its checksum file, as format strings.

    Fields in the formats: ``{project}`` (the name upstream's files carry), ``{version}``
    (no leading v), ``{build}`` (a release's build number, where the name carries one),
    ``{arch}`` (Go's name: amd64, arm64), in ``member`` ``{binary}``, in ``checksums`` and
    ``download`` ``{archive}`` (the archive's file name).
    """

    stem: str
    wrapped: bool  # everything sits under a top directory named like the stem
    checksums: str
    extension: str = "tar.gz"  # or "zip"
    member: str = "{binary}"  # a binary's file name in the archive
    # Upstream's download URL, when it is not a GitHub release (None).
    download: str | None = None
    # The top directory's name is not the stem and varies between releases: whatever it is,
    # it is stripped.
    any_top: bool = False
    # The archive is the program's whole tree (binaries beside their assets), installed as
    # it is: /opt/NAME/current points at the active version for the unit to find it.
    home: bool = False


PROMU = Layout("{project}-{version}.linux-{arch}", wrapped=True, checksums="sha256sums.txt")
GORELEASER = Layout(
    "{project}_{version}_linux_{arch}", wrapped=False, checksums="{project}_{version}_checksums.txt"
)
GRAFANA = Layout(
    "{project}-linux-{arch}",
    wrapped=False,
    checksums="SHA256SUMS",
    extension="zip",
    member="{binary}-linux-{arch}",
)
GRAFANA_SERVER = Layout(
    "{project}_{version}_{build}_linux_{arch}",
    wrapped=True,
    checksums="{archive}.sha256",
    member="bin/{binary}",
    download="https://dl.grafana.com/grafana/release/{version}/{archive}",
    any_top=True,
    home=True,
)


@dataclass(frozen=True)
class Pin:
    """A release: its version (no leading v) and the sha256 of its linux-amd64 archive, from
    the release's checksum file; for an archive named with it, the release's build number."""

    version: str
    sha256: str
    build: str | None = None


@dataclass(frozen=True)
class ReleaseArchive:
    """A program shipped as an upstream release archive (a GitHub release asset)."""

    github_repo: str
    project: str  # the name upstream's files carry, e.g. nginx-prometheus-exporter
    binaries: tuple[str, ...]  # the first is the program; it reports the version
    pin: Pin  # the release installed unless ``releases`` pins another
    layout: Layout = PROMU

    @property
    def needs_build(self) -> bool:
        """Whether its archive's name carries the release's build number (its pins need it)."""
        return "{build}" in self.layout.stem

    def archive_stem(self, version: str, build: str | None = None, arch: str = "amd64") -> str:
        """The archive's name without its extension, e.g. ``prometheus-3.14.0.linux-amd64``."""
        return self.layout.stem.format(
            project=self.project, version=version, build=build, arch=arch
        )

    def archive_name(self, version: str, build: str | None = None, arch: str = "amd64") -> str:
        return f"{self.archive_stem(version, build, arch)}.{self.layout.extension}"

    def member_name(self, binary: str, arch: str = "amd64") -> str:
        """The file name ``binary`` has in the archive."""
        return self.layout.member.format(binary=binary, arch=arch)

    def installed_path(self, binary: str) -> str:
        """Where ``binary`` is in an installed version's directory: its place in a program
        tree, or its own name (a binary named for its platform is renamed)."""
        return self.member_name(binary) if self.layout.home else binary

    def top_directory(self, version: str, build: str | None = None) -> str | None:
        """The directory holding the archive's files, or None when they sit at its root or
        under a directory whose name varies (``any_top``)."""
        if not self.layout.wrapped or self.layout.any_top:
            return None
        return self.archive_stem(version, build)

    def checksum_file(self, version: str, build: str | None = None) -> str:
        """The name of the release's file of sha256 sums, e.g. ``sha256sums.txt``."""
        return self.layout.checksums.format(
            project=self.project, version=version, archive=self.archive_name(version, build)
        )


@dataclass(frozen=True)
class Account:
    """The system user (and its group of the same name) a daemon runs as, and its home: its
    data directory, kept when it is removed unless purged, like the account."""

    user: str
    home: str
    # Groups it is a member of besides its own (a log shipper reads the journal and /var/log).
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitContext:
    """What a unit's command line is made of on one host."""

    settings: Mapping[str, Any]  # the host's settings
    listen: str | None  # address:port it listens on (None: it listens nowhere)
    external_url: str | None  # where users reach it through the proxy (None: they do not)


@dataclass(frozen=True)
class Unit:
    """Its systemd unit. With ``flags``, our hardened unit runs the archive's first binary
    with them; without, the package ships the unit (nginx)."""

    name: str
    description: str = ""
    documentation: str = ""
    flags: Callable[[UnitContext], list[str]] | None = None
    read_write: tuple[str, ...] = ()  # the only paths it may write (ProtectSystem=strict)
    reload_signal: str | None = "HUP"  # None: it reads its configuration at start only
    address_families: tuple[str, ...] = ("AF_INET", "AF_INET6", "AF_UNIX")


@dataclass(frozen=True)
class Directory:
    """A config directory of the component (root-owned, readable by its group); removed
    with the component."""

    path: str
    # Files with this suffix that the component does not list are removed (None: keep all).
    prune_suffix: str | None = None
    group: str | None = None  # None: the component's own group


@dataclass(frozen=True)
class Listen:
    """A port it listens on: a setting's, or a fixed one. Its daemons listen on loopback on
    the observability server, on the host's one exporter address elsewhere
    (obsstack.addresses)."""

    port: str | int
    # The program that holds the port for it, when that is not its own binary: a Debian
    # package's, named by that package's entry (nginx serves the agents' status pages).
    program: str | None = None

    def number(self, settings: Mapping[str, Any]) -> int:
        """The port on a host with ``settings``."""
        return self.port if isinstance(self.port, int) else settings[self.port]


@dataclass(frozen=True)
class ProxyLocation:
    """Where the reverse proxy serves it (to the port it listens on), behind basic auth."""

    name: str  # the permission in proxy_users that lets a user read it
    path: str
    write_permission: str | None = None  # the permission that lets a user write too


@dataclass(frozen=True)
class Agent:
    """A component a monitored host runs when its ``agents`` setting names it, or when
    detection (``agents = "auto"``) finds its software installed."""

    name: str
    # The systemd unit files (globs of whole names, as systemctl and the shell match them)
    # that show its software is there; none: never detected, a host runs it only when its
    # list names it.
    detected_by: tuple[str, ...] = ()
    needs: str | None = None  # an agent it works through: found only where that one is


@dataclass(frozen=True)
class Scrape:
    """Prometheus' job for it: a target per host that runs it, on its listen port."""

    job: str
    # One target per PHP-FPM pool of the host instead, labelled with the pool.
    per_pool: bool = False
    # Keep the job and instance labels the scraped series carry (what a Pushgateway serves
    # for the jobs that pushed to it) instead of the target's.
    honor_labels: bool = False
    # The label that then names the host scraped (the target's instance), on every series.
    host_label: str | None = None


@dataclass(frozen=True)
class Health:
    """What ``invoke health`` checks of it: its unit is active and it answers 200 at
    ``ready_path`` (below its route prefix) on the port it listens on."""

    ready_path: str
    disk: bool = False  # its home holds data: health watches the free space there


# A charset for secrets that files without reliable quoting carry (a .my.cnf, a curl
# config): what generated secrets use, and nothing those files would read specially.
QUOTE_FREE = re.compile(r"[A-Za-z0-9._~+=/-]+")
QUOTE_FREE_TEXT = "letters, digits and . _ ~ + = / -"


@dataclass(frozen=True)
class Secret:
    """A secret it needs, read on the controller (obsstack.secrets), and when it needs it."""

    name: str  # with ``one_per``: the prefix of one secret per key of that setting
    purpose: str  # with ``one_per``: formatted with {key}
    generated: bool  # False: the value belongs to someone else (e.g. a mail relay password)
    # The host path it is written to (a file, or a directory of its files): no backup of
    # that may stay behind.
    kept_in: str
    # The characters its value may use, where the file that carries it needs a limit.
    charset: re.Pattern | None = None
    charset_text: str = ""
    # A setting (``section.key``) that must be set for it to be needed; None: wherever the
    # component runs.
    needed_when: str | None = None
    one_per: str | None = None  # a dict setting: one secret per key (proxy_users)
    # With ``one_per``: the key of a list setting's items that names each one (None: the
    # setting is a dict, one secret per key).
    one_per_key: str | None = None
    # With ``one_per``: whether an item calls for a secret (None: every one does).
    one_per_where: Callable[[Any], bool] | None = None
    key_name: str = "key"  # what a key of that setting is, in messages
    # One secret per monitored host of the inventory, named by its instance label: the
    # observability server's store holds every one of them.
    per_host: bool = False

    def name_for(self, key: str) -> str:
        """The name of the secret of ``key`` of its ``one_per`` setting."""
        return f"{self.name}{key}"


SCRAPERS = "scrapers"  # the observability servers' scrape addresses
ANYWHERE = "anywhere"


@dataclass(frozen=True)
class Opening:
    """An inbound port UFW lets in for it: a setting's port or a fixed one. A port opened
    to the scrapers stays closed where it listens on loopback (the observability server)."""

    port: str | int
    source: str  # SCRAPERS or ANYWHERE
    comment: str | None = None  # None: the component's name

    def number(self, settings: Mapping[str, Any]) -> int:
        """The port on a host with ``settings``."""
        return self.port if isinstance(self.port, int) else settings[self.port]


@dataclass(frozen=True)
class LogFiles:
    """Log files of a component that the log shipper (Alloy) sends to Loki from the hosts
    that run it, as streams labelled ``job``."""

    job: str
    paths: tuple[str, ...]  # globs
    # How Alloy parses a line into structured metadata (None: sent as it is).
    parser: str | None = None


NGINX_COMBINED = "nginx_combined"  # nginx's default access log format


@dataclass(frozen=True)
class Hooks:
    """What data cannot say: functions of its deploy module, as ``module:function``."""

    before: str | None = None  # runs before it converges (the MySQL account)
    files: str | None = None  # returns its config files (tuple of ConfigFile)
    after: str | None = None  # runs once it converged (certbot)
    remove: str | None = None  # runs when it is removed, once its program is gone


class NoDefault:
    """The default of a setting without one: a deployment sets it, or it stays unset."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT = NoDefault()


@dataclass(frozen=True)
class Setting:
    """A key of group and host data: what it is for, the check its value must pass and its
    default (group_data/all.py loads every default; group data and inventories override)."""

    key: str
    check: Field | Section
    description: str
    default: Any = NO_DEFAULT
    # False: a host's data may lack it (a value a run sets, or one whose absence means "use
    # the derived value").
    required: bool = True
    # The groups whose hosts need it; None: those of its component.
    roles: tuple[str, ...] | None = None


# The roles of a component that every host runs, whatever its groups.
EVERY_HOST: tuple[str, ...] = ()


@dataclass(frozen=True)
class Component:
    """One program or agent of the stack: everything the project knows about it."""

    name: str  # its release pin, /opt/<name> and recorded release use this name
    summary: str
    roles: tuple[str, ...]  # the groups whose hosts run it (EVERY_HOST: all of them)
    archive: ReleaseArchive | None = None  # None: a Debian package, or no program at all
    # Where the Debian package installs its program, for one that comes from a package.
    packaged_binary: str | None = None
    # Debian packages it needs besides its program (a zip archive's unzip comes anyway).
    packages: tuple[str, ...] = ()
    agent: Agent | None = None
    # A setting that must be non-empty for it to run (None: it runs wherever its roles say).
    enabled_by: str | None = None
    account: Account | None = None
    unit: Unit | None = None  # None: no daemon of ours (its hooks do what it needs)
    directories: tuple[Directory, ...] = ()
    # The ports it listens on; the first is where it is scraped and proxied.
    listens: tuple[Listen, ...] = ()
    route_prefix: str = ""  # the path it serves under: its location behind the proxy
    proxy: ProxyLocation | None = None
    scrape: Scrape | None = None
    health: Health | None = None
    secrets: tuple[Secret, ...] = ()
    settings: tuple[Setting, ...] = ()
    # The thresholds its alert rules read (keys of the ``alert_rules`` setting).
    alert_thresholds: tuple[Setting, ...] = ()
    # Its alert rules, templates/prometheus/rules/agents/<rules>.rules.yml.j2: deployed
    # while some host runs it.
    rules: str | None = None
    firewall: tuple[Opening, ...] = ()
    logs: tuple[LogFiles, ...] = ()  # what the log shipper reads of it besides the journal
    # The daemon reads its config files at start only: a change restarts it.
    restart_on_config: bool = False
    hooks: Hooks = Hooks()

    @property
    def listen(self) -> Listen | None:
        """The port it is scraped and proxied on (None: it listens nowhere)."""
        return self.listens[0] if self.listens else None

    @property
    def removed_paths(self) -> tuple[str, ...]:
        """Its directories that are not inside another of them: what removal deletes."""
        return tuple(
            directory.path
            for directory in self.directories
            if not any(
                directory.path.startswith(f"{other.path}/") for other in self.directories
            )
        )
