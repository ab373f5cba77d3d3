"""Install upstream release archives: verified on the controller, versioned on the host.

Layout on the host: ``/opt/NAME/VERSION/<binaries>`` with ``/usr/local/bin/<binary>``
symlinks pointing at the active version. A program shipped as a whole tree (Grafana:
``bin/grafana`` beside ``conf/`` and ``public/``) keeps it, and ``/opt/NAME/current`` points
at the active version too. Older versions stay, so a rollback is a symlink switch with no
download.

Example (a deploy file)::

    from operations.archive import install_archive
    install_archive(
        name="Install node_exporter 1.9.0",
        component="node_exporter",
        version="1.9.0",
        sha256="<64 hex>",
        source="/srv/obs-mirror",
        cache_dir="/root/.cache/observability-stack/artifacts",
    )
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.facts.files import Link

from obsstack.artifacts import ArtifactError, fetch_archive
from obsstack.catalog import RELEASE_ARCHIVES
from obsstack.catalog.schema import ReleaseArchive
from operations.facts import InstalledVersion, version_line_regex
from operations.upload import private_upload

INSTALL_ROOT = "/opt"
BIN_DIR = "/usr/local/bin"


@operation()
def install_archive(
    component: str,
    version: str,
    sha256: str,
    source: str,
    cache_dir: str,
    build: str | None = None,
    install_root: str = INSTALL_ROOT,
    bin_dir: str = BIN_DIR,
):
    """
    Install a pinned upstream release of a program (its catalog entry's archive) and make
    it active.

    + component: a catalog entry with a release archive (``obsstack.catalog.RELEASE_ARCHIVES``),
      e.g. ``prometheus``
    + version: the pinned version, as the binary reports it with ``--version``
    + sha256: sha256 of the release archive; checked on the controller before upload
      and again on the host after upload
    + source: artifact source: ``github``, a mirror URL or a local directory
    + cache_dir: controller directory that keeps downloaded archives
    + build: the release's build number, for an archive named with it (Grafana's)
    + install_root: versions live in ``install_root/component/version``
    + bin_dir: where the stable symlinks to the active version live

    Nothing is downloaded or uploaded when the active binary already reports ``version``;
    when that version is still on the host from an earlier install, only the symlinks move.
    """
    spec = RELEASE_ARCHIVES[component]
    version_dir = f"{install_root}/{component}/{version}"
    primary = spec.binaries[0]
    links = version_links(component, version, install_root, bin_dir)

    active = host.get_fact(InstalledVersion, binary=f"{bin_dir}/{primary}")
    links_ok = all(_link_points_to(link, target) for link, target in links.items())
    if active == version and links_ok:
        host.noop(f"{component} {version} is installed and active")
        return

    if needs_archive(component, version, install_root):
        archive = _verified_archive(component, version, sha256, source, cache_dir, build)
        yield from _install_archive(archive, spec, version, version_dir, sha256)
        yield _check_reported_version(f"{version_dir}/{spec.installed_path(primary)}", version)

    for link, target in links.items():
        yield _switch_link(link, target)


def version_links(
    component: str, version: str, install_root: str = INSTALL_ROOT, bin_dir: str = BIN_DIR
) -> dict[str, str]:
    """Each link that makes ``version`` the active one, with the path it points to."""
    spec = RELEASE_ARCHIVES[component]
    version_dir = f"{install_root}/{component}/{version}"
    links = {
        f"{bin_dir}/{binary}": f"{version_dir}/{spec.installed_path(binary)}"
        for binary in spec.binaries
    }
    if spec.layout.home:
        links[home_link(component, install_root)] = version_dir
    return links


def switch_back_command(component: str, version: str) -> str | None:
    """A shell command that points the links of ``component`` back where they point now,
    before a deploy switches them to ``version``; ``None`` when there is nothing to go
    back to (a first install) or nothing will switch."""
    switched_to = version_links(component, version)
    previous = {}
    for link in switched_to:
        found = host.get_fact(Link, path=link)
        if not found or not found.get("link_target"):
            return None
        previous[link] = found["link_target"]
    if previous == switched_to:
        return None
    return " && ".join(str(_switch_link(link, target)) for link, target in previous.items())


def home_link(component: str, install_root: str = INSTALL_ROOT) -> str:
    """The link to the active version of a program installed as a whole tree."""
    return f"{install_root}/{component}/current"


def prepare_archive(
    component: str, version: str, sha256: str, source: str, cache_dir: str,
    build: str | None = None, install_root: str = INSTALL_ROOT,
) -> None:
    """Fetch and verify the archive now, from deploy code, when the host will need it.

    Deploy code runs before any operation executes on any host, so a missing or
    tampered archive stops the whole deploy with nothing changed anywhere.
    """
    if needs_archive(component, version, install_root):
        _verified_archive(component, version, sha256, source, cache_dir, build)


def needs_archive(component: str, version: str, install_root: str = INSTALL_ROOT) -> bool:
    """True when ``version`` is not already unpacked on the host (e.g. from an earlier deploy)."""
    spec = RELEASE_ARCHIVES[component]
    binary = f"{install_root}/{component}/{version}/{spec.installed_path(spec.binaries[0])}"
    return host.get_fact(InstalledVersion, binary=binary) != version


def _verified_archive(component, version, sha256, source, cache_dir, build) -> Path:
    try:
        return fetch_archive(component, version, sha256, source, Path(cache_dir), build)
    except ArtifactError as error:
        raise OperationError(str(error)) from error


def _link_points_to(path: str, target: str) -> bool:
    link = host.get_fact(Link, path=path)
    return bool(link) and link.get("link_target") == target


def _install_archive(
    archive: Path, spec: ReleaseArchive, version: str, version_dir: str, sha256: str
):
    """Upload, re-verify and unpack into a staging dir, then rename it into place.

    The version directory gets the files under the archive's top directory, or all of its
    files when they sit at its root (goreleaser's and Loki's archives); a binary named for
    its platform in the archive (``loki-linux-amd64``) is renamed to its own name, a
    program tree (Grafana's) stays as it is.
    """
    parent = str(Path(version_dir).parent)
    remote_archive = f"{parent}/.{archive.name}"
    staging = f"{version_dir}.partial"
    yield StringCommand(f"install -d -m 0755 -o root -g root {shlex.quote(parent)}")
    yield from private_upload(str(archive), remote_archive)
    q_archive, q_staging, q_dir = map(shlex.quote, (remote_archive, staging, version_dir))
    if spec.layout.extension == "zip":
        unpack = ["unzip", "-q", remote_archive, "-d", staging]
    else:
        unpack = ["tar", "-xzf", remote_archive, "-C", staging, "--no-same-owner"]
        if spec.layout.wrapped:
            unpack.append("--strip-components=1")
            top_directory = spec.top_directory(version)
            if top_directory:
                unpack.append(f"{top_directory}/")
    renames = "".join(
        f" && mv -T {shlex.quote(f'{staging}/{member}')} {shlex.quote(f'{staging}/{installed}')}"
        f" && chmod 0755 {shlex.quote(f'{staging}/{installed}')}"
        for binary in spec.binaries
        if (member := spec.member_name(binary)) != (installed := spec.installed_path(binary))
    )
    yield StringCommand(
        f"echo {sha256}'  '{q_archive} | sha256sum --check --quiet"
        f" && rm -rf {q_staging} && mkdir -m 0755 {q_staging}"
        f" && {shlex.join(unpack)}{renames}"
        f" && chown -R root:root {q_staging}"
        f" && rm -rf {q_dir} && mv -T {q_staging} {q_dir}"
        f" && rm -f {q_archive}"
    )


def _check_reported_version(binary: str, version: str) -> StringCommand:
    """Fail before the switch if the unpacked binary does not run or reports another version."""
    q_binary = shlex.quote(binary)
    pattern = shlex.quote(version_line_regex(version))
    return StringCommand(
        f"{q_binary} --version 2>&1 | head -n 1 | grep -Eq {pattern}"
        f" || {{ echo {q_binary} does not report version {shlex.quote(version)} >&2; exit 1; }}"
    )


def _switch_link(link: str, target: str) -> StringCommand:
    """Replace the symlink atomically: a new link renamed over the old one."""
    temporary = f"{link}.obs-new"
    return StringCommand(
        f"ln -sfn {shlex.quote(target)} {shlex.quote(temporary)}"
        f" && mv -Tf {shlex.quote(temporary)} {shlex.quote(link)}"
    )
