"""A component's desired state as data, and the one mechanism that makes a host match it.

Deploy files describe each component (`DesiredState`: pinned release, account, directories,
config files with their validators, systemd unit); `converge` applies any such description
the same way, whether it comes from templates (a deploy) or from a recorded release (a
rollback). Descriptions serialise to JSON for the release history (secrets left out).

Example (a deploy file)::

    from operations.converge import DesiredState, ConfigFile, converge
    converge(
        DesiredState(
            name="node_exporter", version="1.9.0", sha256="<64 hex>", user="node-exp",
            home="/var/lib/node_exporter", unit="node_exporter.service", unit_text=unit,
        ),
        Installation(source="/srv/mirror", cache_dir="/tmp/cache", keep_backups=10),
    )
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyinfra import host
from pyinfra.operations import files, server, systemd

from obsstack.catalog import RELEASE_ARCHIVES
from operations.archive import install_archive, prepare_archive, switch_back_command
from operations.config import managed_config
from operations.facts import FileNames
from operations.packages import deb_packages
from operations.service import daemon_account, service


@dataclass(frozen=True)
class ConfigFile:
    """A file the component's daemon reads; a change reloads the daemon.

    A secret file is never shown in diffs and its content is never stored in a release:
    a recorded release has ``content=None`` for it, which means "keep the file as it is".
    """

    path: str
    content: str | None
    validate: str | None = None  # shell command, {path} = the candidate file
    mode: str = "0640"
    secret: bool = False
    group: str | None = None  # None: the component's own group


@dataclass(frozen=True)
class ManagedDirectory:
    """A config directory of the component (root-owned, readable by its group)."""

    path: str
    # Files with this suffix that the component does not list are removed (None: keep all).
    prune_suffix: str | None = None
    group: str | None = None  # None: the component's own group


@dataclass(frozen=True)
class DesiredState:
    """A daemon and its configuration.

    A program from an upstream release archive has a pinned ``version`` and ``sha256``, its
    own ``user`` and our hardened ``unit_text``. A program from a distribution package
    (nginx) has none of these: the package installs it and ships its unit; the component
    then only manages its config files and reloads it.
    """

    name: str
    unit: str
    version: str | None = None
    sha256: str | None = None
    build: str | None = None  # the release's build number, where its archive is named with it
    user: str | None = None
    home: str | None = None
    # Its user's supplementary groups (the journal's readers, for a log shipper).
    groups: tuple[str, ...] = ()
    # Debian packages it needs besides its program (curl for a check of its configs).
    packages: tuple[str, ...] = ()
    unit_text: str | None = None
    config_dirs: tuple[ManagedDirectory, ...] = ()
    files: tuple[ConfigFile, ...] = field(default=())
    # The daemon reads its config files at start only: a change restarts it.
    restart_on_config: bool = False

    @property
    def group(self) -> str:
        """The group its config files belong to by default."""
        return self.user or "root"

    def to_record(self) -> dict[str, Any]:
        """JSON-ready description; secret files keep their path but not their content."""
        record = asdict(self)
        record["files"] = [
            {**asdict(f), "content": None} if f.secret else asdict(f) for f in self.files
        ]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DesiredState:
        return cls(
            **{
                **record,
                "groups": tuple(record.get("groups", ())),
                "packages": tuple(record.get("packages", ())),
                "config_dirs": tuple(ManagedDirectory(**d) for d in record["config_dirs"]),
                "files": tuple(ConfigFile(**f) for f in record["files"]),
            }
        )


@dataclass(frozen=True)
class Installation:
    """Where archives come from and how many config backups to keep (from settings)."""

    source: str
    cache_dir: str
    keep_backups: int


def converge(desired: DesiredState, installation: Installation) -> None:
    """Make the host run the component exactly as ``desired`` describes it."""
    packages = list(desired.packages)
    if desired.version and RELEASE_ARCHIVES[desired.name].layout.extension == "zip":
        packages.append("unzip")
    if packages:
        deb_packages(name=f"Install what {desired.name} needs", packages=sorted(set(packages)))
    if desired.user:
        daemon_account(desired.user, home=desired.home, groups=desired.groups)
    for directory in host.loop(desired.config_dirs):
        files.directory(
            name=f"Create {directory.path}",
            path=directory.path,
            user="root",
            group=directory.group or desired.group,
            mode="0750",
        )
    restart_on = []
    if desired.version:
        pin = {
            "component": desired.name,
            "version": desired.version,
            "sha256": desired.sha256,
            "build": desired.build,
            "source": installation.source,
            "cache_dir": installation.cache_dir,
        }
        prepare_archive(**pin)
        switch_back = switch_back_command(desired.name, desired.version)
        installed = install_archive(name=f"Install {desired.name} {desired.version}", **pin)
        restart_on.append(installed)
    configs = [
        managed_config(
            name=f"{desired.name}: {config.path}",
            dest=config.path,
            content=config.content,
            validate=config.validate,
            group=config.group or desired.group,
            mode=config.mode,
            secret=config.secret,
            keep_backups=installation.keep_backups,
        )
        for config in host.loop(desired.files)
        if config.content is not None
    ]
    if desired.version:
        # A version switched to must read the files it finds: those this run left as they
        # were were checked by the tools of the version before. Checked before the restart,
        # so a file it cannot read stops the deploy (and its rollback) with the old daemon
        # running and the links back on its version; all at once, as some checks wait out
        # a timeout.
        checks = [
            config.validate.format(path=shlex.quote(config.path))
            for config in desired.files
            if config.validate and config.content is not None
        ]
        if checks:
            check = all_of(checks)
            if switch_back:
                check = f"{{ {check}; }} || {{ {switch_back}; exit 1; }}"
            server.shell(
                name=f"{desired.name}: check its configs with {desired.version}",
                commands=[check],
                _if=installed.did_change,
            )
    configs += _remove_unlisted(desired)
    if desired.restart_on_config:
        restart_on, configs = restart_on + configs, []
    service(
        desired.unit,
        desired.unit_text,
        restart_on=restart_on,
        reload_on=configs,
        keep_backups=installation.keep_backups,
    )


def all_of(checks: Sequence[str]) -> str:
    """One shell command running ``checks`` side by side; it fails if any of them fails."""
    started = " ".join(f"( {check} ) & pids=\"$pids $!\";" for check in checks)
    waited = "failed=0; for p in $pids; do wait $p || failed=1; done; test $failed = 0"
    return f'pids=""; {started} {waited}'


def _remove_unlisted(desired: DesiredState) -> list:
    """Files the project no longer ships (e.g. a dropped rule file) must not stay live."""
    listed = {config.path for config in desired.files}
    removals = []
    for directory in host.loop(desired.config_dirs):
        if directory.prune_suffix is None:
            continue
        for name in host.loop(host.get_fact(FileNames, path=directory.path)):
            path = f"{directory.path}/{name}"
            if name.endswith(directory.prune_suffix) and path not in listed:
                removals.append(
                    files.file(name=f"Remove unmanaged {path}", path=path, present=False)
                )
    return removals


def retire(component: str, unit: str, binaries: Sequence[str]) -> None:
    """Stop and remove a release-archive daemon: its unit, binaries and every version.

    Its configs, data and account are the caller's to remove (or keep, so that installing
    it again picks up where it left off).
    """
    systemd.service(name=f"Stop and disable {unit}", service=unit, running=False, enabled=False)
    unit_file = files.file(
        name=f"Remove {unit}", path=f"/etc/systemd/system/{unit}", present=False
    )
    systemd.daemon_reload(name=f"Forget {unit}", _if=unit_file.did_change)
    for binary in host.loop(binaries):
        files.link(
            name=f"Remove /usr/local/bin/{binary}", path=f"/usr/local/bin/{binary}", present=False
        )
    files.directory(name=f"Remove /opt/{component}", path=f"/opt/{component}", present=False)
