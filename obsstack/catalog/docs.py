"""The README's tables of components, settings and alert thresholds, made from the catalog.

Each table sits in README.md between ``<!-- catalog:NAME -->`` and ``<!-- /catalog:NAME -->``
lines; a unit test checks that they match the catalog. After changing an entry, rewrite them:

    python -m obsstack.catalog.docs README.md

Example::

    >>> from obsstack.catalog.docs import readme_tables
    >>> readme_tables()["components"].splitlines()[0].startswith("| component |")
    True
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from obsstack.catalog import CATALOG, SETTINGS
from obsstack.catalog.schema import EVERY_HOST, NO_DEFAULT, Component, Setting
from obsstack.fields import Field

# Settings too big for their cells: their default and form, as the README tells them.
ELSEWHERE = {
    "releases": (
        "each component's pin (components)",
        "{component: {'version': ..., 'sha256': ...}} for the components a host runs",
    ),
    "alert_rules": ("the thresholds' defaults (below)", "a dict with every key of the thresholds"),
}
BLOCK = re.compile(
    r"(<!-- catalog:(?P<name>[a-z_]+) -->\n)(.*?)(<!-- /catalog:(?P=name) -->)", re.S
)
COMPONENT_COLUMNS = (
    "component", "what it does", "runs on", "program", "account (home)", "unit", "ports", "ready"
)


def cell(text: Any) -> str:
    """``text`` as one cell of a Markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(cell(value) for value in line) + " |\n" for line in lines)


def roles_text(roles: tuple[str, ...]) -> str:
    return "every host" if roles == EVERY_HOST else ", ".join(roles)


def ports_text(component: Component) -> str:
    return ", ".join(
        f"`{listen.port}`" + (f" ({listen.program})" if listen.program else "")
        for listen in component.listens
    )


def components_table() -> str:
    rows = []
    for component in CATALOG:
        archive, account, unit = component.archive, component.account, component.unit
        runs_on = roles_text(component.roles)
        if component.agent:
            runs_on += f", agent `{component.agent.name}`"
        if component.enabled_by:
            runs_on += f", while `{component.enabled_by}` is set"
        rows.append(
            [
                f"`{component.name}`",
                component.summary,
                runs_on,
                f"{', '.join(archive.binaries)} {archive.pin.version}"
                if archive
                else (component.packaged_binary or "—"),
                f"{account.user} ({account.home})" if account else "—",
                unit.name if unit else "—",
                ports_text(component) or "—",
                component.route_prefix + component.health.ready_path if component.health else "—",
            ]
        )
    return table(COMPONENT_COLUMNS, rows)


def default_text(setting: Setting) -> str:
    if setting.key in ELSEWHERE:
        return ELSEWHERE[setting.key][0]
    if setting.default is NO_DEFAULT:
        return "required" if setting.required else "unset"
    return f"`{setting.default!r}`"


def expected_text(setting: Setting) -> str:
    if setting.key in ELSEWHERE:
        return ELSEWHERE[setting.key][1]
    if isinstance(setting.check, Field):
        return setting.check.expected
    return "a dict of " + ", ".join(setting.check.fields)


def settings_table() -> str:
    owners = {
        setting.key: component.name for component in CATALOG for setting in component.settings
    }
    return table(
        ["setting", "of", "default", "what it is", "expected"],
        [
            [
                f"`{key}`",
                owners.get(key, "the stack"),
                default_text(setting),
                setting.description,
                expected_text(setting),
            ]
            for key, setting in SETTINGS.items()
        ],
    )


def thresholds_table() -> str:
    return table(
        ["alert_rules key", "of", "default", "what it is", "expected"],
        [
            [
                f"`{threshold.key}`",
                component.name,
                default_text(threshold),
                threshold.description,
                expected_text(threshold),
            ]
            for component in CATALOG
            for threshold in component.alert_thresholds
        ],
    )


def readme_tables() -> dict[str, str]:
    """Each table's text, by the name of its block in README.md."""
    return {
        "components": components_table(),
        "settings": settings_table(),
        "thresholds": thresholds_table(),
    }


def with_tables(readme: str) -> str:
    """``readme`` with each catalog block holding its table as the catalog has it now."""
    tables = readme_tables()
    return BLOCK.sub(lambda block: block[1] + tables[block["name"]] + block[4], readme)


def main(argv: list[str]) -> None:
    path = Path(argv[0])
    path.write_text(with_tables(path.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
