"""An option's value as the user wrote it (flag text, an ini line, a TOML value), checked
against the option's kind and converted."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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
    if option.kind in ("names", "path"):
        return _names(option, raw) if option.kind == "names" else _path(raw, base_dir)
    if option.kind in _NUMBERS:
        return _number(option.kind, raw)
    return _OTHERS[option.kind](raw)


# each kind of number: its check, and what the message says was expected
_NUMBERS: dict[str, tuple[Callable[[float], bool], str]] = {
    "number": (math.isfinite, "a number"),
    "seconds": (lambda n: 0 <= n <= 3600, "a number of seconds from 0 to 3600"),
    # a timeout of 0 would leave no time to send anything
    "timeout": (lambda n: 0 < n <= 3600, "a number of seconds above 0 and up to 3600"),
    "rate": (lambda n: 0 <= n <= 1, "a number from 0 to 1"),
    "float": (lambda n: 0 < n < 1, "a number between 0 and 1"),
}


def _number(kind: str, raw: Any) -> float:
    number = _float(raw)  # NaN for what is no number, which every check refuses
    check, expected = _NUMBERS[kind]
    if not check(number):
        raise BadValue(f"expected {expected}")
    return number


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.strip().lower() in ("true", "1", "yes")
    raise BadValue("expected true or false")


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def whole(raw: Any) -> int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not _digits(text) or not low <= int(text) <= high:
            raise BadValue(f"expected a whole number from {low} to {high}")
        return int(text)

    return whole


def _severity(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in SEVERITIES:
        raise BadValue(f"expected one of {', '.join(SEVERITIES)}")
    return text


def _text(raw: Any) -> str:
    text = str(raw).strip() if isinstance(raw, (str, int, float)) else ""
    if not text or isinstance(raw, bool):
        raise BadValue("expected a name")
    return text


def _path(raw: Any, base_dir: Path) -> Path:
    if not isinstance(raw, (str, Path)) or not str(raw).strip():
        raise BadValue("expected a file path")
    # `..` folded, as a user reads it (proj/../outside/b.json: outside/b.json)
    return Path(os.path.normpath(base_dir / Path(str(raw).strip())))


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
        raise BadValue("expected an http(s) URL, such as http://localhost:9091")
    if any(c.isspace() for c in text):
        raise BadValue("expected an http(s) URL without spaces")
    if parts.path.startswith("//"):  # http//host:9091, read as the host "http"
        raise BadValue("expected an http(s) URL: is the ':' after http missing?")
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


_OTHERS: dict[str, Callable[[Any], Any]] = {
    "bool": _bool,
    "int": _whole(0, 255),
    "count": _whole(0, 10_000),
    "severity": _severity,
    "endpoint": _endpoint,
    "url": _url,
    "text": _text,
}
