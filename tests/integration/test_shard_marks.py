"""Shards split by path: a marked test's series and rules (@pytest.mark.llmobs) reach
the combined run as they reach the run whole, and `llmobs compare` of either."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmobs.cli import main
from tests.conftest import verdicts
from tests.integration.suites import CLOCK

SUITE = (
    CLOCK
    + """
import pytest

tracer = TimedTracer("marked")
SLOWDOWN = {slowdown}

def call(name, i, slower=1.0):
    with tracer.start_as_current_span(name, ms=(10 + i % 7) * slower):
        pass

{body}
"""
)
MARKED = """
@pytest.mark.llmobs(latency_p50="+100%")  # a slow tool: it may double
@pytest.mark.parametrize("i", range(40))
def test_tool(i):
    call("tool", i, SLOWDOWN)
"""
PLAIN = """
@pytest.mark.parametrize("i", range(40))
def test_answer(i):
    call("answer", i)
"""


def write(pytester: pytest.Pytester, slowdown: float) -> None:
    pytester.makepyfile(
        test_marked=SUITE.format(slowdown=slowdown, body=MARKED),
        test_plain=SUITE.format(slowdown=slowdown, body=PLAIN),
    )


def test_shards_by_path_keep_a_marked_tests_series_and_rules(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    write(pytester, slowdown=1.0)
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    write(pytester, slowdown=1.6)  # within the marked test's own +100%
    whole, report = run_llmobs()
    key = "tool[test=test_marked.py::test_tool]"
    assert verdicts(report)[(key, "latency.p50")] == "pass"
    assert whole.ret == 0
    shards = []
    for name in ("test_marked.py", "test_plain.py"):  # each shard collects its file only
        out = pytester.path / f"shard-{name}.json"
        result = pytester.runpytest_subprocess(
            "--llmobs", "--llmobs-shard", f"--llmobs-json={out}", "-p", "no:cacheprovider", name
        )
        assert result.ret == 0
        shards.append(str(out))
    combined = pytester.path / "combined.json"
    assert main(["combine", *shards, "-o", str(combined)]) == 0
    found = json.loads(combined.read_text())
    assert verdicts(found) == verdicts(report)
    assert found["settings"]["marked_tests"] == report["settings"]["marked_tests"]
    assert [c["p_value"] for c in found["checks"]] == [c["p_value"] for c in report["checks"]]
    # llmobs compare applies the marked test's rules too, to either run report
    baseline = str(pytester.path / ".llmobs" / "baseline.json")
    for run in (combined, pytester.path / "report.json"):
        again = pytester.path / "again.json"
        assert main(["compare", str(run), baseline, f"--json={again}"]) == 0
        assert verdicts(json.loads(again.read_text())) == verdicts(report)
