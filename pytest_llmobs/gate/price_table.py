"""The committed price table (US dollars per million tokens) and its pyproject overrides.

Kept free of numpy: the settings read it for every pytest run, with or without --llmobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PRICE_TABLE_VERSION = "2026-11-01"


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float


# Public list prices per 1M tokens as of PRICE_TABLE_VERSION (standard tier, no caching).
PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-2.0-flash": Price(0.10, 0.40),
}


def price_of(model: str, prices: Mapping[str, Price] = PRICES) -> Price | None:
    """The price of a model: its exact name, else the longest name it starts with."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def parse_prices(table: object, where: str) -> dict[str, Price]:
    """`[tool.llmobs.prices]`: model = {input = USD per 1M, output = USD per 1M}.

    Raises:
        ValueError: an entry is not such a table of two non-negative numbers.
    """
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table of model = {{input = ..., output = ...}}")
    parsed = {}
    for model, entry in table.items():
        ok = (
            isinstance(entry, dict)
            and set(entry) == {"input", "output"}
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")
                for v in entry.values()
            )
        )
        if not ok:
            raise ValueError(
                f"{where}: {model} = {entry!r}: expected {{input = USD per 1M tokens, "
                "output = USD per 1M tokens}"
            )
        parsed[str(model)] = Price(float(entry["input"]), float(entry["output"]))
    return parsed
