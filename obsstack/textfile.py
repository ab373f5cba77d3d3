"""Write node_exporter textfile-collector files on hosts, atomically.

Example::

    from obsstack.textfile import replace_command
    script = replace_command("/var/lib/node_exporter/obs_health.prom", "obs_up 1\\n")
    # run `script` with bash on the host (obsstack.session.run_scripts)
"""

from __future__ import annotations

import shlex


def replace_command(path: str, text: str) -> str:
    """Shell that replaces ``path`` with ``text`` (mode 0644) through a temporary file.

    The temporary name does not end in .prom, so node_exporter never reads a partial file.
    Without the textfile directory (node_exporter not deployed) nothing is written and the
    command succeeds; a failed write removes the temporary file and fails.
    """
    directory = shlex.quote(path.rsplit("/", 1)[0])
    return (
        f"if [ -d {directory} ]; then"
        f" tmp=$(mktemp {directory}/.obs_textfile.XXXXXX)"
        f" && {{ printf '%s' {shlex.quote(text)} > \"$tmp\" && chmod 0644 \"$tmp\""
        f" && mv -f \"$tmp\" {shlex.quote(path)} || {{ rm -f \"$tmp\"; false; }}; }};"
        " fi"
    )
