"""What the lab gives its hosts besides the base image: files a deploy expects to find there.

The lab's mirror repackages Debian's builds of the Prometheus programs, and those read from
the disk what upstream's release archives embed:

- Alertmanager's default notification templates, from ``/usr/share/prometheus/alertmanager``
  (without them it exits at start);
- Prometheus' web UI, from ``/usr/share/prometheus/web/static/react`` (without it every page
  says "The Debian package of prometheus does not include a web application"). Debian's
  ``install-ui.sh`` would fetch it from GitHub; the shared folder holds upstream's asset
  (``prometheus-web-ui/<version>/``, checked against its ``SHA256SUMS``).

Only the lab needs them: production runs upstream's archives. They are kept as one tree per
host in ``machines.HOST_FILES_DIR``, which ``machines`` copies onto a host's disk each time
it builds one (``up`` after ``down``, ``rebuild``), so a rebuilt host has them before any
deploy; ``push`` gives them to the hosts running now.

Example::

    from obslab import provided
    provided.build()    # the trees, from Debian's package and the shared web UI
    provided.push()     # the running hosts get them too
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from obslab import debian, machines
from obslab.grafana import SHARED_DIR, SharedReleaseError, listed_sha256
from obsstack.artifacts import sha256_of

ALERTMANAGER_TEMPLATES = "/usr/share/prometheus/alertmanager"
PROMETHEUS_WEB_DIR = "/usr/share/prometheus/web"
PROMETHEUS_UI_DIR = f"{PROMETHEUS_WEB_DIR}/static/react"
WEB_UI_VERSION = "2.53.3"  # Debian 13's Prometheus, the mirror's newest
SERVER_GROUP = "observability"


def web_ui_archive(shared: Path = SHARED_DIR) -> Path:
    """The shared Prometheus web UI asset, checked against its ``SHA256SUMS``."""
    folder = shared / "prometheus-web-ui" / WEB_UI_VERSION
    archive = folder / f"prometheus-web-ui-{WEB_UI_VERSION}.tar.gz"
    sums = folder / "SHA256SUMS"
    if not archive.is_file() or sha256_of(archive) != listed_sha256(sums, archive.name):
        raise SharedReleaseError(
            f"{archive} is missing or does not match {sums}: the lab's Prometheus serves its "
            "web UI from there (set OBS_LAB_SHARED to the folder that holds it)"
        )
    return archive


def build(shared: Path = SHARED_DIR) -> None:
    """Write each host's tree anew: the observability servers get the templates and the UI."""
    templates = debian.release_dir(machines.DEBIAN_SUITE) / "root" / ALERTMANAGER_TEMPLATES[1:]
    ui_archive = web_ui_archive(shared)
    for host in machines.HOSTS:
        tree = machines.HOST_FILES_DIR / host.name
        partial = tree.with_name(f".{host.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        if SERVER_GROUP in host.groups:
            shutil.copytree(templates, partial / ALERTMANAGER_TEMPLATES[1:])
            web = partial / PROMETHEUS_WEB_DIR[1:]
            web.mkdir(parents=True)
            with tarfile.open(ui_archive) as tar:
                tar.extractall(web, filter="data")
        shutil.rmtree(tree, ignore_errors=True)
        partial.rename(tree)


def push() -> None:
    """Give each running host its tree (files replaced, nothing else touched)."""
    for host in machines.HOSTS:
        tree = machines.HOST_FILES_DIR / host.name
        entries = sorted(tree.iterdir()) if tree.is_dir() else []
        if not entries:
            continue
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for entry in entries:
                tar.add(entry, arcname=entry.name, filter=_owned_by_root)
        subprocess.run(
            machines.ssh_argv(host.name, "tar -x --no-overwrite-dir -C /"),
            input=archive.getvalue(),
            check=True,
            capture_output=True,
        )


def _owned_by_root(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    return member
