"""Managed configuration files: validated on the host before they go live, old one kept.

Example (a deploy file)::

    from operations.config import managed_config
    config = managed_config(
        name="Configure Prometheus",
        dest="/etc/prometheus/prometheus.yml",
        content=rendered_text,
        validate="promtool check config {path}",
        group="prometheus",
        mode="0640",
    )
    # config.did_change tells the service step to reload
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.util import format_text
from pyinfra.facts.files import File, FileContents, Sha256File
from pyinfra.operations.util.files import generate_color_diff

BACKUP_ROOT = "/var/backups/observability-stack"
CANDIDATE_SUFFIX = ".obs-new"
DEFAULT_KEEP_BACKUPS = 10


@operation()
def managed_config(
    dest: str,
    content: str,
    validate: str | None = None,
    user: str = "root",
    group: str = "root",
    mode: str = "0644",
    secret: bool = False,
    keep_backups: int = DEFAULT_KEEP_BACKUPS,
    backup_root: str = BACKUP_ROOT,
):
    """
    Put ``content`` at ``dest`` only after the host's own validator accepts it.

    + dest: the live file
    + content: the full desired text (rendered on the controller)
    + validate: shell command run on the candidate file, ``{path}`` is replaced by its path;
      a non-zero exit keeps the live file and fails the deploy with the validator's message
    + user/group/mode: ownership and permissions of the live file
    + secret: never print a diff of this file (it holds a secret); the candidate is created
      with mode 0600 before any byte is written, so the content is never readable by others
    + keep_backups: how many timestamped copies of replaced files to keep
    + backup_root: where the copies go (``backup_root/<dest path>.<timestamp>``)

    The candidate lives next to the live file (so relative paths inside it resolve the same
    way), and replaces it with an atomic rename after a timestamped backup.
    """
    desired_sha256 = hashlib.sha256(content.encode()).hexdigest()
    current_sha256 = host.get_fact(Sha256File, path=dest)

    if current_sha256 != desired_sha256:
        if state.config.DIFF and not secret:
            _log_diff(dest, content, exists=current_sha256 is not None)
        yield from _replace(dest, content, validate, user, group, mode, keep_backups, backup_root)
        return

    current = host.get_fact(File, path=dest)
    # pyinfra's File fact gives the mode as the octal digits read as decimal: 0640 -> 640.
    if (current["user"], current["group"], current["mode"]) == (user, group, int(mode)):
        host.noop(f"{dest} is up to date")
        return
    yield StringCommand(f"chown {user}:{group} {shlex.quote(dest)}")
    yield StringCommand(f"chmod {mode} {shlex.quote(dest)}")


def in_config_tree(live: str, check: str) -> str:
    """A ``validate`` command that runs ``check`` as if the candidate were already live.

    Some validators only check a whole configuration tree: ``nginx -t`` reads nginx.conf and
    everything it includes, so a site file can only be judged among the others. In a
    private mount namespace, a copy of the live file's directory with the candidate in
    place is mounted over that directory; ``check`` sees the candidate where the live file
    will be, while the real tree and the running daemon never see it.

    + live: the live file the candidate will replace
    + check: the validator, run as is (e.g. ``nginx -t -q``)
    """
    directory, name = posixpath.split(live)
    script = (
        'copy=$(mktemp -d /run/obs-check.XXXXXX); trap \'rm -rf "$copy"\' EXIT; '
        'cp -a "$2"/. "$copy"/; rm -f "$copy/${1##*/}"; cp -p "$1" "$copy/$3"; '
        f'mount --bind "$copy" "$2"; {check}'
    )
    # {path} is left for managed_config to fill in with the candidate's path.
    return (
        f"unshare --mount sh -ec {shlex.quote(script).replace('{', '{{').replace('}', '}}')}"
        f" obs-check {{path}} {shlex.quote(directory)} {shlex.quote(name)}"
    )


def _replace(dest, content, validate, user, group, mode, keep_backups, backup_root):
    candidate = dest + CANDIDATE_SUFFIX
    q_dest, q_candidate = shlex.quote(dest), shlex.quote(candidate)
    # An empty 0600 file first: the upload keeps these permissions, so no other user can
    # read the content in between, whatever the umask.
    yield StringCommand(f"install -m 0600 -o root -g root /dev/null {q_candidate}")
    yield FileUploadCommand(StringIO(content), candidate, remote_temp_filename=candidate)
    yield StringCommand(f"chown {user}:{group} {q_candidate} && chmod {mode} {q_candidate}")
    if validate:
        check = validate.format(path=q_candidate)
        yield StringCommand(f"{check} || {{ status=$?; rm -f {q_candidate}; exit $status; }}")
    yield StringCommand(_backup_command(dest, keep_backups, backup_root))
    yield StringCommand(f"mv -f {q_candidate} {q_dest}")


def _backup_command(dest: str, keep: int, backup_root: str) -> str:
    """Copy the live file aside with a timestamp and prune all but the newest ``keep``."""
    backup_dir = shlex.quote(backup_root + str(PurePosixPath(dest).parent))
    stem = shlex.quote(PurePosixPath(dest).name)
    return (
        f"if [ -e {shlex.quote(dest)} ]; then"
        f" install -d -m 0700 {backup_dir}"
        f" && cp -p {shlex.quote(dest)} {backup_dir}/{stem}.$(date -u +%Y%m%dT%H%M%S.%NZ)"
        f" && ls -1t {backup_dir}/{stem}.* | tail -n +{keep + 1} | xargs -r rm -f --;"
        " fi"
    )


def _log_diff(dest: str, content: str, exists: bool) -> None:
    current_lines = []
    if exists:
        current_lines = [line + "\n" for line in host.get_fact(FileContents, path=dest) or []]
    verb = "modify" if exists else "create"
    host.log(f"Will {verb} {format_text(dest, bold=True)}", logger.info)
    for line in generate_color_diff(current_lines, content.splitlines(keepends=True)):
        logger.info("  %s", line)
    logger.info("")
