#!/usr/bin/python3
"""fail2ban's jails as Prometheus metrics, for node_exporter's textfile collector.

Managed by observability-stack. Run as root by obs-fail2ban-metrics.timer: fail2ban's
socket is root's, and a short-lived reader keeps any network-facing daemon from needing
root. fail2ban itself runs on Python 3, so this script needs nothing more.

Usage: fail2ban-metrics OUTPUT (the .prom file in node_exporter's textfile directory)
"""

import os
import re
import subprocess
import sys
import tempfile
import time

# `fail2ban-client status JAIL` line -> metric name and type.
FIELDS = {
    "Currently failed": ("fail2ban_jail_failed_current", "gauge"),
    "Total failed": ("fail2ban_jail_failed_total", "counter"),
    "Currently banned": ("fail2ban_jail_banned_current", "gauge"),
    "Total banned": ("fail2ban_jail_banned_total", "counter"),
}


def client(*arguments):
    try:
        answer = subprocess.run(
            ["fail2ban-client", *arguments], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout if answer.returncode == 0 else None


def jail_names(status):
    match = re.search(r"Jail list:\s*(.*)", status)
    return [name.strip() for name in match.group(1).split(",") if name.strip()] if match else []


def jail_values(status):
    values = {}
    for line in status.splitlines():
        label, _, value = line.partition(":")
        label = label.strip(" |`-\t")
        if label in FIELDS and value.strip().isdigit():
            values[label] = int(value.strip())
    return values


def label(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


def metrics():
    status = client("status")
    jails = {name: jail_values(client("status", name) or "") for name in jail_names(status or "")}
    lines = [
        "# HELP fail2ban_up Whether fail2ban answered on its socket.",
        "# TYPE fail2ban_up gauge",
        f"fail2ban_up {int(status is not None)}",
    ]
    for field, (name, kind) in FIELDS.items():
        lines += [f"# HELP {name} fail2ban-client status: {field}.", f"# TYPE {name} {kind}"]
        lines += [
            f'{name}{{jail="{label(jail)}"}} {values[field]}'
            for jail, values in sorted(jails.items())
            if field in values
        ]
    lines += [
        "# HELP fail2ban_last_run_timestamp_seconds When these metrics were written.",
        "# TYPE fail2ban_last_run_timestamp_seconds gauge",
        f"fail2ban_last_run_timestamp_seconds {time.time():.3f}",
    ]
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    """node_exporter must never read a half-written file: write aside, then rename."""
    descriptor, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".fail2ban.")
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    os.chmod(partial, 0o644)
    os.replace(partial, path)


if __name__ == "__main__":
    write_atomically(sys.argv[1], metrics())
