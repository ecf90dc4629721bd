"""The requests behind the numbers, from hand-built span tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_llmobs.analysis.analyze import Options, from_spans, with_comparison
from pytest_llmobs.analysis.breakdown import Spans, structure
from pytest_llmobs.analysis.requests import request_roots
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.grouping import parent_rows
from pytest_llmobs.gate.model import SeriesKey, SpanTable
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.redact import redactor
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json, write_run_report

# (name, test, trace, span id, parent id, start ms, duration ms, error, attributes)
Row = tuple[str, str, int, int, int, float, float, bool, dict[str, Any]]


def table_of(rows: list[Row]) -> SpanTable:
    names = tuple(dict.fromkeys(r[0] for r in rows))
    tests = ("", *dict.fromkeys(r[1] for r in rows if r[1]))
    detail: dict[str, tuple[list[int], list[Any]]] = {}
    numeric: dict[str, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(rows):
        for key, value in row[8].items():
            target: Any = numeric if isinstance(value, float) else detail
            target.setdefault(key, ([], []))[0].append(i)
            target[key][1].append(value)
    u64 = np.uint64
    return SpanTable(
        names=names,
        tests=tests,
        name_idx=np.array([names.index(r[0]) for r in rows], dtype=np.int64),
        test_idx=np.array([tests.index(r[1]) for r in rows], dtype=np.int64),
        start_ns=np.array([r[5] * 1e6 for r in rows], dtype=np.int64),
        duration_ns=np.array([r[6] * 1e6 for r in rows], dtype=np.int64),
        error=np.array([r[7] for r in rows], dtype=np.bool_),
        trace_hi=np.zeros(len(rows), dtype=u64),
        trace_lo=np.array([r[2] for r in rows], dtype=u64),
        span_id=np.array([r[3] for r in rows], dtype=u64),
        parent_id=np.array([r[4] for r in rows], dtype=u64),
        numeric={k: (np.array(r, dtype=np.int64), np.array(v)) for k, (r, v) in numeric.items()},
        detail={k: (np.array(r, dtype=np.int64), v) for k, (r, v) in detail.items()},
    )


def request(test: str, trace: int, llm_ms: float, score: float) -> list[Row]:
    """A request: retrieve, then the model call with a concurrent judge, then nothing."""
    attrs = {"request_id": f"r{trace}", "gen_ai.prompt": "tell jane@example.com", "x": "y"}
    return [
        ("request", test, trace, 1, 0, 0, 20 + llm_ms, False, attrs),
        ("retrieve", test, trace, 2, 1, 1, 9, False, {}),
        ("llm", test, trace, 3, 1, 12, llm_ms, trace == 7,
         {"gen_ai.usage.output_tokens": 40.0, "gen_ai.completion": "x" * 12}),
        ("judge", test, trace, 4, 1, 14, 3, False, {"score": score}),
    ]  # fmt: skip


def run(llm_ms: list[float], scores: list[float]) -> SpanTable:
    rows = []
    for i, (ms, score) in enumerate(zip(llm_ms, scores, strict=True)):
        rows += request(f"t.py::test[{i}]", i + 1, ms, score)
    return table_of(rows)


def test_requests_are_root_spans_or_the_configured_name() -> None:
    table = run([10, 10], [0.9, 0.9])
    parents = parent_rows(table)
    assert request_roots(table, parents).tolist() == [0, 0, 0, 0, 4, 4, 4, 4]
    # a configured request span: each span's nearest ancestor-or-self of that name
    assert request_roots(table, parents, ["llm"]).tolist() == [0, 0, 2, 0, 4, 4, 6, 4]


def test_structure_links_parent_and_child_series() -> None:
    table = run([10, 10], [0.9, 0.9])
    keys, idx = series_index(table, {}, ())
    found = structure(Spans.of(table, parent_rows(table), idx, keys))
    assert found.children == {
        SeriesKey("request"): (SeriesKey("judge"), SeriesKey("llm"), SeriesKey("retrieve"))
    }
    assert set(found.requests.values()) == {("request",)}


def findings_for(table: SpanTable, threshold: float = 0.6) -> Any:
    keys = series_index(table, {}, ())
    series = aggregate(table, ["score"], series=keys)
    options = Options(count=2, quality_threshold=threshold, redactor=redactor())
    return series, from_spans(table, keys, series, ["score"], options)


def test_slowest_requests_break_down_with_self_time_and_critical_path() -> None:
    llm_ms = [10.0] * 37 + [60.0, 90.0, 80.0]  # p95 of the requests: 81 ms
    _, found = findings_for(run(llm_ms, [0.9] * 40))
    slowest = [d for d in found.slowest if d.series == SeriesKey("request")]
    assert [d.duration_ms for d in slowest] == [110.0, 100.0]  # above p95, slowest first
    top = slowest[0]
    assert (top.test, top.request_id, top.request) == ("t.py::test[38]", "r39", "request")
    assert top.trace_id == f"{39:032x}"
    assert top.step == "llm"
    parts = {p.name: p for p in top.spans}
    assert [p.name for p in top.spans] == ["request", "retrieve", "llm", "judge"]
    assert [p.name for p in top.spans if p.critical] == ["request", "retrieve", "llm"]
    assert parts["llm"].offset_ms == 12.0
    assert parts["request"].self_ms == 110.0 - 9.0 - 90.0  # judge ran inside llm
    # strings only through redaction: allowed ones masked, others withheld
    assert top.attributes["request_id"] == "r39"
    assert top.attributes["gen_ai.prompt"] == "[21 characters withheld]"
    assert top.attributes["x"] == "[1 characters withheld]"


def test_lowest_scores_with_their_request_sizes() -> None:
    scores = [0.9] * 17 + [0.5, 0.2, 0.4]
    _, found = findings_for(run([10.0] * 20, scores))
    assert [(d.score, d.test) for d in found.lowest] == [
        (0.2, "t.py::test[18]"), (0.4, "t.py::test[19]"),
    ]  # fmt: skip
    low = found.lowest[0]
    assert low.metric == "quality.score"
    assert low.series == SeriesKey("judge")
    assert (low.request_id, low.request_ms) == ("r19", 30.0)
    assert (low.output_tokens, low.input_tokens) == (40.0, None)
    assert (low.output_chars, low.prompt_chars) == (12, 21)
    assert low.spans[0].name == "judge"


def test_errors_mark_their_span_in_a_breakdown() -> None:
    _, found = findings_for(run([10.0] * 6 + [90.0], [0.9] * 7))
    [top] = [d for d in found.slowest if d.series == SeriesKey("request")][:1]
    assert [p.error for p in top.spans] == [False, False, True, False]


def test_comparison_adds_baseline_cases_attribution_and_findings_survive_the_report(
    tmp_path: Path,
) -> None:
    before_series, _ = findings_for(run([10.0] * 20, [0.9] * 20))
    after_table = run([30.0] * 20, [0.9] * 20)
    after_series, found = findings_for(after_table)
    comparison = compare(after_series, before_series, ["score"])
    found = with_comparison(found, comparison, after_series, before_series)
    top = next(d for d in found.slowest if d.series == SeriesKey("request"))
    assert top.baseline_case_ms == 30.0
    [why] = found.attributions
    assert why.series == SeriesKey("request")
    assert why.change_ms == 20.0
    assert dict(why.parts)[SeriesKey("llm")] == 20.0
    assert why.self_change_ms == 0.0
    path = tmp_path / "run.json"
    state = BaselineState(tmp_path / "b.json", "loaded", "compared")
    write_run_report(path, RunResult(tuple(after_series), state, comparison, findings=found))
    assert result_from_json(path).findings == found
