"""The gate judges what it was asked to, however it is called (issue 14).

Every run here is a subprocess in the layout most repositories have: a suite in a
subfolder (`suite/`, with its own pytest.ini) of a folder whose pyproject.toml has a
pytest table of its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

SUITE = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("suite")
SCORED, RETRIED, SKIPPED, PROMPT = {scored}, {retried}, {skipped}, {prompt!r}

def pipeline(i):
    with tracer.start_as_current_span("llm_request") as root:
        root.set_attribute("user_tier", "pro" if i % 2 else "free")
        root.set_attribute("domain", f"domain{{i % 5}}")
        with tracer.start_as_current_span("llm_inference"):
            pass
        if i in RETRIED:  # a retry happens for some prompts only
            with tracer.start_as_current_span("retry_inference"):
                pass
        with tracer.start_as_current_span("evaluate_output") as span:
            if SCORED:
                span.set_attribute("overall_score", 0.7 + (i % 10) / 100)

@pytest.mark.parametrize("i", range(40), ids=lambda i: f"{{PROMPT if i >= 2 else 'prompt'}} {{i}}")
def test_{name}(i):
    if i in SKIPPED:  # as a suite does without its API key, say
        pytest.skip("no API key")
    pipeline(i)

def test_tool_call():
    with tracer.start_as_current_span("tool_call"):
        pass
"""


class Repo:
    """A repository folder: its own pyproject.toml with a pytest table, the suite in suite/."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester, self.monkeypatch = pytester, monkeypatch
        self.root = pytester.path
        (self.root / "pyproject.toml").write_text(
            '[project]\nname = "app"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
        )
        self.suite = self.root / "suite"
        self.suite.mkdir()
        (self.suite / "pytest.ini").write_text(
            "[pytest]\nllmobs_quality_attributes = overall_score\n"
        )
        self.write()

    def write(
        self, scored: bool = True, retried: Any = (), name: str = "answers", skipped: Any = (),
        prompt: str = "prompt",
    ) -> None:  # fmt: skip
        text = SUITE.format(
            scored=scored, retried=set(retried) or "set()", name=name,
            skipped=set(skipped) or "set()", prompt=prompt,
        )  # fmt: skip
        (self.suite / "test_suite.py").write_text(text)

    def run(self, *args: str, cwd: Path | None = None) -> pytest.RunResult:
        self.monkeypatch.chdir(cwd or self.root)
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    def gate(self, *args: str, report: str = "run.json") -> tuple[pytest.RunResult, Any]:
        """`pytest --llmobs suite/` from the repository's folder, and its run report."""
        (self.root / report).unlink(missing_ok=True)
        result = self.run("--llmobs", "suite/", f"--llmobs-json={report}", *args)
        return result, json.loads((self.root / report).read_text())

    def record(self, *args: str) -> None:
        result, report = self.gate("--llmobs-update-baseline", *args)
        assert result.ret == 0, result.stdout.str()
        assert report["baseline"]["status"] == "updated"


@pytest.fixture
def repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Repo:
    return Repo(pytester, monkeypatch)


def checks_of(report: Any) -> int:
    return len(report["checks"])


def test_the_ci_recipe_run_twice_never_passes_unjudged(repo: Repo) -> None:
    repo.record()
    recipe = (
        "--llmobs", "suite/", "--llmobs-json", "llmobs-run.json",
        "--llmobs-history", "llmobs-history.sqlite",
    )  # fmt: skip
    first = repo.run(*recipe)  # neither file exists yet: the words move nothing
    assert first.ret == 0, first.stdout.str()
    report = json.loads((repo.root / "llmobs-run.json").read_text())
    assert report["baseline"]["status"] == "loaded"
    assert checks_of(report) > 10
    second = repo.run(*recipe)  # now both files exist, and would be taken for test paths
    assert second.ret == 4
    second.stderr.fnmatch_lines(
        [
            "*--llmobs-json llmobs-run.json, --llmobs-history llmobs-history.sqlite: pytest"
            f" read these values as test paths*chose rootdir {repo.root} *instead of rootdir"
            f" {repo.suite} and config file {repo.suite / 'pytest.ini'}; write"
            " --llmobs-json=llmobs-run.json --llmobs-history=llmobs-history.sqlite"
        ]
    )
    assert "Traceback" not in second.stderr.str() + second.stdout.str()
    assert "passed" not in second.stdout.str()  # no test ran
    report = json.loads((repo.root / "llmobs-run.json").read_text())
    assert report["verdict"] == "error"
    assert "--llmobs-json=llmobs-run.json" in report["errors"][0]
    fixed = repo.run("--llmobs", "suite/", "--llmobs-json=llmobs-run.json",
                     "--llmobs-history=llmobs-history.sqlite")  # fmt: skip
    assert fixed.ret == 0, fixed.stdout.str()
    assert checks_of(json.loads((repo.root / "llmobs-run.json").read_text())) > 10


