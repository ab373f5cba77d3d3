"""Grafana Alloy's configuration syntax, written by a serializer: no value is pasted raw.

Alloy has no Python library, so this module writes its syntax from Python values, after
the rules of Alloy 1.x's scanner and parser (``syntax/scanner``, ``syntax/parser``):

- A string is double-quoted. JSON's escapes (``\\\\ \\" \\n \\r \\t \\b \\f \\uNNNN``)
  are a subset of the ones Alloy decodes, so ``json.dumps(value, ensure_ascii=False)``
  writes any string of letters and C0 control characters correctly; non-ASCII stays raw
  UTF-8 (``ensure_ascii=True`` would write a character beyond the BMP as a surrogate
  pair, which Alloy rejects). What JSON leaves raw and Alloy could misread (DEL, C1
  controls, a byte order mark, a lone surrogate) is refused.
- A raw string (for regular expressions) sits between backticks, verbatim: it cannot hold a
  backtick, and here it holds no control character at all (Alloy drops a raw ``\\r``).
- One attribute per line; a list or object spread over lines needs a comma after every
  element, the last one too. Lists and objects are always written that way here.
- Identifiers (attribute names, block labels, unquoted object keys) are ASCII letters,
  digits and ``_``, not starting with a digit; ``true``, ``false`` and ``null`` are words
  of the language. Block names and references are identifiers joined by dots.

No string this module writes spans lines, so a block indents its body line by line.

Example::

    >>> from obsstack.alloy_syntax import attribute, block, document, raw, ref
    >>> print(document([
    ...     block("loki.process", [
    ...         attribute("forward_to", [ref("loki.write.default.receiver")]),
    ...         block("stage.regex", [attribute("expression", raw(r'^(?P<ip>\\S+) "'))]),
    ...         attribute("labels", {"job": 'say "hi"', "non-ident.key": "é"}),
    ...     ], label="web"),
    ... ], header="Generated."), end="")
    // Generated.
    <BLANKLINE>
    loki.process "web" {
      forward_to = [
        loki.write.default.receiver,
      ]
      stage.regex {
        expression = `^(?P<ip>\\S+) "`
      }
      labels = {
        job = "say \\"hi\\"",
        "non-ident.key" = "é",
      }
    }
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

INDENT = "  "
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = frozenset({"true", "false", "null"})
# What a double-quoted string cannot carry: JSON leaves these raw, and Alloy reads a byte
# order mark past the file's start as an error; DEL and C1 controls have no business in a
# value; a lone surrogate cannot be written in UTF-8 at all.
UNQUOTABLE = re.compile("[\x7f-\x9f\ufeff\ud800-\udfff]")
# What a raw string or a comment cannot carry: every control character (a line break would
# end a comment and break the indentation of a block's body; Alloy drops a raw CR).
UNRAW = re.compile("[\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")


@dataclass(frozen=True)
class Raw:
    """A raw string: its text between backticks, verbatim (a regular expression)."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"a raw string is a str, not {type(self.text).__name__}")
        if "`" in self.text:
            raise ValueError(f"{self.text!r}: a raw string cannot hold a backtick")
        if UNRAW.search(self.text):
            raise ValueError(f"{self.text!r}: a raw string here holds no control character")


@dataclass(frozen=True)
class Reference:
    """An expression naming another component's export: ``loki.write.default.receiver``."""

    path: str

    def __post_init__(self) -> None:
        dotted(self.path, "reference")


# What ``value`` writes: a string, a bool, an int, null, a raw string, a reference, and
# lists and objects of these.
Value = str | bool | int | None | Raw | Reference | Sequence["Value"] | Mapping[str, "Value"]


def identifier(name: str, what: str = "identifier") -> str:
    """``name`` if it is an Alloy identifier (letters, digits, ``_``; no leading digit and
    not a keyword); ValueError otherwise."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or name in KEYWORDS:
        raise ValueError(
            f"{name!r} is not a valid {what}: letters, digits and _, not starting with a digit"
        )
    return name


def dotted(name: str, what: str = "block name") -> str:
    """``name`` if it is identifiers joined by dots (``loki.source.file``)."""
    if not isinstance(name, str):
        raise ValueError(f"{name!r} is not a valid {what}")
    for part in name.split("."):
        identifier(part, f"part of {what} {name!r}")
    return name


def string(value: str) -> str:
    """``value`` as a double-quoted Alloy string, meaning exactly itself."""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a str")
    bad = UNQUOTABLE.search(value)
    if bad:
        raise ValueError(f"{value!r}: {bad.group()!r} cannot go into an Alloy string")
    return json.dumps(value, ensure_ascii=False)


def raw(text: str) -> Raw:
    """``text`` to be written as a raw (backtick) string."""
    return Raw(text)


def raw_string(text: str) -> str:
    """``text`` as a raw (backtick) string literal."""
    return f"`{Raw(text).text}`"


def ref(path: str) -> Reference:
    """A reference to another component's export, written unquoted."""
    return Reference(path)


def value(item: Value) -> str:
    """``item`` as an Alloy expression; lists and objects span lines, one element each."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if item is None:
        return "null"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, (bytes, bytearray)):
        raise TypeError(f"{item!r} is bytes: decode it first")
    if isinstance(item, Raw):
        return raw_string(item.text)
    if isinstance(item, Reference):
        return item.path
    if isinstance(item, Mapping):
        if not item:
            return "{}"
        return "{\n" + "".join(_indent(f"{_key(k)} = {value(v)},") for k, v in item.items()) + "}"
    if isinstance(item, Sequence):
        if not item:
            return "[]"
        return "[\n" + "".join(_indent(f"{value(element)},") for element in item) + "]"
    raise TypeError(f"{item!r} ({type(item).__name__}) has no Alloy form here")


def attribute(name: str, item: Value) -> str:
    """``name = item``: one attribute (its value may span lines)."""
    return f"{identifier(name, 'attribute name')} = {value(item)}"


def block(name: str, body: Sequence[str], label: str | None = None) -> str:
    """A block ``name "label" { ... }`` whose body is attributes, blocks and comments."""
    header = dotted(name)
    if label is not None:
        header += f" {string(identifier(label, 'block label'))}"
    if not body:
        return f"{header} {{ }}"
    return f"{header} {{\n" + "".join(_indent(statement) for statement in body) + "}"


def comment(text: str) -> str:
    """``// text``, one line."""
    if not isinstance(text, str) or UNRAW.search(text):
        raise ValueError(f"{text!r}: a comment is one line without control characters")
    return f"// {text}".rstrip()


def document(statements: Sequence[str], header: str | None = None) -> str:
    """A config file: the header comment, then the statements, a blank line between each."""
    parts = [comment(header)] if header is not None else []
    return "\n\n".join([*parts, *statements]) + "\n"


def _key(key: str) -> str:
    """An object key: bare when it is an identifier, quoted otherwise."""
    if not isinstance(key, str):
        raise TypeError(f"object key {key!r} is not a str")
    return key if IDENTIFIER.fullmatch(key) and key not in KEYWORDS else string(key)


def _indent(text: str) -> str:
    """``text`` one level in, each line ended by a newline (blank lines stay empty)."""
    return "".join(f"{INDENT}{line}\n" if line else "\n" for line in text.split("\n"))
