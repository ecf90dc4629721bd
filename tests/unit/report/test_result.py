"""The run's verdict: error, then regression, then fail (SLO, inconclusive), then pass."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from pytest_llmobs.gate.compare import Check, Comparison, Verdict
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.slos import SloResult
from pytest_llmobs.report.result import RunResult

KEY = SeriesKey("s")
LOADED = BaselineState(Path("b.json"), "loaded")


def result(
    *verdicts: Verdict,
    slo: Literal["ok", "warn", "fail"] = "ok",
    strict: bool = False,
    baseline: BaselineState = LOADED,
    errors: tuple[str, ...] = (),
) -> RunResult:
    checks = tuple(Check(KEY, "latency.p50", v) for v in verdicts)
    slos = (SloResult(KEY, "error_rate", 0.1, 0.05, 0.2, slo),)
    return RunResult(
        (), baseline, Comparison(checks), errors=errors, slos=slos, fail_on_inconclusive=strict
    )


@pytest.mark.parametrize(
    ("run", "verdict"),
    [
        (result("pass", "improvement"), "pass"),
        (result("pass", "regression"), "regression"),
        (result("pass", slo="warn"), "pass"),
        (result("pass", slo="fail"), "fail"),
        (result("regression", slo="fail"), "regression"),
        (result("inconclusive"), "pass"),
        (result("inconclusive", strict=True), "fail"),
        (result("regression", errors=("gw1 sent no span data",)), "error"),
        (result("regression", baseline=BaselineState(Path("b"), "error")), "error"),
        (result("regression", baseline=BaselineState(Path("b"), "updated")), "pass"),
    ],
)
def test_verdict_precedence(run: RunResult, verdict: str) -> None:
    assert run.verdict == verdict