def test_a_baseline_outside_the_rootdir_as_a_separate_word(repo: Repo) -> None:
    repo.record()
    elsewhere = repo.root / "artifacts" / "baseline.json"
    elsewhere.parent.mkdir()
    shutil.copy(repo.suite / ".llmobs" / "baseline.json", elsewhere)
    repo.write(scored=False)  # the quality attribute is lost: the gate must see it
    args = ("--llmobs", "--llmobs-json=run.json")
    moved = repo.run(*args, "--llmobs-baseline", str(elsewhere), cwd=repo.suite)
    assert moved.ret == 4
    moved.stderr.fnmatch_lines([f"*--llmobs-baseline {elsewhere}: pytest read the value*"])
    judged = repo.run(*args, f"--llmobs-baseline={elsewhere}", cwd=repo.suite)
    assert judged.ret == 1
    report = json.loads((repo.suite / "run.json").read_text())
    assert report["verdict"] == "fail"


def test_separate_words_that_move_nothing_are_accepted(repo: Repo) -> None:
    repo.record()
    (repo.suite / "out.json").write_text("{}")  # exists, but inside the suite's own rootdir
    result = repo.run("--llmobs", "--llmobs-json", "out.json", cwd=repo.suite)
    assert result.ret == 0, result.stdout.str()
    report = json.loads((repo.suite / "out.json").read_text())
    assert report["verdict"] == "pass"
    assert checks_of(report) > 10


@pytest.mark.parametrize(
    ("env", "args", "ret", "verdict", "source"),
    [
        ({"CI": "true"}, (), 1, "error", "environment variable CI='true'"),
        ({"CI": "1"}, (), 1, "error", "environment variable CI='1'"),
        ({}, (), 0, "pass", "environment variable CI is not set"),
        ({"CI": "false"}, (), 0, "pass", "environment variable CI='false'"),
        ({"CI": "0"}, (), 0, "pass", "environment variable CI='0'"),
        ({}, ("--llmobs-ci",), 1, "error", "--llmobs-ci (command line)"),
        ({"CI": "true"}, ("-o", "llmobs_ci=false"), 0, "pass", "llmobs_ci = 'false' (ini file"),
    ],
)
def test_ci_mode_fails_without_a_baseline(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: tuple[str, ...],
    ret: int, verdict: str, source: str,
) -> None:  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result, report = repo.gate(*args)
    assert result.ret == ret, result.stdout.str()
    assert report["verdict"] == verdict
    assert report["ci"]["on"] is (verdict == "error")
    assert report["ci"]["source"].startswith(source)
    baseline = repo.suite / ".llmobs" / "baseline.json"
    result.stdout.fnmatch_lines([f"no baseline at {baseline}*--llmobs-update-baseline*"])
    if verdict == "error":
        result.stdout.fnmatch_lines([f"*llmobs: ERROR*[[]CI mode: {source}*"])
        # recording works in CI mode too
        monkeypatch.setenv("CI", "true")
        repo.record()
        assert repo.gate()[0].ret == 0


