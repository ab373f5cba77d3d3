"""deb_packages: install only what is missing, and refresh package lists only then."""

from __future__ import annotations

from fakehost import run_operation

from operations.packages import deb_packages


# What `dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n'` prints on a Debian 13 host
# (the InstalledDebs fact); the description and version are not part of it.
def dpkg_line(name: str, version: str, arch: str, description: str, state: str = "ii") -> str:
    """One package line of the InstalledDebs fact's query."""
    return f"{state}  {name.split(':')[0]}"


NGINX = dpkg_line(
    "nginx", "1.26.3-3+deb13u1", "amd64", "small, powerful, scalable web/proxy server"
)
CERTBOT = dpkg_line("certbot", "4.0.0-2", "all", "automatically configure HTTPS using ACME")
UFW = dpkg_line("ufw", "0.36.2-9", "all", "program for managing a Netfilter firewall")
LIBC = dpkg_line("libc6:amd64", "2.41-12", "amd64", "GNU C Library: Shared libraries")

PACKAGES = ["nginx", "certbot", "ufw"]
APT_UPDATE = "DEBIAN_FRONTEND=noninteractive apt-get update -q"
APT_INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"


def dpkg_list(*lines: str) -> dict:
    return {"dpkg-query -W": "\n".join(lines) + "\n"}


def operation_commands(run) -> list[str]:
    """The commands the operation ran, without the package lookup."""
    assert "dpkg-query -W" in run.commands[0], run.commands
    return run.commands[1:]


def test_all_installed_is_a_noop_without_apt_get():
    run = run_operation(deb_packages, dpkg_list(LIBC, CERTBOT, NGINX, UFW), packages=PACKAGES)
    assert run.succeeded
    assert operation_commands(run) == []
    assert not any("apt-get" in command for command in run.commands)


def test_one_missing_package_refreshes_lists_then_installs_only_that_one():
    run = run_operation(deb_packages, dpkg_list(LIBC, NGINX, UFW), packages=PACKAGES)
    assert run.succeeded
    assert operation_commands(run) == [APT_UPDATE, f"{APT_INSTALL} certbot"]


def test_missing_packages_are_installed_in_the_order_given():
    run = run_operation(deb_packages, dpkg_list(LIBC, CERTBOT), packages=PACKAGES)
    assert operation_commands(run) == [APT_UPDATE, f"{APT_INSTALL} nginx ufw"]


def test_removed_package_with_config_left_counts_as_missing():
    """`rc` (removed, conffiles remain) is what dpkg shows after `apt-get remove`."""
    removed = dpkg_line("certbot", "4.0.0-2", "all", "automatically configure HTTPS", "rc")
    run = run_operation(deb_packages, dpkg_list(LIBC, NGINX, removed, UFW), packages=PACKAGES)
    assert operation_commands(run) == [APT_UPDATE, f"{APT_INSTALL} certbot"]


def test_held_package_counts_as_installed():
    held = dpkg_line("nginx", "1.26.3-3+deb13u1", "amd64", "web/proxy server", "hi")
    run = run_operation(deb_packages, dpkg_list(held, CERTBOT, UFW), packages=PACKAGES)
    assert operation_commands(run) == []


def test_a_package_name_only_prefixing_an_installed_one_is_still_missing():
    """`nginx-common` being installed does not make `nginx` installed."""
    common = dpkg_line("nginx-common", "1.26.3-3+deb13u1", "all", "small, powerful web server")
    run = run_operation(deb_packages, dpkg_list(common, CERTBOT, UFW), packages=PACKAGES)
    assert operation_commands(run) == [APT_UPDATE, f"{APT_INSTALL} nginx"]


def test_every_apt_get_runs_noninteractive():
    run = run_operation(deb_packages, dpkg_list(), packages=PACKAGES)
    commands = operation_commands(run)
    assert len(commands) == 2
    assert all(c.startswith("DEBIAN_FRONTEND=noninteractive apt-get ") for c in commands)
