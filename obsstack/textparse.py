"""Parsing of the small text formats remote commands print.

Example::

    >>> from obsstack.textparse import parse_key_values
    >>> parse_key_values('ID=debian\nVERSION_ID="13"\n')
    {'ID': 'debian', 'VERSION_ID': '13'}
"""

from __future__ import annotations


def parse_key_values(text: str) -> dict[str, str]:
    """``KEY=value`` lines (os-release, ``timedatectl show``, ``openssl x509 -noout``),
    quotes removed, comment lines skipped."""
    values = {}
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator and key.strip() and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("\"'")
    return values
