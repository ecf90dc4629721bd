"""An option's value as the user wrote it (flag text, an ini line, a TOML value), checked
against the option's kind and converted."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_llmobs.config.options import Option
from pytest_llmobs.gate.severity import SEVERITIES


class BadValue(ValueError):
    """A value is not of its option's kind; the message says what was expected, for the
    caller to say where the value came from."""


def convert(option: Option, raw: Any, base_dir: Path) -> Any:
    """The value, converted to the option's kind.

    Args:
        option: the option the value is for.
        raw: the value as its source gave it: text, or a native TOML value.
        base_dir: the folder a relative path starts from.

    Raises:
        BadValue: the value is not of the option's kind, or out of its range.
    """
    if option.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return raw.strip().lower() in ("true", "1", "yes")
        raise BadValue("expected true or false")
    if option.kind in ("int", "count"):
        text = str(raw).strip()
        low, high = (0, 255) if option.kind == "int" else (0, 10_000)
        if isinstance(raw, bool) or not _digits(text) or not low <= int(text) <= high:
            raise BadValue(f"expected a whole number from {low} to {high}")
        return int(text)
    if option.kind == "number":
        number = _float(raw)
        if not math.isfinite(number):
            raise BadValue("expected a number")
        return number
    if option.kind == "severity":
        text = str(raw).strip().lower()
        if text not in SEVERITIES:
            raise BadValue(f"expected one of {', '.join(SEVERITIES)}")
        return text
    if option.kind == "seconds":
        number = _float(raw)
        if not 0 <= number <= 3600:
            raise BadValue("expected a number of seconds from 0 to 3600")
        return number
    if option.kind == "endpoint":
        return _endpoint(raw)
    if option.kind == "url":
        return _url(raw)
    if option.kind == "text":
        text = str(raw).strip() if isinstance(raw, (str, int, float)) else ""
        if not text or isinstance(raw, bool):
            raise BadValue("expected a name")
        return text
    if option.kind in ("float", "rate"):
        number = _float(raw)
        if option.kind == "rate" and 0 <= number <= 1:
            return number
        if not 0 < number < 1:
            bounds = "from 0 to 1" if option.kind == "rate" else "between 0 and 1"
            raise BadValue(f"expected a number {bounds}")
        return number
    if option.kind == "path":
        if not isinstance(raw, (str, Path)) or not str(raw).strip():
            raise BadValue("expected a file path")
        # `..` folded, as a user reads it (proj/../outside/b.json: outside/b.json)
        return Path(os.path.normpath(base_dir / Path(str(raw).strip())))
    return _names(option, raw)


def _endpoint(raw: Any) -> tuple[str, int]:
    """HOST:PORT (a port of 0 picks a free one); [::1]:4318 for an IPv6 address."""
    text = str(raw).strip()
    if "://" in text:
        raise BadValue("expected HOST:PORT without a scheme, such as 127.0.0.1:4318")
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not _digits(port) or int(port) > 65535:
        raise BadValue("expected HOST:PORT, such as 127.0.0.1:4318")
    return host, int(port)


def _url(raw: Any) -> str:
    """An http(s) URL; HOST:PORT alone is taken as http://HOST:PORT, as Prometheus'
    client takes a Pushgateway's address."""
    text = str(raw).strip() if isinstance(raw, str) else ""
    if text and "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    try:
        port = parts.port  # a port that is not a number raises
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise BadValue("expected an http(s) URL, such as http://localhost:4318")
    if any(c.isspace() for c in text):
        raise BadValue("expected an http(s) URL without spaces")
    return text


def _names(option: Option, raw: Any) -> tuple[str, ...]:
    """A list of names: text separated by spaces or commas, or a list of strings."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise BadValue("expected a list of attribute names")
    if isinstance(raw, str):  # text: names separated by spaces or commas
        parts = raw.replace(",", " ").split()
    elif option.name == "request_spans":  # a list of span names, which may hold either
        parts = [n.strip() for n in names]
    else:  # attribute names hold neither: `model,user_tier` in a list is two
        parts = [p.strip() for n in names for p in n.split(",") if p.strip()]
    return tuple(dict.fromkeys(parts))


def _float(raw: Any) -> float:
    """The value as a number, or NaN (which every range check refuses) for anything else,
    true and false included."""
    if isinstance(raw, bool):
        return math.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _digits(text: str) -> bool:
    """Whether int() reads text as a number of ASCII digits (str.isdigit is true for "²")."""
    return text.isascii() and text.isdigit()
