"""The `[tool.llmobs]` table of a pyproject.toml, read with its keys checked; and whether
the file has a table pytest roots at."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.config.unmatched import closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

PYPROJECT_TABLE = "[tool.llmobs]"
# Tables only pyproject.toml can hold: tolerance rules, per-series overrides, SLOs.
RULE_TABLES = frozenset({"rules", "overrides", "slo"})
PYPROJECT_KEYS = (
    frozenset(o.name for o in OPTIONS if o.name not in ("enabled", "update_baseline"))
    | RULE_TABLES
    | {"aliases"}  # more names for attributes: {"gen_ai.request.model" = ["model"]}
    | {"prices"}  # model = {input = USD per 1M tokens, output = ...}
    | {"redact"}  # allow = [attributes a report may show], patterns = [regexes to mask]
)


class PyprojectError(ValueError):
    """The file cannot be read, or its table is not one; the message names the file."""


def llmobs_table(path: Path) -> dict[str, Any]:
    """The `[tool.llmobs]` table of a pyproject.toml; empty when there is no file.

    Raises:
        PyprojectError: the file cannot be read or parsed, the table is not a table, or it
            has a key no setting has.
    """
    label = f"{PYPROJECT_TABLE} in {path}"
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PyprojectError(f"{path}: cannot read it as TOML: {exc}") from None
    table = data.get("tool", {}).get("llmobs", {})
    if not isinstance(table, dict):
        raise PyprojectError(f"{label}: expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - PYPROJECT_KEYS)
    if unknown:
        known = ", ".join(sorted(PYPROJECT_KEYS))
        hint = closest(unknown[0], PYPROJECT_KEYS)
        raise PyprojectError(f"{label}: unknown key {unknown[0]!r}{hint} (known keys: {known})")
    return table


def has_pytest_table(path: Path) -> bool:
    """Whether the file has a `[tool.pytest...]` table, by which pytest roots there; false
    for a file that cannot be read."""
    try:
        with path.open("rb") as fh:
            return "pytest" in tomllib.load(fh).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
