"""The terminal summary of real runs: quiet by default, every check with -v or
--llmobs-verbose, the checks within the terminal's width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.suites import CLOCK

# 300 test cases: enough for every check of an A/A run to pass, p99 included
SUITE = (
    CLOCK
    + """
import pytest

tracer = TimedTracer("quiet")
N = {cases}
MODELS = ("gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022")

@pytest.mark.parametrize("i", range(N))
def test_request(i):
    with tracer.start_as_current_span("rag_request", ms=1 + (i * 7 % N) * 6 / N) as span:
        span.set_attribute("gen_ai.request.model", MODELS[i % 2])
        span.set_attribute("user_tier", "enterprise-trial" if i % 3 else "pro")
"""
)
HEADER = "series*metric*baseline*current*change*p*verdict"


def summary(result: pytest.RunResult) -> list[str]:
    """The lines from the llmobs headline on."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if " llmobs: " in line)
    return lines[start:]


@pytest.fixture
def recorded_300(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(test_quiet=SUITE.format(cases=300))
    result, _ = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0


@pytest.mark.usefixtures("recorded_300")
def test_a_passing_run_is_one_line_and_every_check_with_v(
    pytester: pytest.Pytester, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # paths whole, on one line
    result, report = run_llmobs()
    assert (result.ret, report["verdict"]) == (0, "pass")
    assert summary(result)[1:4] == [
        "all 4 checks passed: -v lists every check",
        f"compared with {report['baseline']['path']}",
        f"reports: {pytester.path / 'report.json'}",
    ]
    for verbose in ("-v", "--llmobs-verbose", "-o=llmobs_verbose=true"):
        result, _ = run_llmobs(verbose)
        assert result.ret == 0
        lines = summary(result)
        result.stdout.fnmatch_lines([HEADER, "rag_request*latency.p99*pass"])
        assert not any("checks passed" in line for line in lines)
        assert sum(line.endswith(" pass") for line in lines) == 4


def test_a_narrow_terminal_keeps_the_checks_within_its_width(
    pytester: pytest.Pytester, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Series split by long model names, 25 spans each: much needs more spans."""
    pytester.makepyfile(test_quiet=SUITE.format(cases=100))
    pytester.makeini("[pytest]\nllmobs_group_by = gen_ai.request.model user_tier\n")
    monkeypatch.setenv("COLUMNS", "80")  # what pytest's terminal writer takes as the width
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    for verbose in ((), ("-v",)):
        result, report = run_llmobs(*verbose)
        if not verbose:
            result.stdout.fnmatch_lines(
                [
                    "4 checks passed; 12 inconclusive because latency.p95, latency.p99 and"
                    " error_rate",
                    "  need more spans (59, 299 and 287-549 a side): -v lists every check",
                ]
            )
        assert result.ret == 0
        lines = summary(result)
        # the checks within the width; each message one line, whole, for grep and copy
        messages = [f"compared with {report['baseline']['path']}", "reports: "]
        table = [line for line in lines if not line.startswith(tuple(messages))]
        assert all(len(line) <= 80 for line in table), "\n".join(table)
        assert messages[0] in lines
        keys = {c["series"] for c in report["checks"]}
        assert max(map(len, keys)) > 60
        for key in keys if verbose else ():  # every key whole, on lines of its own
            assert any(key in "".join(lines[i : i + 2]) for i in range(len(lines)))