def test_a_baseline_grouped_otherwise_fails_closed(repo: Repo) -> None:
    repo.record("--llmobs-group-by=user_tier")
    result, report = repo.gate()
    assert result.ret == 1
    assert report["verdict"] == "error"
    assert report["checks"] == []
    result.stdout.fnmatch_lines(
        [
            "*baseline.json: the baseline was recorded with group_by = [[]user_tier[]], this run"
            " has none: set it back, or re-record the baseline with --llmobs-update-baseline"
        ]
    )
    result, report = repo.gate("--llmobs-group-by=user_tier")
    assert (result.ret, report["verdict"]) == (0, "pass")


def test_an_older_baseline_without_the_record_still_compares(repo: Repo) -> None:
    repo.record()
    path = repo.suite / ".llmobs" / "baseline.json"
    doc = json.loads(path.read_text())
    del doc["settings"], doc["tests"]
    path.write_text(json.dumps(doc))
    result, report = repo.gate()
    assert (result.ret, report["verdict"]) == (0, "pass")
    assert checks_of(report) > 10
    assert any("does not record the settings that shaped it" in w for w in report["warnings"])


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_quality_attribute_no_longer_measured_fails(repo: Repo, workers: tuple[str, ...]) -> None:
    repo.record()
    repo.write(scored=False)
    result, report = repo.gate(*workers)
    assert result.ret == 1
    result.assert_outcomes(passed=41)
    assert report["verdict"] == "fail"
    lost = [a for a in report["coverage"]["not_measured"] if a["status"] == "lost"]
    assert [(a["series"], a["metric"]) for a in lost] == [
        ("evaluate_output", "quality.overall_score")
    ]
    assert (lost[0]["before"], lost[0]["now"], len(lost[0]["tests"])) == (40, 0, 40)
    assert "test_suite.py::test_answers[prompt 0]" in lost[0]["tests"]
    result.stdout.fnmatch_lines(
        [
            "*llmobs: FAIL*",
            "not measured: LOST evaluate_output quality.overall_score: lost: measured in 0 of"
            " the 40 test cases that produced it in the baseline*test_answers[[]prompt 0[]]*",
        ]
    )


def test_a_series_gone_from_tests_that_ran_fails(repo: Repo) -> None:
    repo.write(retried=range(40))  # every prompt retried when the baseline was recorded
    repo.record()
    repo.write(retried=())
    result, report = repo.gate()
    assert result.ret == 1
    assert report["verdict"] == "fail"
    assert report["coverage"]["failures"][0].startswith("series retry_inference: lost")


def test_a_conditional_span_absent_now_passes_and_is_listed(repo: Repo) -> None:
    repo.write(retried={3, 17, 29})
    repo.record()
    repo.write(retried=())
    result, report = repo.gate()
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    (absent,) = report["coverage"]["not_measured"]
    assert (absent["series"], absent["metric"], absent["status"]) == (
        "retry_inference", None, "absent"
    )  # fmt: skip
    assert absent["p_value"] is None  # three changed cases cannot show a loss at all
    result.stdout.fnmatch_lines(
        ["not measured: series retry_inference: measured in 0 of the 3 test cases*not a loss"]
    )


def test_a_run_that_shares_no_test_id_with_the_baseline_fails(repo: Repo) -> None:
    repo.record()
    repo.write(name="renamed")
    (repo.suite / "test_suite.py").write_text(
        (repo.suite / "test_suite.py").read_text().replace("def test_tool_call", "def test_tool")
    )
    result, report = repo.gate()
    assert result.ret == 1
    assert report["verdict"] == "fail"
    assert report["coverage"]["selection"][0].startswith("this run shares no test id")
    result.stdout.fnmatch_lines(["not measured: this run shares no test id with the baseline*"])


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_narrower_selection_passes_and_names_what_it_did_not_measure(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, workers: tuple[str, ...]
) -> None:
    repo.record()
    monkeypatch.setenv("CI", "true")  # deselected tests were not asked for: CI mode agrees
    result, report = repo.gate("-k", "test_answers", *workers)
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    statuses = {(a["series"], a["status"]) for a in report["coverage"]["not_measured"]}
    assert statuses == {("tool_call", "not-run")}
    missing = {c["metric"] for c in report["checks"] if c["series"] == "tool_call"}
    assert "latency.p50" in missing
    result.stdout.fnmatch_lines(
        ["not measured, as their test cases did not run (never fails): series tool_call"]
    )
    # so is naming single tests: the file's other tests were not asked for
    args = ("--llmobs", "suite/test_suite.py::test_answers", "--llmobs-json=one.json")
    result = repo.run(*args, *workers)
    report = json.loads((repo.root / "one.json").read_text())
    assert (result.ret, report["verdict"]) == (0, "pass"), result.stdout.str()
    assert report["coverage"]["unjudged"] == []
    assert report["selection"]["narrowed"] == ["test_suite.py"]


