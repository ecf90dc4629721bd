"""The terminal summary: regressions first, every row within 100 columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pytest_llmobs.compare import compare
from pytest_llmobs.gate import BaselineState, RunResult
from pytest_llmobs.report import terminal, text
from tests.conftest import make_series

BASE = list(np.linspace(10.0, 20.0, 60))


def test_table_rows_fit_100_columns_with_regressions_first() -> None:
    long_name = "a_really_long_span_name_" * 5 + "<script>|\x1b[31m\nx"
    base = [make_series("ok", BASE), make_series(long_name, BASE, quality={"score": [0.9] * 60})]
    cur = [
        make_series("ok", BASE),
        make_series(long_name, [x * 1.6 for x in BASE], quality={"score": [0.7] * 60}),
    ]
    result = RunResult(tuple(cur), BaselineState(Path("b.json"), "loaded", "compared with b.json"),
                       compare(cur, base))  # fmt: skip
    lines = terminal.summary_lines(result)
    assert all(len(line) <= terminal.WIDTH for line in lines)
    assert all(line.isprintable() for line in lines)
    header, first = lines[0], lines[1]
    assert header.split() == ["series", "metric", "baseline", "current", "change", "p", "verdict"]
    assert first.endswith("REGRESSION")
    assert first.split()[1:] == [
        "latency.p50",
        "15.0",
        "ms",
        "24.0",
        "ms",
        "+60.0%",
        "<0.0001",
        "REGRESSION",
    ]
    assert any("quality.score" in line and "-0.200" in line for line in lines)
    assert lines[-1] == "compared with b.json"
    assert text.title(result).startswith("llmobs: REGRESSION in ")


def test_without_baseline_the_hint_is_shown() -> None:
    state = BaselineState(Path("b.json"), "missing", "no baseline at b.json: run ...")
    result = RunResult((make_series("s", BASE),), state)
    assert text.title(result) == "llmobs: PASS"
    assert terminal.summary_lines(result) == [
        "captured 60 spans in 1 series",
        "no baseline at b.json: run ...",
    ]
