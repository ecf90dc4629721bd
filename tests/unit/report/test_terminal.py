"""The terminal summary: what needs attention, one line for the rest, every check with
verbose; columns that follow the terminal's width, series keys never cut."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.report import attention, terminal, text
from pytest_llmobs.report.result import RunResult
from tests.conftest import make_series
from tests.unit.report.runs import (
    CASES,
    LOADED,
    passing_run,
    regressed_run,
    series,
    thirty_case_run,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
BASE = list(np.linspace(10.0, 20.0, 60))
RUNS: dict[str, Callable[[], RunResult]] = {
    "passing": passing_run,
    "regressed": regressed_run,
    "thirty": thirty_case_run,
}


def shown(result: RunResult, width: int, verbose: bool = False) -> str:
    """What the terminal shows of a run: the headline, then the summary."""
    lines = [text.title(result), *terminal.summary_lines(result, width, verbose)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize("run", list(RUNS))
def test_summary_matches_its_snapshot(run: str, width: int, verbose: bool) -> None:
    # LLMOBS_UPDATE_SNAPSHOTS=1 writes them anew; review the diff before committing it
    got = shown(RUNS[run](), width, verbose)
    snapshot = SNAPSHOTS / f"terminal-{run}-{width}{'-verbose' if verbose else ''}.txt"
    if os.environ.get("LLMOBS_UPDATE_SNAPSHOTS"):
        snapshot.write_text(got, encoding="utf-8")
    assert got == snapshot.read_text(encoding="utf-8")
    assert all(len(line) <= width and line.isprintable() for line in got.splitlines())


def test_a_passing_run_is_one_line_and_the_baseline() -> None:
    assert terminal.summary_lines(passing_run(), 80) == [
        "all 13 checks passed: -v lists every check",
        "compared with .llmobs/baseline.json",
    ]
    assert len(terminal.summary_lines(passing_run(), 200, verbose=True)) == 1 + 13 + 1


def test_the_rest_line_counts_every_check_not_shown() -> None:
    result = thirty_case_run()
    assert result.comparison is not None
    checks = result.comparison.checks
    lines = terminal.summary_lines(result, 200)
    rows = [line for line in lines if line.endswith(("inconclusive", "REGRESSION", "pass"))]
    too_few = [c for c in checks if attention.structural(c)]
    passed = [c for c in checks if c.verdict == "pass"]
    assert len(rows) + len(too_few) + len(passed) == len(checks) == 17
    assert {c.cause for c in too_few} == {"too-few", "low-power"}
    assert (
        f"{len(passed)} checks passed; {len(too_few)} inconclusive because latency.p95,"
        " latency.p99 and error_rate need more spans (59, 299 and 315 a side): -v lists"
        " every check" in lines
    )
    assert rows == []


def test_structural_checks_have_rows_when_inconclusive_fails_the_run() -> None:
    result = replace(thirty_case_run(), fail_on_inconclusive=True)
    lines = terminal.summary_lines(result, 200)
    assert sum("latency.p99" in line and "inconclusive" in line for line in lines) == 4
    assert not any("other checks passed;" in line for line in lines)


def test_regressions_come_first_and_every_line_fits_the_width() -> None:
    long_name = "a_really_long_span_name_" * 5 + "<script>|\x1b[31m\nx"
    base = [make_series("ok", BASE), make_series(long_name, BASE, quality={"score": [0.9] * 60})]
    cur = [
        make_series("ok", BASE),
        make_series(long_name, [x * 1.6 for x in BASE], quality={"score": [0.7] * 60}),
    ]
    result = RunResult(tuple(cur), LOADED, compare(cur, base))
    for width in (10, 60, 80, 120, 300):
        lines = terminal.summary_lines(result, width)
        assert all(len(line) <= max(width, terminal.MIN_WIDTH) for line in lines)
        assert all(line.isprintable() for line in lines)
    lines = terminal.summary_lines(result, 300)
    assert lines[0].split() == ["series", "metric", "baseline", "current", "change", "p",
                                "verdict"]  # fmt: skip
    assert lines[1].split()[1:] == [
        "latency.p50", "15.0", "ms", "24.0", "ms", "+60.0%", "<0.0001", "REGRESSION",
    ]  # fmt: skip
    assert any("quality.score" in line and "-0.200" in line for line in lines)
    assert lines[-1] == "compared with .llmobs/baseline.json"
    assert text.title(result).startswith("llmobs: REGRESSION in ")


def test_keys_that_differ_in_the_middle_stay_whole_and_apart() -> None:
    """Two keys alike but for their middle: a cut would print both the same."""
    tier = (("model", "gpt-4o-mini-2024-07-18"), ("region", "eu-west-1"))
    keys = [(*tier, ("user_tier", t), ("zone", "eu-west-1a")) for t in ("pro", "free")]
    base = [series("rag_request", BASE, CASES, k) for k in keys]
    cur = [series("rag_request", [x * 1.6 for x in BASE], CASES, k) for k in keys]
    result = RunResult(tuple(cur), LOADED, compare(cur, base))
    lines = terminal.summary_lines(result, 80)
    for key in keys:
        label = SeriesKey("rag_request", key).label
        assert len(label) > 80
        assert label in "".join(lines)  # its own line, wrapped where it must
    assert all(len(line) <= 80 for line in lines)


def test_without_baseline_the_hint_is_shown() -> None:
    state = BaselineState(Path("b.json"), "missing", "no baseline at b.json: run ...")
    result = RunResult((make_series("s", BASE),), state)
    assert text.title(result) == "llmobs: PASS"
    assert terminal.summary_lines(result) == [
        "captured 60 spans in 1 series",
        "no baseline at b.json: run ...",
    ]


def test_a_message_stays_one_line_whole_however_narrow_the_terminal() -> None:
    """Errors and warnings are found and copied as they are: the terminal wraps them."""
    warning = "the baseline was recorded with other settings: " + "group_by model " * 12
    state = BaselineState(Path("b.json"), "error", "b.json: not valid JSON " + "x" * 90)
    result = RunResult((make_series("s", BASE),), state, warnings=(warning,))
    assert terminal.summary_lines(result, 60) == [
        "captured 60 spans in 1 series",
        state.message,
        f"warning: {warning}",
    ]


def test_a_row_that_fits_only_with_single_spaces_keeps_its_series_beside_it() -> None:
    names = ("retrieve_documents", "llm_inference")
    base = [make_series(n, BASE) for n in names]
    cur = [make_series(n, [x * 1.6 for x in BASE]) for n in names]
    result = RunResult(tuple(cur), LOADED, compare(cur, base))
    lines = terminal.summary_lines(result, 80, verbose=True)
    # 81 columns with two spaces between columns; one space each keeps the table whole
    assert "retrieve_documents latency.p50 15.0 ms  24.0 ms +60.0% <0.0001 REGRESSION" in lines
    assert all(len(line) <= 80 for line in lines)


def test_the_title_counts_failed_slos_beside_the_regressions() -> None:
    result = regressed_run()
    assert text.title(result) == "llmobs: REGRESSION in 2 of 9 checks"  # an SLO warns only
    failed = tuple(
        replace(s, status="fail" if s.status == "warn" else s.status) for s in result.slos
    )
    assert text.title(replace(result, slos=failed)) == (
        "llmobs: REGRESSION in 2 of 9 checks; 1 SLO failed"
    )
    passing = passing_run()
    two = (*failed, *failed)
    assert text.title(replace(passing, slos=two)).startswith(
        "llmobs: FAIL (13 checks; 2 SLOs failed)"
    )


def test_at_sixty_columns_a_row_keeps_its_verdict_whole() -> None:
    lines = terminal.summary_lines(regressed_run(), 60, verbose=True)
    table = lines[: lines.index("SLOs: 1 of 2 met")]  # the messages after it stay whole
    assert all(len(line) <= 60 for line in table), "\n".join(table)
    rows = [line for line in lines if line.rstrip().endswith(("REGRESSION", "inconclusive"))]
    assert len(rows) >= 4  # no verdict cut to `inconclus…`
    assert not any(line.endswith("…") for line in lines)
