"""What a span cost: from the span's own `llm.cost.total`, or its tokens times a price table.

The table (price_table.py) is committed with the plugin and versioned; prices change,
so users override or extend it in `[tool.llmobs.prices]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pytest_llmobs.grouping import numbers_of, values_of
from pytest_llmobs.model import Floats, Ints, SpanTable
from pytest_llmobs.price_table import PRICES, Price, price_of
from pytest_llmobs.semconv import ALIASES, TOKEN_METRICS

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
    cost = np.full(len(table), np.nan)
    tokens = {}
    for metric, attribute in TOKEN_METRICS.items():
        tokens[metric] = np.zeros(len(table))
        rows, values = numbers_of(table, attribute, aliases)
        tokens[metric][rows] = values
    used, wrote = tokens["tokens.input"], tokens["tokens.output"]
    responded = values_of(table, "gen_ai.response.model", aliases)
    requested = values_of(table, "gen_ai.request.model", aliases)
    answered = np.array([m is not None for m in responded], dtype=np.bool_)
    models = np.where(answered, responded, requested)
    counted = (used > 0) | (wrote > 0)
    for model in set(models[counted].tolist()) - {None}:
        price = price_of(model, prices)
        if price is not None:
            mine = counted & (models == model)
            cost[mine] = (used[mine] * price.input + wrote[mine] * price.output) / 1e6
    if SPAN_COST in table.numeric:
        rows, values = table.numeric[SPAN_COST]
        cost[rows] = values
    has = np.flatnonzero(~np.isnan(cost))
    return has.astype(np.int64), cost[has]
