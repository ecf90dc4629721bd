"""A name in the configuration that matches nothing the run measured is a typo until shown
otherwise: each kind gets one warning naming it, where it was written, and the closest
name the run did see."""

from __future__ import annotations

import pytest

from tests.conftest import read_report

SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("rag")

@pytest.mark.parametrize("i", range(6))
def test_answer(i):
    with tracer.start_as_current_span("rag_request") as root:
        root.set_attribute("user_tier", "pro" if i % 2 else "free")
        root.set_attribute("model", "gpt-4o")
        with tracer.start_as_current_span("generate") as span:
            span.set_attribute("answer_quality", 0.8)
            span.set_attribute("groundedness", 0.9)

@pytest.mark.llmobs(quality_relevnce="-0.1")
def test_marked():
    with tracer.start_as_current_span("rag_request"):
        pass
"""

TYPOS = """
[tool.pytest.ini_options]
llmobs_qualty_attributes = "answer_quality"

[tool.llmobs]
quality_attributes = ["answer_qualty"]
group_by = ["user_teir"]

[tool.llmobs.rules]
quality = { answer_qualty = "-0.1" }

[tool.llmobs.slo]
quality = { groundedness = { warn = 0.5 } }

[[tool.llmobs.overrides]]
series = "rag_reqest*"
latency = { p95 = "+50%" }
quality = { answer_qualty = "-0.2" }

[tool.llmobs.aliases]
"gen_ai.request.model" = ["modle"]

[tool.llmobs.redact]
allow = ["user_teir"]
"""

# each kind of name: (the start of its warning, how it ends)
EXPECTED = {
    "quality attribute": (
        'quality_attributes "answer_qualty" ([tool.llmobs] in {p})',
        ": did you mean answer_quality?",
    ),
    "group_by": ('group_by "user_teir" ([tool.llmobs] in {p})', ": did you mean user_tier?"),
    "rule": (
        "rules.quality.answer_qualty ([tool.llmobs] in {p})",
        ": did you mean quality.answer_quality?",
    ),
    "SLO": (
        "slo.quality.groundedness ([tool.llmobs] in {p})",
        ": groundedness is on spans but not in quality_attributes",
    ),
    "override glob": (
        'overrides[0].series = "rag_reqest*" ([tool.llmobs] in {p})',
        ": did you mean rag_request?",
    ),
    "override metric": (
        "overrides[0].quality.answer_qualty ([tool.llmobs] in {p})",
        ": did you mean quality.answer_quality?",
    ),
    "alias": (
        'aliases.gen_ai.request.model = ["modle"] ([tool.llmobs] in {p})',
        ": did you mean model?",
    ),
    "redaction": ('redact.allow "user_teir" ([tool.llmobs] in {p})', ": did you mean user_tier?"),
    "marker rule": ("@pytest.mark.llmobs on test_rag.py::test_marked: quality.relevnce", ""),
}
MATCHES = " matches nothing this run measured"


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_each_kind_of_typo_gets_one_warning_with_the_closest_name(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_rag=SUITE)
    pytester.makepyprojecttoml(TYPOS)
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json=report.json", "-p", "no:cacheprovider", *workers
    )
    assert result.ret == 0, result.stdout.str()  # a warning, not a failure
    warnings = read_report(pytester)["warnings"]
    path = pytester.path / "pyproject.toml"
    for kind, (start, end) in EXPECTED.items():
        line = start.format(p=path) + MATCHES + end
        assert warnings.count(line) == 1, (kind, line, warnings)
    ini = (
        f"llmobs_qualty_attributes (ini file {path}) is no llmobs setting and does nothing"
        ": did you mean llmobs_quality_attributes?"
    )
    assert warnings.count(ini) == 1, warnings
    assert len(warnings) == len(EXPECTED) + 1, warnings
    shown = [line for line in result.stdout.lines if line.startswith("warning: ")]
    assert len(shown) == len(warnings)  # each on the terminal too


def test_names_that_match_get_no_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_rag=SUITE.replace("relevnce", "answer_quality"))
    fixed = {
        "qualty": "quality", "teir": "tier", "reqest": "request", "modle": "model",
        "groundedness = { warn": "answer_quality = { warn",
    }  # fmt: skip
    pyproject = TYPOS.replace("llmobs_qualty_attributes", "llmobs_quality_attributes")
    for typo, name in fixed.items():
        pyproject = pyproject.replace(typo, name)
    pytester.makepyprojecttoml(pyproject)
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-json=report.json")
    assert result.ret == 0, result.stdout.str()
    assert read_report(pytester)["warnings"] == []


def test_a_run_that_measured_nothing_does_not_call_every_name_a_typo(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_rag=SUITE)
    pytester.makepyprojecttoml(TYPOS)
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json=report.json", "-k", "no_such_test"
    )
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert not [w for w in read_report(pytester)["warnings"] if MATCHES in w]


def test_a_run_that_left_tests_out_without_a_baseline_does_not_guess(
    pytester: pytest.Pytester,
) -> None:
    # the deselected test is the only one with a `relevance` score: not a typo
    pytester.makepyfile(test_rag=SUITE.replace("relevnce", "relevance") + RELEVANCE)
    pytester.makepyprojecttoml(
        '[tool.llmobs]\nquality_attributes = ["answer_quality", "relevance"]\n'
        '[tool.llmobs.redact]\nallow = ["user_*", "answer_*"]\n'
    )
    args = ("--llmobs", "--llmobs-json=report.json", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*args, "-k", "not relevance")
    assert result.ret == 0, result.stdout.str()
    assert read_report(pytester)["warnings"] == []
    # with a baseline that measured it, no warning either
    assert pytester.runpytest_subprocess(*args, "--llmobs-update-baseline").ret == 0
    result = pytester.runpytest_subprocess(*args, "-k", "not relevance")
    assert result.ret == 0, result.stdout.str()
    warned = read_report(pytester)["warnings"]
    assert [w for w in warned if MATCHES in w] == [], warned


RELEVANCE = """
def test_relevance():
    with tracer.start_as_current_span("judge") as span:
        span.set_attribute("relevance", 0.7)
"""
