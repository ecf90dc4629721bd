"""Attributes' aliases and redaction from where users write them: the `aliases` and
`redact` tables of `[tool.llmobs]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_llmobs.gate.redact import RedactError, Redactor, redactor
from pytest_llmobs.gate.semconv import AliasError, alias_map
from pytest_llmobs.gate.toml_text import as_toml


class TableError(ValueError):
    """A table is malformed; the message says how, for the caller to say where the table
    came from."""


def aliases_from_config(table: Any) -> dict[str, tuple[str, ...]]:
    """The built-in alias map extended by an `aliases` table of name = [other names].

    Raises:
        TableError: the table is not of names, or an alias clashes with another.
    """
    if not isinstance(table, dict):
        raise TableError("expected a table of name = [other names]")
    extra: dict[str, list[str]] = {}
    for name, others in table.items():
        names = [others] if isinstance(others, str) else others
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise TableError(f"{name} = {as_toml(others)}: expected a list of names")
        extra[str(name)] = names
    try:
        return alias_map(extra)
    except AliasError as exc:
        raise TableError(str(exc)) from None


def redactor_from_config(
    table: Any, shown: tuple[str, ...], aliases: Mapping[str, tuple[str, ...]]
) -> Redactor:
    """The default redactor, extended by a `redact` table of `allow` and `patterns` lists.

    Args:
        table: the table; {} when there is none.
        shown: attributes always shown besides those the table allows.
        aliases: more names for attributes, which the allowed names match too.

    Raises:
        TableError: the table is not two lists of strings, or a pattern does not compile.
    """
    if not isinstance(table, dict) or set(table) - {"allow", "patterns"}:
        raise TableError("expected a table with `allow` and `patterns` lists")
    lists = {}
    for key in ("allow", "patterns"):
        items = table.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise TableError(f"{key} = {as_toml(items)}: expected a list of strings")
        lists[key] = items
    try:
        return redactor((*lists["allow"], *shown), lists["patterns"], aliases)
    except RedactError as exc:
        raise TableError(f"patterns: {exc}") from None
