"""Debian packages the stack needs from the distribution (nginx, certbot, ufw, ...).

Example (a deploy file)::

    from operations.packages import deb_packages
    deb_packages(name="Install nginx", packages=["nginx"])
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


@operation()
def deb_packages(packages: Sequence[str]):
    """
    Install the packages that are missing; installed ones are left at their version.

    + packages: Debian package names

    Package lists are refreshed only when something must be installed, so a host that
    has everything never shows a pending change (no daily "apt update" drift).
    """
    installed = host.get_fact(DebPackages)
    missing = [package for package in packages if package not in installed]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield f"{APT_ENV} apt-get update -q"
    yield (
        f"{APT_ENV} apt-get install -y -q --no-install-recommends "
        + " ".join(shlex.quote(package) for package in missing)
    )
