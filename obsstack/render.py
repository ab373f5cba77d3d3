"""Render the project's Jinja2 templates (templates/) with strict undefined variables.

Templates only loop and substitute: every value they use is prepared in Python from
validated group data, so a missing variable is a bug and fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # noqa: S701 - renders config files, not HTML
)


def rules_context(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the alert rule templates read: the thresholds and where the runbooks are."""
    return {
        "alert_rules": settings["alert_rules"],
        "runbook_base_url": settings["runbook_base_url"],
    }


def render_template(relpath: str, context: dict[str, Any]) -> str:
    """Render ``templates/<relpath>`` with ``context`` and return the text."""
    return _environment.get_template(relpath).render(**context)
