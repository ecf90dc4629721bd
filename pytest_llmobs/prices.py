"""What a span cost: from the span's own `llm.cost.total`, or its tokens times a price table.

The table (price_table.py) is committed with the plugin and versioned; prices change,
so users override or extend it in `[tool.llmobs.prices]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pytest_llmobs.grouping import values_of
from pytest_llmobs.model import Floats, Ints, SpanTable
from pytest_llmobs.price_table import PRICES, Price, price_of
from pytest_llmobs.semconv import ALIASES, TOKEN_METRICS, names_for

SPAN_COST = "llm.cost.total"  # OpenInference: a cost the instrumentation worked out


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
