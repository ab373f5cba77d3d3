"""The catalog: one declarative entry (``Component``) per component and per agent.

Each entry says what the project knows about one program: its release archive and
binaries, and the rest of what deploy, uninstall, firewall, scrape config, preflight,
health and the README read. The views below replace the lists those used to keep apart.

Example::

    >>> from obsstack.catalog import COMPONENTS, RELEASE_ARCHIVES
    >>> [component.name for component in COMPONENTS.values()][:3]
    ['node_exporter', 'prometheus', 'alertmanager']
    >>> RELEASE_ARCHIVES["alertmanager"].binaries
    ('alertmanager', 'amtool')
"""

from __future__ import annotations

from obsstack.catalog.agents import FAIL2BAN, MYSQLD_EXPORTER, NGINX_EXPORTER, PHP_FPM
from obsstack.catalog.host import NODE_EXPORTER
from obsstack.catalog.schema import Component, ReleaseArchive
from obsstack.catalog.server import ALERTMANAGER, BLACKBOX_EXPORTER, NGINX, PROMETHEUS

# In the order a host installs them (and removes them in reverse).
CATALOG: tuple[Component, ...] = (
    NODE_EXPORTER,
    PROMETHEUS,
    ALERTMANAGER,
    NGINX,
    BLACKBOX_EXPORTER,
    NGINX_EXPORTER,
    MYSQLD_EXPORTER,
    PHP_FPM,
    FAIL2BAN,
)
COMPONENTS: dict[str, Component] = {component.name: component for component in CATALOG}
# The components installed from an upstream release archive, and their archives.
RELEASE_ARCHIVES: dict[str, ReleaseArchive] = {
    component.name: component.archive for component in CATALOG if component.archive
}
