"""The README's tables of components, settings and alert thresholds are the catalog's."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsstack.catalog.docs import readme_tables, with_tables

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("name", readme_tables())
def test_the_readme_has_each_table_as_the_catalog_makes_it(name):
    text = README.read_text()
    block = f"<!-- catalog:{name} -->\n{readme_tables()[name]}<!-- /catalog:{name} -->"
    assert block in text, (
        f"README.md's {name} table differs from the catalog: "
        "run `python -m obsstack.catalog.docs README.md`"
    )


def test_rewriting_the_tables_changes_nothing_else():
    text = README.read_text()
    assert with_tables(text) == text
