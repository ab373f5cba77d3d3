"""A real browser on the controller: Debian's Chromium, driven by Playwright, trusting the lab.

Playwright cannot download its own browsers here, so it drives the system's Chromium (the
``chromium`` package). Chromium on Linux trusts the certificate authorities of the NSS
database in its user's home: each browser gets a fresh home whose database trusts the given
root (the lab's ACME CA) and nothing else is relaxed, so a certificate that root did not sign
still fails. Chromium runs as root here, which it allows only without its sandbox.

The login goes in an Authorization header: credentials embedded in the URL make the web UIs'
own fetch() calls fail.

Example::

    from obslab import browser, services
    browser.install()
    with browser.launcher() as launch:
        chromium = launch(services.pebble_root())
        page = chromium.new_page(extra_http_headers=browser.basic_auth("admin", "secret"))
        page.goto("https://obs.lab.test/prometheus/graph")
        page.screenshot(path="graph.png")
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from obslab import machines

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PACKAGES = ("chromium", "libnss3-tools")  # the browser, and certutil for its trust store
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 720}


def install(progress: Callable[[str], None] = print) -> None:
    """Install Chromium and certutil on the controller if they are missing."""
    machines.install_controller_packages(progress, PACKAGES)


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The header that logs ``user`` in with HTTP basic auth."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextmanager
def launcher() -> Iterator[Callable[[str | None], Browser]]:
    """A function that starts a headless Chromium trusting the root it is given (``None``:
    only what every Chromium trusts); every browser it started is closed at the end."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="obs-browser-") as homes, sync_playwright() as driver:

        def launch(root_pem: str | None) -> Browser:
            home = Path(tempfile.mkdtemp(dir=homes))
            if root_pem is not None:
                _trust(home, root_pem)
            return driver.chromium.launch(
                executable_path=CHROMIUM, env={**os.environ, "HOME": str(home)},
                args=["--no-sandbox"],
            )

        yield launch


def _trust(home: Path, root_pem: str) -> None:
    """Make the NSS database Chromium reads in ``home`` trust ``root_pem`` for websites."""
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    root_file = home / "root.pem"
    root_file.write_text(root_pem)
    for command in (
        ["certutil", "-d", f"sql:{database}", "-N", "--empty-password"],
        ["certutil", "-d", f"sql:{database}", "-A", "-t", "C,,", "-n", "obs-lab-root",
         "-i", str(root_file)],
    ):
        subprocess.run(command, check=True, capture_output=True)
