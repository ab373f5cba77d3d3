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
from collections.abc import Callable, Iterable, Iterator
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host, logger, state
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import PyinfraCommand
from pyinfra.api.util import format_text
from pyinfra.facts.files import File, FileContents, Sha256File
from pyinfra.operations.util.files import generate_color_diff

from operations.digest import KeyedSha256File, keyed_sha256
from operations.upload import private_upload

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
    + secret: the file holds a secret: it is compared by a keyed digest (never a plain
      hash, which ``-vvv`` would print), never diffed, never kept as a backup (earlier
      backups of it are removed when it changes); the candidate is created with mode 0600
      before any byte is written, so the content is never readable by others
    + keep_backups: how many timestamped copies of replaced files to keep
    + backup_root: where the copies go (``backup_root/<dest path>.<timestamp>``)

    The candidate lives next to the live file (so relative paths inside it resolve the same
    way), and replaces it with an atomic rename after a timestamped backup.
    """
    if secret:
        desired_sha256 = keyed_sha256(content)
        current_sha256 = host.get_fact(KeyedSha256File, path=dest)
    else:
        desired_sha256 = hashlib.sha256(content.encode()).hexdigest()
        current_sha256 = host.get_fact(Sha256File, path=dest)

    if current_sha256 != desired_sha256:
        if state.config.DIFF and not secret:
            _log_diff(dest, content, exists=current_sha256 is not None)
        backup = forget_backups(dest, backup_root) if secret else backup_command(
            dest, keep_backups, backup_root
        )
        yield from replace_file(
            dest,
            lambda candidate: private_upload(StringIO(content), candidate),
            validate,
            user,
            group,
            mode,
            backup,
        )
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


def replace_file(
    dest: str,
    fill: Callable[[str], Iterable[PyinfraCommand]],
    validate: str | None,
    user: str,
    group: str,
    mode: str,
    backup: str,
) -> Iterator[PyinfraCommand]:
    """The commands that put a new ``dest`` in place: a 0600 candidate next to it that
    ``fill(candidate)``'s commands write (an upload, or a command run on the host), its
    owner and mode, ``validate`` (``{path}``: the candidate), ``backup``, an atomic rename.
    """
    candidate = dest + CANDIDATE_SUFFIX
    q_dest, q_candidate = shlex.quote(dest), shlex.quote(candidate)
    # An empty 0600 file first: what fills it keeps these permissions, so no other user
    # can read the content in between, whatever the umask.
    yield StringCommand(f"install -m 0600 -o root -g root /dev/null {q_candidate}")
    yield from fill(candidate)
    yield StringCommand(f"chown {user}:{group} {q_candidate} && chmod {mode} {q_candidate}")
    if validate:
        check = validate.format(path=q_candidate)
        yield StringCommand(f"{check} || {{ status=$?; rm -f {q_candidate}; exit $status; }}")
    yield StringCommand(backup)
    yield StringCommand(f"mv -f {q_candidate} {q_dest}")


def backup_command(dest: str, keep: int, backup_root: str = BACKUP_ROOT) -> str:
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


def forget_backups(dest: str, backup_root: str = BACKUP_ROOT) -> str:
    """Remove every backup of ``dest`` (a secret file: an old secret must not outlive it)."""
    backup_dir = shlex.quote(backup_root + str(PurePosixPath(dest).parent))
    stem = shlex.quote(PurePosixPath(dest).name)
    return f"rm -f {backup_dir}/{stem}.*"


def _log_diff(dest: str, content: str, exists: bool) -> None:
    current_lines = []
    if exists:
        current_lines = [line + "\n" for line in host.get_fact(FileContents, path=dest) or []]
    verb = "modify" if exists else "create"
    host.log(f"Will {verb} {format_text(dest, bold=True)}", logger.info)
    for line in generate_color_diff(current_lines, content.splitlines(keepends=True)):
        logger.info("  %s", line)
    logger.info("")
