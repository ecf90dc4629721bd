"""The Markdown summary: snapshots of a passing, a regressed and a 30-case run, and escaping
of span text."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_llmobs.report.markdown import escape, markdown
from pytest_llmobs.report.result import RunResult
from tests.unit.report.runs import passing_run, regressed_run, thirty_case_run

SNAPSHOTS = Path(__file__).parent / "snapshots"
RUNS: dict[str, Callable[[], RunResult]] = {
    "passing": passing_run,
    "regressed": regressed_run,
    "thirty": thirty_case_run,
}


@pytest.mark.parametrize("run", list(RUNS))
def test_summary_matches_its_snapshot(run: str) -> None:
    # LLMOBS_UPDATE_SNAPSHOTS=1 writes them anew; review the diff before committing it
    got = markdown(RUNS[run]())
    snapshot = SNAPSHOTS / f"{run}.md"
    if os.environ.get("LLMOBS_UPDATE_SNAPSHOTS"):
        snapshot.write_text(got, encoding="utf-8")
    assert got == snapshot.read_text(encoding="utf-8")


def test_checks_too_few_spans_can_test_are_one_line_regressions_first() -> None:
    needs_attention = markdown(thirty_case_run()).split("<details>")[0]
    assert "latency.p95" not in needs_attention.replace("latency.p95,", "")
    grouped = (
        "- 5 checks passed; 12 inconclusive because latency.p95, latency.p99 and error\\_rate"
        " need more spans (59, 299 and 315 a side)"
    )
    assert needs_attention.count("\n" + grouped) == 1
    assert "| inconclusive |" not in needs_attention
    table = markdown(regressed_run()).split("<details>")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    verdicts = [row.split(" | ")[7] for row in rows[1:]]
    assert verdicts == ["**regression**", "**regression**", "inconclusive", "inconclusive"]
    assert "beyond +2pp but not significantly" in rows[3]  # a harmful estimate has a row
    assert "| latency.p99 | 19.9 ms | 29.8 ms | +50.0%" in rows[4]  # untestable, but +50%
    assert "2 inconclusive because latency.p99 and error\\_rate need more spans (299 and" in table


def test_span_text_cannot_break_out_of_its_cell() -> None:
    hostile = "<script>alert(1)</script>|`x`*y*\n[link](http://e)\x1b[31m"
    escaped = escape(hostile)
    assert "<" not in escaped.replace("\\<", "")
    assert "|" not in escaped.replace("\\|", "")
    assert "\n" not in escaped
    assert "\x1b" not in escaped
    assert escaped.startswith("\\<script\\>alert(1)\\</script\\>\\|")
