"""Configured values shown as the user wrote them in TOML: `true`, `"5%"`, `{ warn = 5 }`."""

from __future__ import annotations

from typing import Any


def as_toml(value: Any) -> str:
    """A value parsed from TOML (or an ini file's text), written back as TOML."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {as_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(as_toml(v) for v in value) + "]"
    return repr(value)
