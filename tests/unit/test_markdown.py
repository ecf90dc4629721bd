"""The Markdown summary: a snapshot of a regressed run, and escaping of span text."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pytest_llmobs.compare import compare
from pytest_llmobs.gate import BaselineState, RunResult
from pytest_llmobs.report.markdown import escape, markdown
from pytest_llmobs.rule_config import rules_from_config
from pytest_llmobs.slos import evaluate_slos
from tests.conftest import make_series

SNAPSHOTS = Path(__file__).parent / "snapshots"
CASES = [f"test_x[{i}]" for i in range(60)]


def regressed_run() -> RunResult:
    base_ms = np.linspace(10.0, 20.0, 60)
    scores = np.linspace(0.6, 0.95, 60)
    baseline = [
        make_series("llm_inference", list(base_ms), cases=CASES),
        make_series("evaluate_output", list(base_ms / 100), quality={"score": list(scores)},
                    cases=CASES),
    ]  # fmt: skip
    current = [
        make_series("llm_inference", list(base_ms * 1.5), errors=3, cases=CASES),
        make_series("evaluate_output", list(base_ms / 100), quality={"score": list(scores)},
                    cases=CASES),
    ]  # fmt: skip
    rules = rules_from_config({"slo": {"latency.p95": {"warn": "20ms", "fail": "1s"}}}, "test")
    return RunResult(
        tuple(current),
        BaselineState(Path("b.json"), "loaded", "compared with .llmobs/baseline.json"),
        compare(current, baseline, rules=rules),
        slos=tuple(evaluate_slos(current, rules)),
    )


def test_regressed_run_matches_its_snapshot() -> None:
    got = markdown(regressed_run())
    snapshot = SNAPSHOTS / "regressed.md"
    if os.environ.get("LLMOBS_UPDATE_SNAPSHOTS"):
        snapshot.write_text(got)
    assert got == snapshot.read_text()


def test_span_text_cannot_break_out_of_its_cell() -> None:
    hostile = "<script>alert(1)</script>|`x`*y*\n[link](http://e)\x1b[31m"
    escaped = escape(hostile)
    assert "<" not in escaped.replace("\\<", "")
    assert "|" not in escaped.replace("\\|", "")
    assert "\n" not in escaped
    assert "\x1b" not in escaped
    assert escaped.startswith("\\<script\\>alert(1)\\</script\\>\\|")
