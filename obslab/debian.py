"""Debian's builds of the release-archive programs (``obsstack.catalog``), per Debian release.

GitHub release archives cannot be downloaded on the lab machines, but Debian ships real builds
of the same programs. This module fetches those packages for a given Debian release
("bookworm" or "trixie"), whatever release the controller itself runs, and unpacks the
binaries under their upstream names so that ``obslab.mirror`` can pack release-shaped
archives from them.

apt does the work with a private configuration per release (its own sources list, package
lists, cache and an empty dpkg status), so the controller's own sources, pins and installed
packages play no part. Release files are verified with the Debian archive keyring, as for any
apt source: nothing is downloaded unverified.

Layout under ``CACHE_DIR/<release>/`` (``CACHE_DIR`` is ``$OBS_LAB_CACHE/debian`` when that
variable is set)::

    apt/            apt.conf, sources.list and apt's private state and cache
    debs/           the downloaded .deb files, one per package
    root/           the packages unpacked with ``dpkg-deb -x``
    bin/            every binary of the catalog's release archives, by its upstream name
                    (symlinks)
    versions.json   {"prometheus": "2.53.3", ...}: the version each binary reports
    packages.json   {"prometheus": "2.53.3+ds1-2", ...}: the Debian package versions

Downloaded packages are kept until removed: delete ``CACHE_DIR/<release>/debs`` to pick up a
newer Debian build (e.g. after a point release); the next call then fetches and unpacks it.

Example (as root)::

    from obslab.debian import extract_binaries, reported_versions
    bin_dir = extract_binaries("trixie")    # downloads once; later calls use the cache
    print(bin_dir / "node_exporter", reported_versions("trixie"))
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from obslab.machines import LabError
from obsstack.catalog import RELEASE_ARCHIVES
from operations.facts import NGINX_0_PREFIX, parse_version

DEFAULT_CACHE_ROOT = Path("/var/cache/obs-lab")
CACHE_DIR = Path(os.environ.get("OBS_LAB_CACHE") or DEFAULT_CACHE_ROOT) / "debian"

DEBIAN_MIRROR = "http://deb.debian.org"
ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
KEYRING_PACKAGE = "debian-archive-keyring"
RELEASES = ("bookworm", "trixie")
APT_TIMEOUT_SECONDS = 900
VERSION_TIMEOUT_SECONDS = 30

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Program:
    """A binary as upstream names it, and where a Debian package installs it."""

    name: str
    component: str
    package: str
    package_path: str
    # How the first line of its ``--version`` output starts, when not "NAME, version ".
    banners: tuple[str, ...] = ()
    # The releases that ship it in another package than ``package``.
    package_in: Mapping[str, str] = field(default_factory=dict)

    @property
    def version_banners(self) -> tuple[str, ...]:
        """The starts of a ``--version`` line that name this program."""
        return self.banners or (f"{self.name}, version ",)


# Debian ships a component's main program as prometheus-<component, dashed>, in a package of
# that name; these are the programs it ships otherwise (checked with `apt-cache show` in each
# release: trixie moved promtool out of the prometheus package into its own).
EXCEPTIONS = {
    "prometheus": Program("prometheus", "prometheus", "prometheus", "usr/bin/prometheus"),
    "promtool": Program(
        "promtool",
        "prometheus",
        "prometheus",
        "usr/bin/promtool",
        package_in={"trixie": "promtool"},
    ),
    "amtool": Program("amtool", "alertmanager", "prometheus-alertmanager", "usr/bin/amtool"),
    # Upstream's binary calls itself nginx_exporter since 1.0; bookworm has 0.11.
    "nginx-prometheus-exporter": Program(
        "nginx-prometheus-exporter",
        "nginx_exporter",
        "prometheus-nginx-exporter",
        "usr/bin/prometheus-nginx-exporter",
        banners=("nginx_exporter, version ", NGINX_0_PREFIX),
    ),
}


def _debian_build(name: str, component: str) -> Program:
    package = "prometheus-" + component.replace("_", "-")
    return EXCEPTIONS.get(name) or Program(name, component, package, f"usr/bin/{package}")


# The release-archive components Debian does not package: Loki comes from a real build in
# the lab's shared folder (obslab.grafana), Alloy from nowhere here (the lab runs without it).
NOT_IN_DEBIAN = ("loki", "alloy", "grafana")
# Every binary of the catalog's release archives that Debian builds, as Debian builds it.
PROGRAMS = tuple(
    _debian_build(name, component)
    for component, archive in RELEASE_ARCHIVES.items()
    if component not in NOT_IN_DEBIAN
    for name in archive.binaries
)


class DebianError(LabError):
    """A Debian package could not be fetched, unpacked or run."""


def release_dir(release: str) -> Path:
    """Where everything fetched for ``release`` is kept."""
    _check_release(release)
    return CACHE_DIR / release


def package_of(release: str, program: str) -> str:
    """The Debian package that ships ``program`` (an upstream binary name) in ``release``."""
    _check_release(release)
    build = next(build for build in PROGRAMS if build.name == program)
    return build.package_in.get(release, build.package)


def _check_release(release: str) -> None:
    if release not in RELEASES:
        raise DebianError(f"unknown Debian release {release!r}: expected one of {RELEASES}")


def reported_versions(release: str) -> dict[str, str]:
    """{component: upstream version its binary reports}, as written by ``extract_binaries``."""
    return _read_json(release_dir(release) / "versions.json")


def package_versions(release: str) -> dict[str, str]:
    """{Debian package: Debian version} of the packages ``extract_binaries`` unpacked."""
    return _read_json(release_dir(release) / "packages.json")


def download_packages(release: str, packages: list[str], progress: Progress = print) -> list[Path]:
    """The .deb files of ``packages`` in ``release``, in the same order; cached ones are reused."""
    with _release_lock(release):
        return _download(release, packages, progress)


def extract_binaries(release: str, progress: Progress = print) -> Path:
    """Unpack the programs of ``release`` and return the directory of their upstream names."""
    directory = release_dir(release)
    with _release_lock(release):
        packages = sorted({package_of(release, program.name) for program in PROGRAMS})
        debs = _download(release, packages, progress)
        debian_versions = {
            package: _deb_version(deb) for package, deb in zip(packages, debs, strict=True)
        }
        if _read_json(directory / "packages.json", missing_ok=True) != debian_versions:
            progress(f"debian: unpacking {release} packages {', '.join(packages)} ...")
            _unpack(release, debs, debian_versions)
    return directory / "bin"


def _download(release: str, packages: list[str], progress: Progress) -> list[Path]:
    debs_dir = release_dir(release) / "debs"
    cached = {package: _cached_deb(debs_dir, package) for package in packages}
    missing = [package for package, deb in cached.items() if deb is None]
    if missing:
        _ensure_keyring(progress)
        apt_config = _write_apt_config(release)
        progress(f"debian: updating {release} package lists ...")
        _apt(release, apt_config, ["apt-get", "update"])
        progress(f"debian: downloading {release} packages {', '.join(missing)} ...")
        for package, deb in _apt_download(release, apt_config, missing, debs_dir).items():
            cached[package] = deb
    return [cached[package] for package in packages]


def _cached_deb(debs_dir: Path, package: str) -> Path | None:
    # apt names downloads NAME_VERSION_ARCH.deb, and package names never contain "_".
    found = sorted(debs_dir.glob(f"{package}_*.deb"))
    return found[0] if len(found) == 1 else None


def _apt_download(
    release: str, apt_config: Path, packages: list[str], debs_dir: Path
) -> dict[str, Path]:
    """Download into a scratch directory, then move into ``debs_dir``: no half-written .deb."""
    debs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=debs_dir, prefix=".download-") as scratch:
        _apt(release, apt_config, ["apt-get", "download", *packages], cwd=Path(scratch))
        downloaded = {}
        for package in packages:
            deb = _cached_deb(Path(scratch), package)
            if deb is None:
                raise DebianError(
                    f"debian {release}: apt-get download {package} produced no .deb file"
                )
            for older in debs_dir.glob(f"{package}_*.deb"):
                older.unlink()
            downloaded[package] = deb.replace(debs_dir / deb.name)
        return downloaded


def _ensure_keyring(progress: Progress) -> None:
    if ARCHIVE_KEYRING.exists():
        return
    progress(f"debian: installing {KEYRING_PACKAGE} on the controller ...")
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", KEYRING_PACKAGE],
        capture_output=True, text=True, check=False, timeout=APT_TIMEOUT_SECONDS,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode != 0 or not ARCHIVE_KEYRING.exists():
        raise DebianError(
            f"{ARCHIVE_KEYRING} is missing and apt-get install {KEYRING_PACKAGE} failed "
            f"(exit {result.returncode}):\n{_tail(result.stdout + result.stderr)}"
        )


def _write_apt_config(release: str) -> Path:
    """A private apt configuration for ``release``; it is read after the controller's own.

    The controller's apt.conf.d stays in force (proxies, timeouts); what would tie the result
    to the controller (its sources, pins, installed packages, foreign architectures) is
    replaced, and update hooks are cleared: refreshing our private lists must not trigger the
    controller's PackageKit or AppStream.
    """
    apt_dir = release_dir(release) / "apt"
    for directory in ("state/lists/partial", "cache/archives/partial"):
        (apt_dir / directory).mkdir(parents=True, exist_ok=True)
    (apt_dir / "state/status").touch()
    sources = apt_dir / "sources.list"
    signed_by = f"[signed-by={ARCHIVE_KEYRING}]"
    sources.write_text(
        f"deb {signed_by} {DEBIAN_MIRROR}/debian {release} main\n"
        f"deb {signed_by} {DEBIAN_MIRROR}/debian {release}-updates main\n"
        f"deb {signed_by} {DEBIAN_MIRROR}/debian-security {release}-security main\n"
    )
    architecture = _architecture()
    config = apt_dir / "apt.conf"
    config.write_text(
        f'Dir::Etc::SourceList "{sources}";\n'
        'Dir::Etc::SourceParts "/dev/null";\n'
        'Dir::Etc::Preferences "/dev/null";\n'
        'Dir::Etc::PreferencesParts "/dev/null";\n'
        f'Dir::State "{apt_dir}/state";\n'
        f'Dir::State::status "{apt_dir}/state/status";\n'
        f'Dir::Cache "{apt_dir}/cache";\n'
        f'APT::Architecture "{architecture}";\n'
        "#clear APT::Architectures;\n"
        f'APT::Architectures {{ "{architecture}"; }};\n'
        'Acquire::Languages "none";\n'
        "#clear APT::Update::Pre-Invoke;\n"
        "#clear APT::Update::Post-Invoke;\n"
        "#clear APT::Update::Post-Invoke-Success;\n"
    )
    return config


def _architecture() -> str:
    result = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _apt(release: str, apt_config: Path, command: list[str], cwd: Path | None = None) -> None:
    """Run an apt command with the private configuration; fail with what apt said."""
    argv = [command[0], "-c", str(apt_config), "-q", *command[1:]]
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=cwd, timeout=APT_TIMEOUT_SECONDS
    )
    output = result.stdout + result.stderr
    # apt-get update exits 0 when only some sources failed; an "E:" line is still a failure.
    failed = result.returncode != 0 or re.search(r"^E: ", output, re.MULTILINE)
    if not failed:
        return
    hint = ""
    if "NO_PUBKEY" in output or "is not signed" in output:
        hint = (
            f"\nThe Debian archive keyring ({ARCHIVE_KEYRING}) cannot verify {release}: "
            f"upgrade the {KEYRING_PACKAGE} package on the controller."
        )
    raise DebianError(
        f"debian {release}: {' '.join(command)} failed (exit {result.returncode}):\n"
        f"{_tail(output)}{hint}"
    )


def _deb_version(deb: Path) -> str:
    result = subprocess.run(
        ["dpkg-deb", "--field", str(deb), "Version"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise DebianError(f"cannot read {deb}: {_tail(result.stderr)}")
    return result.stdout.strip()


def _unpack(release: str, debs: list[Path], debian_versions: dict[str, str]) -> None:
    """Unpack ``debs`` afresh, link the binaries, record versions; packages.json goes last."""
    directory = release_dir(release)
    # Removed first, so an interrupted unpack is never mistaken for a finished one.
    (directory / "packages.json").unlink(missing_ok=True)
    root, bin_dir = directory / "root", directory / "bin"
    for stale in (root, bin_dir):
        shutil.rmtree(stale, ignore_errors=True)
    root.mkdir(parents=True)
    for deb in debs:
        result = subprocess.run(
            ["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise DebianError(f"debian {release}: dpkg-deb -x {deb.name} failed: {result.stderr}")
    _link_binaries(release, root, bin_dir)
    _write_json(directory / "versions.json", _component_versions(release, bin_dir))
    _write_json(directory / "packages.json", debian_versions)


def _link_binaries(release: str, root: Path, bin_dir: Path) -> None:
    bin_dir.mkdir()
    for program in PROGRAMS:
        target = root / program.package_path
        if not target.is_file():
            package = package_of(release, program.name)
            raise DebianError(
                f"debian {release}: package {package} has no /{program.package_path}"
            )
        (bin_dir / program.name).symlink_to(os.path.relpath(target, bin_dir))


def _component_versions(release: str, bin_dir: Path) -> dict[str, str]:
    """The version of each component; every binary of a component must report the same one."""
    versions: dict[str, str] = {}
    for program in PROGRAMS:
        version = _reported_version(release, bin_dir / program.name, program)
        known = versions.setdefault(program.component, version)
        if known != version:
            raise DebianError(
                f"debian {release}: {program.name} reports version {version}, "
                f"but other {program.component} binaries report {known}"
            )
    return versions


def _reported_version(release: str, binary: Path, program: Program) -> str:
    """The upstream version in ``binary --version``, read as hosts read it (``parse_version``).

    So Debian's "+ds1" build suffix is dropped, and the mirror files each binary under the
    version a deploy will find it reports.
    """
    result = subprocess.run(
        [str(binary), "--version"],
        capture_output=True, text=True, check=False, timeout=VERSION_TIMEOUT_SECONDS,
    )
    # Depending on their kingpin version, builds print it on stdout or on stderr.
    first_line = (result.stdout or result.stderr).partition("\n")[0]
    version = parse_version(first_line)
    # The name guards against a mixed-up package path: promtool reports prometheus's version.
    if result.returncode != 0 or not version or not first_line.startswith(program.version_banners):
        expected = " or ".join(f"'{banner}X.Y.Z ...'" for banner in program.version_banners)
        raise DebianError(
            f"debian {release}: {binary} --version (exit {result.returncode}) printed "
            f"{first_line!r}, expected {expected}"
        )
    return version


@contextmanager
def _release_lock(release: str) -> Iterator[None]:
    """One process at a time per release: apt and the unpack step share its directories."""
    directory = release_dir(release)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_json(path: Path, missing_ok: bool = False) -> dict[str, str]:
    if missing_ok and not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DebianError(f"{path} is missing: run extract_binaries first") from error


def _write_json(path: Path, data: dict[str, str]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
