"""Runs that only list something (fixtures, markers, the cache) run no test: with --llmobs
they print no gate, keep the exit status, and leave the run report and baseline alone."""

from __future__ import annotations

from typing import Any

import pytest

SUITE = """
import pytest
from opentelemetry import trace

@pytest.fixture
def answer():
    return 42

def test_answer(answer):
    with trace.get_tracer("app").start_as_current_span("llm_request"):
        assert answer == 42
"""

# pytest's own listing modes, with what their output shows
LISTINGS = {
    "--fixtures": "*answer*",
    "--fixtures-per-test": "*fixtures used by test_answer*",
    "--cache-show": "cache is empty",  # the run recording the baseline kept no cache
    "--markers": "*@pytest.mark.llmobs*",
}


@pytest.mark.parametrize("listing", list(LISTINGS))
def test_a_listing_run_judges_nothing(
    pytester: pytest.Pytester, run_llmobs: Any, listing: str
) -> None:
    pytester.makepyfile(test_app=SUITE)
    recorded, _ = run_llmobs("--llmobs-update-baseline")
    assert recorded.ret == 0
    baseline = (pytester.path / ".llmobs" / "baseline.json").read_text()
    report = (pytester.path / "report.json").read_text()
    # the cache provider stays on: --cache-show is its option
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-json=report.json", listing)
    assert result.ret == 0
    result.stdout.fnmatch_lines([LISTINGS[listing]])
    assert "llmobs:" not in result.stdout.str()  # no gate table, no verdict
    assert (pytester.path / "report.json").read_text() == report
    assert (pytester.path / ".llmobs" / "baseline.json").read_text() == baseline
