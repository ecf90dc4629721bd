"""Verdicts that mean what they say, on real runs: a change within tolerance passes, a
large change on few cases is never a pass, and `llmobs compare` on a saved run says
exactly what the plugin said."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.cli import main
from tests.conftest import verdicts
from tests.integration.test_statistics import make_suite


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_5_percent_slowdown_within_a_10_percent_tolerance_passes(
    pytester: pytest.Pytester, run_llmobs: Any, seed: int
) -> None:
    make_suite(pytester, seed=0)
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    make_suite(pytester, seed=seed, slowdown=1.05)
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    assert "regression" not in verdicts(report).values()
    p50 = check(report, "llm_inference", "latency.p50")
    assert p50["paired"]
    assert p50["change"] / p50["baseline"] < 0.10  # within tolerance


COHORTS = """
import random
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("rag")
DROP = {drop}

@pytest.mark.parametrize("i", range(30))
def test_answer(i):
    tier = "pro" if i % 10 < 3 else "free"  # 9 of 30 prompts are the pro cohort
    noise = random.Random({seed} * 100 + i)
    with tracer.start_as_current_span("rag_request") as root:
        root.set_attribute("user_tier", tier)
        with tracer.start_as_current_span("judge") as span:
            score = 0.55 + (i * 7 % 30) / 100 + noise.uniform(-0.05, 0.05)
            span.set_attribute("answer_quality", score - (DROP if tier == "pro" else 0.0))
"""


def test_a_large_quality_drop_in_a_small_cohort_is_never_a_pass(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyprojecttoml(
        '[tool.llmobs]\nquality_attributes = ["answer_quality"]\ngroup_by = ["user_tier"]\n'
    )
    pytester.makepyfile(test_rag=COHORTS.format(drop=0.0, seed=0))
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    pytester.makepyfile(test_rag=COHORTS.format(drop=0.28, seed=1))
    result, report = run_llmobs()
    pro = check(report, "judge[user_tier=pro]", "quality.answer_quality")
    assert pro["n_current"] == 9
    assert pro["change"] == pytest.approx(-0.28, abs=0.06)
    assert pro["verdict"] in ("regression", "inconclusive")
    if pro["verdict"] == "inconclusive":
        assert pro["cause"] == "beyond-tolerance"
        assert "beyond -0.05 but not significantly" in result.stdout.str()
    free = check(report, "judge[user_tier=free]", "quality.answer_quality")
    assert free["verdict"] != "regression"


def check(report: dict[str, Any], series: str, metric: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in report["checks"] if (c["series"], c["metric"]) == (series, metric)
    ]
    [one] = found
    return one


MANY_SPANS = """
import random
import time
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("busy")
SLOWDOWN = {slowdown}

@pytest.mark.parametrize("i", range(40))
def test_prompt(i):
    noise = random.Random({seed} * 1000 + i)
    for _ in range(30):  # 1,200 spans a series: more than a stored sample keeps
        with tracer.start_as_current_span("chunk") as span:
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", 15)  # $2.25e-6 a call
            span.set_attribute("relevance", 0.5 + (i % 9) / 20 + noise.uniform(-0.1, 0.1))
            time.sleep((0.2 + (i % 5) / 10) / 1000 * SLOWDOWN * noise.uniform(0.8, 1.2))
"""


def test_the_cli_judges_a_saved_run_exactly_as_the_plugin_did(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyprojecttoml('[tool.llmobs]\nquality_attributes = ["relevance"]\n')
    pytester.makepyfile(test_busy=MANY_SPANS.format(seed=0, slowdown=1.0))
    assert run_llmobs("--llmobs-update-baseline")[0].ret == 0
    baseline = pytester.path / ".llmobs" / "baseline.json"
    stored = json.loads(baseline.read_text())
    [chunk] = stored["series"]
    assert chunk["count"] == 1200
    kept = sum(len(c["latency_ms"]) for c in chunk["cases"].values())
    assert kept == 1000  # bounded: the gate must still count 1,200 spans a side
    # a cheap call's cost keeps its precision: $0.0000022, not $0.000002
    assert chunk["cost_usd"]["mean"] == pytest.approx(2.25e-6, rel=1e-6)
    pytester.makepyfile(test_busy=MANY_SPANS.format(seed=1, slowdown=1.3))
    _, plugin = run_llmobs()
    checks = {c["metric"]: c for c in plugin["checks"]}
    assert checks["cost"]["verdict"] == "pass"  # the same cheap calls: no change at all
    assert checks["cost"]["p_raw"] == 1.0
    assert checks["latency.p95"]["n_current"] == 1200  # the count the sample stands for
    assert main(["compare", "report.json", str(baseline), "--json", "cli.json"]) == (
        0 if plugin["verdict"] == "pass" else 1
    )
    cli = json.loads(Path(pytester.path / "cli.json").read_text())
    assert cli["checks"] == plugin["checks"]  # every field of every check
    assert cli["verdict"] == plugin["verdict"]
    assert cli["series"] == plugin["series"]
    assert cli["capture"] == plugin["capture"]
    capsys.readouterr()
