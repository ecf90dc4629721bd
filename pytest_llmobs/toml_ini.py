"""Reading an ini key's value straight from pytest's TOML config file, for a value
pytest itself will not hand over."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest itself needs tomli below 3.11
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def toml_ini_value(path: Path | None, key: str) -> Any:
    """An ini key's value as written in a TOML config file, for a value pytest would not
    hand over (a type it does not take for that key): `[pytest]` in pytest.toml,
    `[tool.pytest.ini_options]` or else `[tool.pytest]` in pyproject.toml.

    Returns:
        The value, or None when the file is no TOML file, cannot be read, or lacks the key.
    """
    if path is None or path.suffix != ".toml":
        return None
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # pytest, which read it first, has said what is wrong
    pytest_only = path.name in ("pytest.toml", ".pytest.toml")
    table = data.get("pytest") if pytest_only else data.get("tool", {}).get("pytest")
    if isinstance(table, dict) and isinstance(table.get("ini_options"), dict):
        table = table["ini_options"]
    return table.get(key) if isinstance(table, dict) else None
