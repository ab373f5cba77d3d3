"""The InstalledDebs fact, run against this machine's dpkg database."""

from __future__ import annotations

from local_facts import read_here

from operations.packages import InstalledDebs


def installed(packages: list[str]) -> list[str]:
    return read_here(InstalledDebs, packages=packages)


def test_installed_packages_are_listed_and_unknown_ones_are_missing():
    assert installed(["bash", "obs-no-such-package", "coreutils"]) == ["bash", "coreutils"]


def test_a_package_known_but_not_installed_is_missing():
    # Removed but not purged ("rc"): not installed; held ("hi"): installed.
    assert InstalledDebs().process(["rc  nginx", "ii  certbot", "hi  ufw"]) == ["certbot", "ufw"]


def test_a_name_cannot_become_another_command():
    command = InstalledDebs().command(packages=["nginx; touch /tmp/obs-injected"])
    assert "'nginx; touch /tmp/obs-injected'" in command