def test_a_loss_spread_over_small_cohorts_fails(repo: Repo) -> None:
    repo.record("--llmobs-group-by=domain")  # five cohorts of eight test cases
    repo.write(scored=False)
    result, report = repo.gate("--llmobs-group-by=domain")
    assert result.ret == 1
    assert report["verdict"] == "fail"
    (lost,) = [a for a in report["coverage"]["not_measured"] if a["status"] == "lost"]
    assert (lost["series"], lost["metric"], lost["pooled"], lost["before"]) == (
        "evaluate_output", "quality.overall_score", True, 40
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        ["not measured: LOST evaluate_output[[]*[]] quality.overall_score*"]
    )


def test_a_run_in_which_no_test_ran_fails(repo: Repo) -> None:
    repo.record()
    repo.write(skipped=range(40))
    result, report = repo.gate("-k", "test_answers")
    assert result.ret == 1
    assert report["verdict"] == "fail"
    result.stdout.fnmatch_lines(
        ["not measured: no test ran in this run (40 selected, none ran): nothing was judged*"]
    )


@pytest.mark.parametrize(("ci", "ret", "verdict"), [(None, 0, "pass"), ("true", 1, "fail")])
def test_skipped_and_renamed_test_cases_are_not_judged(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, ci: str | None, ret: int, verdict: str
) -> None:
    repo.record()
    if ci:
        monkeypatch.setenv("CI", ci)
    # the prompts were edited (new parametrize ids) and the score is gone everywhere;
    # the tool call's test is skipped for want of an API key
    repo.write(prompt="edited prompt", scored=False)
    suite = repo.suite / "test_suite.py"
    suite.write_text(
        suite.read_text().replace(
            "def test_tool_call():", "def test_tool_call():\n    pytest.skip('no API key')"
        )
    )
    result, report = repo.gate()
    assert (result.ret, report["verdict"]) == (ret, verdict), result.stdout.str()
    unjudged = report["coverage"]["unjudged"]
    assert unjudged[0].startswith("1 test case of the baseline was selected but did not run")
    assert unjudged[1].startswith(
        "38 test cases of the baseline did not run although their files did (renamed or "
        "removed; 38 test case(s) are new)"
    )
    label = "not judged (fails in CI mode)" if ci is None else "not judged"
    result.stdout.fnmatch_lines([f"{label}: 1 test case of the baseline*", f"{label}: 38 test*"])


def test_a_llmobs_table_pytest_would_not_read_stops_the_run(repo: Repo) -> None:
    # the suite's settings in a pyproject.toml without a pytest table: pytest roots at the
    # repository's folder, whose own pyproject.toml has one, and would not read them
    (repo.suite / "pytest.ini").unlink()
    (repo.suite / "pyproject.toml").write_text(
        '[tool.llmobs]\nquality_attributes = ["overall_score"]\n'
    )
    result = repo.run("--llmobs", "--llmobs-json=run.json", cwd=repo.suite)
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            f"*{repo.suite / 'pyproject.toml'} has a [[]tool.llmobs[]] table that this run would"
            f" not read: pytest chose rootdir {repo.root}, so the settings come from"
            f" {repo.root / 'pyproject.toml'}; add a [[]tool.pytest.ini_options[]] table*"
        ]
    )
    (repo.suite / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\n\n[tool.llmobs]\nquality_attributes = ["overall_score"]\n'
    )
    result = repo.run("--llmobs", "--llmobs-update-baseline", cwd=repo.suite)
    assert result.ret == 0, result.stdout.str()
