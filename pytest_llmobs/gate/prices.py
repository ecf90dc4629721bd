"""What a span cost: from the span's own `llm.cost.total`, or its tokens times a price table.

The table (price_table.py) is committed with the plugin and versioned; prices change,
so users override or extend it in `[tool.llmobs.prices]`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pytest_llmobs.gate.grouping import numbers_of, values_of
from pytest_llmobs.gate.model import Floats, Ints, SpanTable
from pytest_llmobs.gate.price_table import PRICES, Price, price_of
from pytest_llmobs.gate.semconv import ALIASES, TOKEN_METRICS

SPAN_COST = "llm.cost.total"  # OpenInference: a cost the instrumentation worked out


@dataclass(frozen=True)
class Costs:
    """The rows that have a cost and their cost in US dollars; and the models whose spans
    counted tokens but have no cost, as no price is known for them (nor a cost of their
    own), with the number of such spans of each."""

    rows: Ints
    values: Floats
    unpriced: Mapping[str, int]


def costs(
    table: SpanTable,
    prices: Mapping[str, Price] = PRICES,
    aliases: Mapping[str, Sequence[str]] = ALIASES,
) -> Costs:
    """What each span cost, in one pass over the tokens and models.

    A span's own `llm.cost.total` wins; otherwise its input and output tokens at its
    model's price (the response's model, else the request's). Spans with no tokens or
    no known price have no cost.
    """
    cost = np.full(len(table), np.nan)
    used, wrote, models, counted = _usage(table, aliases)
    unknown = counted.copy()
    for model in set(models[counted].tolist()) - {None}:
        price = price_of(model, prices)
        if price is not None:
            mine = counted & (models == model)
            cost[mine] = (used[mine] * price.input + wrote[mine] * price.output) / 1e6
            unknown &= ~mine
    if SPAN_COST in table.numeric:
        rows, values = table.numeric[SPAN_COST]
        cost[rows] = values
        unknown[rows] = False
    has = np.flatnonzero(~np.isnan(cost))
    counts = Counter(str(m) for m in models[unknown].tolist() if m is not None)
    return Costs(has.astype(np.int64), cost[has], dict(sorted(counts.items())))


def unpriced_notes(found: Mapping[str, int], costed: bool) -> list[str]:
    """A warning for each model without a price, when cost is measured at all (the run's
    other spans or the baseline have one): else a cost metric goes missing, unexplained."""
    if not costed:
        return []
    return [
        f"no price for model {model!r} ({n} span(s) with tokens have no cost): add it under"
        " [tool.llmobs.prices] as { input = USD per 1M tokens, output = ... }"
        for model, n in found.items()
    ]


def _usage(
    table: SpanTable, aliases: Mapping[str, Sequence[str]]
) -> tuple[Floats, Floats, npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """Each span's input and output tokens (0 when it has none), its model (the
    response's, else the request's; None), and whether it counted any token."""
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
    return used, wrote, models, (used > 0) | (wrote > 0)
