"""Uploads no other user of the host can read, whether the deploy logs in as root or as a
user with passwordless sudo (``_sudo``).

As root, the content goes straight into its destination, which the caller has created
0600 first (an upload into an existing file keeps its mode). Through sudo, SFTP can only
write as the login user: the content goes into a fresh directory of that user's, mode
0700, then root copies it over the destination (``cp`` keeps the destination's mode and
owner) and the directory goes. pyinfra's own sudo upload would use a predictable name in
/tmp, readable by others for as long as it exists.

Example (inside an operation)::

    from io import StringIO
    from operations.upload import private_upload
    yield StringCommand("install -m 0600 /dev/null /etc/x/secret")
    yield from private_upload(StringIO(text), "/etc/x/secret")
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from typing import IO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.api.command import PyinfraCommand

STAGING_PARENT = "/tmp"


def through_sudo() -> bool:
    """Whether this host's commands run through sudo (the login user is not root)."""
    return bool(host.data.get("_sudo"))


def sudo_arguments() -> dict[str, bool]:
    """The connector arguments for a command run outside an operation (a fact of ours)."""
    return {"_sudo": through_sudo()}


def private_upload(source: str | IO, dest: str) -> Iterator[PyinfraCommand]:
    """Commands that put ``source`` (a local path or a file object) at ``dest``."""
    if not through_sudo():
        yield FileUploadCommand(source, dest, remote_temp_filename=dest)
        return
    staging = f"{STAGING_PARENT}/obs-upload.{uuid.uuid4().hex}"
    staged = f"{staging}/content"
    # mkdir fails on a name someone else made first: the content never lands in it.
    yield StringCommand(f"mkdir -m 0700 {staging}", _sudo=False)
    yield FileUploadCommand(source, staged, remote_temp_filename=staged, _sudo=False)
    yield StringCommand(f"cp {staged} {shlex.quote(dest)}")
    yield StringCommand(f"rm -rf {staging}", _sudo=False)
