"""Debian packages the stack needs from the distribution (nginx, certbot, ufw, ...).

Example (a deploy file)::

    from operations.packages import deb_packages
    deb_packages(name="Install nginx", packages=["nginx"])
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import FactBase, operation
from typing_extensions import override

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


class InstalledDebs(FactBase[list[str]]):
    """
    Returns which of ``packages`` are installed (pyinfra's ``DebPackages`` lists every
    package of the host).

    + packages: Debian package names

    .. code:: python

        ["nginx", "certbot"]
    """

    @staticmethod
    def default() -> list[str]:
        return []

    @override
    def command(self, packages: Sequence[str]) -> str:
        # dpkg-query exits 1 when it has never heard of one of them: that one is missing.
        names = " ".join(shlex.quote(package) for package in packages)
        return f"dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {names} 2>/dev/null; true"

    @override
    def process(self, output: list[str]) -> list[str]:
        # The status's second letter: "i" is installed (held too, "hi"); "rc" is removed.
        fields = [line.split() for line in output]
        return [words[1] for words in fields if len(words) == 2 and words[0][1:2] == "i"]


@operation()
def deb_packages(packages: Sequence[str]):
    """
    Install the packages that are missing; installed ones are left at their version.

    + packages: Debian package names

    Package lists are refreshed only when something must be installed, so a host that
    has everything never shows a pending change (no daily "apt update" drift).
    """
    installed = host.get_fact(InstalledDebs, packages=list(packages))
    missing = [package for package in packages if package not in installed]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield f"{APT_ENV} apt-get update -q"
    yield (
        f"{APT_ENV} apt-get install -y -q --no-install-recommends "
        + " ".join(shlex.quote(package) for package in missing)
    )
