"""What a span cost: from the span's own `llm.cost.total`, or its tokens times a price table.

The table is committed with the plugin and versioned; prices change, so users override
or extend it in `[tool.llmobs.prices]`. A model matches its exact name first, then the
longest name it starts with ("gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pytest_llmobs.grouping import values_of
from pytest_llmobs.model import Floats, Ints, SpanTable
from pytest_llmobs.semconv import ALIASES, TOKEN_METRICS, names_for

PRICE_TABLE_VERSION = "2026-11-01"
SPAN_COST = "llm.cost.total"  # OpenInference: a cost the instrumentation worked out


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


def cost_column(
    table: SpanTable,
    prices: Mapping[str, Price] = PRICES,
    aliases: Mapping[str, Sequence[str]] = ALIASES,
) -> tuple[Ints, Floats]:
    """The rows that have a cost, and their cost in US dollars.

    A span's own `llm.cost.total` wins; otherwise its input and output tokens at its
    model's price (the response's model, else the request's). Spans with no tokens or
    no known price have no cost.
    """
    n = len(table)
    cost = np.full(n, np.nan)
    tokens = {}
    for metric, attribute in TOKEN_METRICS.items():
        column = np.zeros(n)
        for name in reversed(names_for(attribute, aliases)):
            if name in table.numeric:
                rows, values = table.numeric[name]
                column[rows] = values
        tokens[metric] = column
    responded = values_of(table, "gen_ai.response.model", aliases)
    requested = values_of(table, "gen_ai.request.model", aliases)
    cache: dict[str, Price | None] = {}
    for row in np.flatnonzero((tokens["tokens.input"] > 0) | (tokens["tokens.output"] > 0)):
        model = responded[row] or requested[row]
        if model is None:
            continue
        price = cache[model] if model in cache else cache.setdefault(model, price_of(model, prices))
        if price is not None:
            cost[row] = (
                tokens["tokens.input"][row] * price.input
                + tokens["tokens.output"][row] * price.output
            ) / 1e6
    if SPAN_COST in table.numeric:
        rows, values = table.numeric[SPAN_COST]
        cost[rows] = values
    has = np.flatnonzero(~np.isnan(cost))
    return has.astype(np.int64), cost[has]


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
