"""What the baseline holds that a run did not measure, and which of its test cases the run
judged (issue 14), through real runs in a suite inside a repository folder."""

from __future__ import annotations

import json

import pytest

from tests.integration.repo import Repo


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
    assert absent["p_value"] > 0.01
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
    result.stdout.fnmatch_lines(["not measured, as their test cases did not run: series tool_call"])
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
        "38 test cases of the baseline did not run although their files were asked for "
        "(renamed or removed; 38 test case(s) are new)"
    )
    label = "not judged (fails in CI mode)" if ci is None else "not judged"
    result.stdout.fnmatch_lines([f"{label}: 1 test case of the baseline*", f"{label}: 38 test*"])


def test_what_pytest_left_out_itself_is_a_choice(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.record()
    monkeypatch.setenv("CI", "true")
    # -m that selects nothing: pytest's own "no tests ran" (exit 5), no gate failure
    result = repo.run("--llmobs", "suite/", "-m", "nomatch", "--llmobs-json=run.json",
                      "--strict-markers", "-o", "markers=nomatch")  # fmt: skip
    assert result.ret == 5, result.stdout.str()
    # --lf after a failure reruns only it: the others were not asked for
    suite = repo.suite / "test_suite.py"
    suite.write_text(suite.read_text() + "\ndef test_fails():\n    assert False\n")
    assert repo.run("--llmobs", "suite/").ret == 1
    result, report = repo.gate("--lf", "-p", "cacheprovider")
    assert report["coverage"]["unjudged"] == [], result.stdout.str()
    # -x stopped after the failure: the tests it never started are no renamed tests
    result, report = repo.gate("-x", "-p", "no:randomly")
    assert not [u for u in report["coverage"]["unjudged"] if "renamed" in u]


def test_only_a_new_test_file_by_path_is_a_choice(repo: Repo) -> None:
    repo.record()
    (repo.suite / "test_new.py").write_text(
        "from opentelemetry import trace\n\ndef test_new():\n"
        "    with trace.get_tracer('new').start_as_current_span('new_span'):\n        pass\n"
    )
    result = repo.run("--llmobs", "suite/test_new.py", "--llmobs-json=run.json")
    report = json.loads((repo.root / "run.json").read_text())
    assert (result.ret, report["verdict"]) == (0, "pass"), result.stdout.str()


@pytest.mark.parametrize("how", ["module skipped", "file removed"])
def test_a_module_skipped_or_removed_is_not_judged_and_fails_in_ci(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    (repo.suite / "test_tools.py").write_text(
        "from opentelemetry import trace\n\ndef test_search():\n"
        "    with trace.get_tracer('t').start_as_current_span('search_tool'):\n        pass\n"
    )
    repo.record()
    if how == "module skipped":  # as a file does without its API key
        (repo.suite / "test_tools.py").write_text(
            "import pytest\npytest.skip('no API key', allow_module_level=True)\n"
        )
    else:
        (repo.suite / "test_tools.py").unlink()
    monkeypatch.setenv("CI", "true")
    result, report = repo.gate()
    assert (result.ret, report["verdict"]) == (1, "fail"), result.stdout.str()
    assert "test_tools.py::test_search" in report["coverage"]["unjudged"][0]


def test_ignored_paths_are_a_choice_and_a_skipped_folder_is_not_judged(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = repo.suite / "tools"
    tools.mkdir()
    (tools / "test_tools.py").write_text(
        "from opentelemetry import trace\n\ndef test_search():\n"
        "    with trace.get_tracer('t').start_as_current_span('search_tool'):\n        pass\n"
    )
    repo.record()
    monkeypatch.setenv("CI", "true")
    result, report = repo.gate("--ignore=suite/tools")  # asked not to: a choice
    assert (result.ret, report["coverage"]["unjudged"]) == (0, []), result.stdout.str()
    # a conftest.py that skips its whole folder: not judged, and CI mode fails
    (tools / "conftest.py").write_text(
        "import pytest\npytest.skip('no API key', allow_module_level=True)\n"
    )
    result, report = repo.gate()
    assert (result.ret, report["verdict"]) == (1, "fail"), result.stdout.str()
    assert report["coverage"]["unjudged"][0].startswith("1 test case of the baseline was")


def test_an_interrupted_run_fails_closed(repo: Repo) -> None:
    repo.record()
    (repo.suite / "conftest.py").write_text(
        "import pytest\n\ndef pytest_runtest_teardown(item):\n"
        "    if item.name.endswith(' 5]'):\n        pytest.exit('stop', returncode=0)\n"
    )
    result, report = repo.gate()
    assert report["verdict"] == "error"
    assert "the session was interrupted" in report["errors"][0]
    assert result.ret == 1  # not the 0 the exit asked for: the gate did not judge it all
