"""The component every host runs: node_exporter.

Example::

    >>> from obsstack.catalog.host import NODE_EXPORTER
    >>> NODE_EXPORTER.archive.binaries
    ('node_exporter',)
"""

from __future__ import annotations

from obsstack.catalog.schema import EVERY_HOST, Component, ReleaseArchive

NODE_EXPORTER = Component(
    name="node_exporter",
    summary="host metrics, and the textfile collector the stack's own metrics go through",
    roles=EVERY_HOST,
    archive=ReleaseArchive("prometheus/node_exporter", "node_exporter", ("node_exporter",)),
)
