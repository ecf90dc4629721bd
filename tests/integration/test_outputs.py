"""CI outputs of a real run: JUnit XML, Markdown, the job summary, and the exit status."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import verdicts
from tests.integration.suites import make_suite


def suites(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {s.get("name", ""): s for s in root.iter("testsuite")}


@pytest.mark.usefixtures("recorded")
def test_junit_xml_of_an_a_a_run(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    result, _ = run_llmobs("--llmobs-junitxml", "checks.xml")
    assert result.ret == 0
    found = suites(pytester.path / "checks.xml")
    names = ("evaluate_output", "llm_inference", "llm_request", "preprocess_prompt")
    assert set(found) == {f"llmobs {s}" for s in names}
    inference = found["llmobs llm_inference"]
    cases = {c.get("name"): c for c in inference.iter("testcase")}
    assert set(cases) == {f"llm_inference {m}" for m in
                          ("latency.p50", "latency.p95", "latency.p99", "error_rate")}  # fmt: skip
    assert all(c.get("time") for c in cases.values())
    assert inference.find(".//failure") is None
    skipped = cases["llm_inference latency.p99"].find("skipped")
    assert skipped is not None
    assert "need >= 299 spans" in skipped.get("message", "")
    properties = {p.get("name"): p.get("value", "") for p in inference.iter("property")}
    assert properties["latency.p50.verdict"] == "pass"
    assert float(properties["latency.p50.baseline"]) > 5


@pytest.mark.usefixtures("recorded")
def test_junit_xml_markdown_and_job_summary_of_a_regressed_run(
    pytester: pytest.Pytester, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_suite(pytester, slowdown=1.6)
    summary = pytester.path / "step_summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result, _ = run_llmobs("--llmobs-junitxml", "checks.xml", "--llmobs-markdown", "summary.md")
    assert result.ret == 1
    inference = suites(pytester.path / "checks.xml")["llmobs llm_inference"]
    failures = {c.get("name"): c.find("failure") for c in inference.iter("testcase")}
    failure = failures["llm_inference latency.p50"]
    assert failure is not None
    message = failure.get("message", "")
    assert message.startswith("latency.p50 regressed: baseline ")
    assert "change +" in message
    assert ", p " in message
    assert failures["llm_inference error_rate"] is None
    text = (pytester.path / "summary.md").read_text()
    assert text.startswith("### llmobs: REGRESSION in ")
    assert "| llm\\_inference | latency.p50 |" in text
    assert "<details><summary>All " in text
    assert summary.read_text() == "earlier step\n" + text + "\n"


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize(("broken", "status"), [(False, 3), (True, 1)])
def test_exit_code_for_a_gate_failure_when_every_test_passed(
    pytester: pytest.Pytester, run_llmobs: Any, broken: bool, status: int
) -> None:
    make_suite(pytester, slowdown=1.6)
    if broken:
        pytester.makepyfile(test_broken="def test_broken():\n    assert False\n")
    result, report = run_llmobs("--llmobs-exit-code", "3")
    assert report["verdict"] == "regression"
    assert result.ret == status  # a failing test keeps pytest's own status


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize(("broken", "status"), [(False, 0), (True, 1)])
def test_advisory_mode_reports_a_regression_without_failing_the_run(
    pytester: pytest.Pytester, run_llmobs: Any, broken: bool, status: int
) -> None:
    make_suite(pytester, slowdown=1.6)
    if broken:
        pytester.makepyfile(test_broken="def test_broken():\n    assert False\n")
    result, report = run_llmobs("--llmobs-exit-code=0", "--llmobs-junitxml=checks.xml")
    assert result.ret == status  # a failing test still fails the run
    assert report["verdict"] == "regression"
    assert report["advisory"] is True
    result.stdout.fnmatch_lines(
        ["*llmobs: REGRESSION in * checks [[]advisory: the run does not fail[]]*"]
    )
    assert suites(pytester.path / "checks.xml")  # every report is still written
    # the saved run, rendered again, is the advisory run it was
    again = pytester.run(sys.executable, "-m", "pytest_llmobs.cli", "report", "report.json")
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(["*REGRESSION in * checks [[]advisory: the run does not fail[]]"])


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize("slowdown", [1.0, 1.6])
def test_llmobs_compare_on_saved_files_agrees_with_the_plugin(
    pytester: pytest.Pytester, run_llmobs: Any, slowdown: float
) -> None:
    make_suite(pytester, slowdown=slowdown)
    result, report = run_llmobs()
    cli = pytester.run(
        sys.executable, "-m", "pytest_llmobs.cli", "compare", "report.json",
        ".llmobs/baseline.json", "--json", "again.json", "--junitxml", "again.xml",
    )  # fmt: skip
    assert cli.ret == result.ret
    again = json.loads((pytester.path / "again.json").read_text())
    assert again["verdict"] == report["verdict"]
    assert verdicts(again) == verdicts(report)
    assert suites(pytester.path / "again.xml")


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"schema": "pytest-llmobs/run", "vers', "not valid JSON"),
     ('{"machine_info": {}, "benchmarks": []}', "not a pytest-llmobs file")],
    ids=["truncated", "foreign"],
)  # fmt: skip
def test_llmobs_compare_rejects_bad_files_with_exit_2(
    pytester: pytest.Pytester, content: str, message: str
) -> None:
    pytester.path.joinpath("run.json").write_text(content)
    pytester.path.joinpath("baseline.json").write_text(content)
    cli = pytester.run(sys.executable, "-m", "pytest_llmobs.cli", "compare", "run.json",
                       "baseline.json")  # fmt: skip
    assert cli.ret == 2
    assert len(cli.errlines) == 1
    assert cli.errlines[0].startswith(f"llmobs: error: run.json: {message}")
    assert "Traceback" not in cli.stderr.str()
