"""Runs the report snapshots show, judged by the real compare() on deterministic series:
a passing run, a regressed one, and a 30-case run split by group_by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import SeriesKey, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.report.result import RunResult
from tests.conftest import make_series

LOADED = BaselineState(Path("b.json"), "loaded", "compared with .llmobs/baseline.json")
CASES = [f"test_x[{i}]" for i in range(60)]
# what group_by makes of a RAG app's requests: one series per model and user tier
GROUPS = (
    (("model", "gpt-4o-mini"), ("user_tier", "pro")),
    (("model", "gpt-4o-mini"), ("user_tier", "free")),
    (("model", "gpt-4o"), ("user_tier", "pro")),
)


def series(
    name: str,
    ms: Sequence[float],
    cases: Sequence[str],
    group: tuple[tuple[str, str], ...] = (),
    scores: Sequence[float] | None = None,
) -> SeriesStats:
    """A series of one sample per test case, grouped like group_by's."""
    quality = {"overall_score": scores} if scores is not None else None
    made = make_series(name, ms, quality=quality, cases=cases)
    return replace(made, key=SeriesKey(name, group))


def regressed_run() -> RunResult:
    """llm_inference 1.5x slower with 3 errors in 60 spans, an SLO it breaches."""
    base_ms = np.linspace(10.0, 20.0, 60)
    scores = list(np.linspace(0.6, 0.95, 60))
    baseline = [
        make_series("llm_inference", list(base_ms), cases=CASES),
        make_series("evaluate_output", list(base_ms / 100), quality={"score": scores},
                    cases=CASES),
    ]  # fmt: skip
    current = [
        make_series("llm_inference", list(base_ms * 1.5), errors=3, cases=CASES),
        make_series("evaluate_output", list(base_ms / 100), quality={"score": scores},
                    cases=CASES),
    ]  # fmt: skip
    rules = rules_from_config({"slo": {"latency.p95": {"warn": "20ms", "fail": "1s"}}}, "test")
    return RunResult(
        tuple(current), LOADED, compare(current, baseline, rules=rules),
        slos=tuple(evaluate_slos(current, rules)),
    )  # fmt: skip


def passing_run() -> RunResult:
    """300 test cases an A/A run measures again within a percent: every check passes."""
    return _run(300, (GROUPS[0], ()))


def thirty_case_run() -> RunResult:
    """A 30-case suite split by model and user tier, measured again within a percent: p95
    and p99 cannot be tested (59 and 299 spans a side), the error rate cannot be ruled
    out, the rest passes."""
    return _run(30, GROUPS)


def _run(n: int, groups: Sequence[tuple[tuple[str, str], ...]]) -> RunResult:
    cases = [f"test_rag[{i}]" for i in range(n)]
    base = [10.0 + (i * 7 % n) * 10.0 / n for i in range(n)]
    again = [ms * (1 + 0.002 * (i % 5 - 2)) for i, ms in enumerate(base)]
    scores = [0.6 + (i % 30) / 100 for i in range(n)]

    def suite(ms: Sequence[float]) -> list[SeriesStats]:
        made = [series("rag_request", ms, cases, group) for group in groups]
        return [*made, series("evaluate_output", [m / 100 for m in ms], cases, (), scores)]

    before, now = suite(base), suite(again)
    return RunResult(tuple(now), LOADED, compare(now, before))
