"""Reading an ini key's value straight from pytest's TOML config file, for a value
pytest itself will not hand over."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest itself needs tomli below 3.11
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def toml_ini_value(path: Path | None, key: str, overrides: Iterable[str] = ()) -> Any:
    """An ini key's value as written in a TOML config file, for a value pytest would not
    hand over (a type it does not take for that key). The table is the one pytest 9.2
    reads: `[tool.pytest.ini_options]` or else `[tool.pytest]` in pyproject.toml,
    `[pytest]` in pytest.toml, and in any other TOML file (as given with `-c`) the
    pyproject.toml tables if it has them, else `[pytest]`.

    Args:
        path: pytest's config file (`config.inipath`).
        key: the ini key.
        overrides: the `-o`/`--override-ini` values, `name=value`: pytest's value for a
            key named there is the override's, not the file's.

    Returns:
        The value, or None when the file is no TOML file, cannot be read, or lacks the key,
        or when the key is overridden.
    """
    if path is None or path.suffix != ".toml":
        return None
    if key in (o.partition("=")[0].strip() for o in overrides):
        return None
    return _ini_table(path).get(key)


def _ini_table(path: Path) -> dict[str, Any]:
    """The table of ini keys of a TOML config file (see toml_ini_value); empty when the
    file cannot be read or has none."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # pytest, which read it first, has said what is wrong
    tool = data.get("tool")
    table = tool.get("pytest") if isinstance(tool, dict) else None
    dedicated = path.name in ("pytest.toml", ".pytest.toml")
    if dedicated or (path.name != "pyproject.toml" and not table):
        table = data.get("pytest")
    if isinstance(table, dict) and isinstance(table.get("ini_options"), dict):
        table = table["ini_options"]
    return table if isinstance(table, dict) else {}


def ini_values(path: Path) -> dict[str, Any]:
    """The llmobs ini keys a pyproject.toml's pytest table sets (`llmobs_group_by`), by
    option name: what the `llmobs` command reads beside `[tool.llmobs]`, as pytest
    would hand them to the plugin from that file."""
    from pytest_llmobs.config.options import OPTIONS

    table = _ini_table(path) if path.suffix == ".toml" else {}  # read once, not per key
    found = {option.name: table.get(option.ini) for option in OPTIONS}
    return {name: value for name, value in found.items() if value is not None}
