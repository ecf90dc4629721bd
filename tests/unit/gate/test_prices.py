"""The price table and a span's cost: its own llm.cost.total, else tokens times price."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_llmobs.config.settings import ConfigError, load_pyproject, resolve
from pytest_llmobs.gate.aggregate import aggregate
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.price_table import PRICES, Price, parse_prices, price_of
from pytest_llmobs.gate.prices import costs
from pytest_llmobs.gate.semconv import COST_ATTRIBUTE


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", PRICES["gpt-4o"]),
        ("gpt-4o-2024-08-06", PRICES["gpt-4o"]),  # a dated version: its family's price
        ("gpt-4o-mini-2024-07-18", PRICES["gpt-4o-mini"]),  # the longest match wins
        ("claude-3-5-haiku-20241022", PRICES["claude-3-5-haiku"]),
        ("my-own-model", None),
    ],
)
def test_price_of_matches_exact_names_then_the_longest_prefix(
    model: str, expected: Price | None
) -> None:
    assert price_of(model) == expected


def table(rows: list[dict[str, Any]]) -> SpanTable:
    n = len(rows)
    numeric: dict[str, tuple[list[int], list[float]]] = {}
    detail: dict[str, tuple[list[int], list[Any]]] = {}
    for i, attributes in enumerate(rows):
        for key, value in attributes.items():
            store = detail if isinstance(value, str) else numeric
            store.setdefault(key, ([], []))[0].append(i)
            store[key][1].append(value)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    return SpanTable(
        names=("chat",),
        tests=("",),
        name_idx=np.zeros(n, dtype=np.int64),
        test_idx=np.zeros(n, dtype=np.int64),
        start_ns=np.zeros(n, dtype=np.int64),
        duration_ns=np.full(n, 1_000_000, dtype=np.int64),
        error=np.zeros(n, dtype=np.bool_),
        trace_hi=ids,
        trace_lo=ids,
        span_id=ids,
        parent_id=np.zeros(n, dtype=np.uint64),
        numeric={k: (np.array(r), np.array(v, dtype=np.float64)) for k, (r, v) in numeric.items()},
        detail={k: (np.array(r), v) for k, (r, v) in detail.items()},
    )


SPANS: list[dict[str, Any]] = [
    {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1000,
     "gen_ai.usage.output_tokens": 100},
    {"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
     "gen_ai.usage.prompt_tokens": 2000},  # old token name; the response's model wins
    {"llm.model_name": "gpt-4o", "llm.token_count.completion": 10, "llm.cost.total": 0.5},
    {"gen_ai.request.model": "unknown-model", "gen_ai.usage.input_tokens": 5},
    {"gen_ai.request.model": "gpt-4o"},  # no tokens
]  # fmt: skip


def test_cost_from_tokens_and_price_or_from_the_span() -> None:
    found = costs(table(SPANS))
    rows, cost = found.rows, found.values
    assert rows.tolist() == [0, 1, 2]
    assert cost.tolist() == pytest.approx(
        [(1000 * 2.50 + 100 * 10.00) / 1e6, 2000 * 0.15 / 1e6, 0.5]
    )


def test_cost_is_a_gated_per_series_mean() -> None:
    found = costs(table(SPANS))
    rows, cost = found.rows, found.values
    [series] = aggregate(table(SPANS), derived={COST_ATTRIBUTE: (rows, cost)})
    assert series.quality[COST_ATTRIBUTE].count == 3
    assert series.quality[COST_ATTRIBUTE].mean == pytest.approx(float(np.mean(cost)))


def test_prices_in_pyproject_extend_and_override_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.llmobs.prices]\n"
        '"my-model" = {input = 1.0, output = 2.0}\n'
        '"gpt-4o" = {input = 0, output = 0}\n'
    )
    settings = resolve([load_pyproject(tmp_path / "pyproject.toml")], tmp_path)
    assert settings.prices["my-model"] == Price(1.0, 2.0)
    assert settings.prices["gpt-4o"] == Price(0.0, 0.0)
    assert settings.prices["gpt-4o-mini"] == PRICES["gpt-4o-mini"]


@pytest.mark.parametrize(
    "entry",
    ["{input = 1.0}", "{input = -1, output = 1}", '{input = "1", output = 1}', "3"],
)
def test_a_bad_price_names_the_model_and_the_file(tmp_path: Path, entry: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.llmobs.prices]\n"m" = {entry}\n')
    with pytest.raises(ConfigError, match=r"m = .*expected \{input = USD per 1M") as info:
        resolve([load_pyproject(tmp_path / "pyproject.toml")], tmp_path)
    assert "pyproject.toml" in str(info.value)


def test_parse_prices_refuses_a_non_table() -> None:
    with pytest.raises(ValueError, match="expected a table"):
        parse_prices(["gpt-4o"], "prices (here)")
