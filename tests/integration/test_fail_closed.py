"""The gate judges what it was asked to, however it is called (issue 14): pytest's early
parse, CI mode, the settings that shaped the baseline.

Every run here is a subprocess in the layout most repositories have: a suite in a
subfolder (`suite/`, with its own pytest.ini) of a folder whose pyproject.toml has a
pytest table of its own.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.repo import Repo, checks_of


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
        (
            {"CI": "true"},
            ("-o", "llmobs_ci=false"),
            0,
            "pass",
            'llmobs_ci = "false" (-o on the command line)',
        ),
        (
            {"CI": "true"},
            ("-o", "llmobs_ci=false", "-o", "llmobs_qualty_attributes=x"),
            0,
            "pass",
            'llmobs_ci = "false" (-o on the command line)',
        ),
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
    if "llmobs_qualty_attributes=x" in args:  # an -o key no option has: named as typed
        assert report["warnings"] == [
            "llmobs_qualty_attributes (-o on the command line) is no llmobs setting and does"
            " nothing: did you mean llmobs_quality_attributes?"
        ]
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


def test_settings_above_a_test_path_that_pytest_would_not_read_stop_the_run(repo: Repo) -> None:
    # from the repository's folder: the suite's settings sit in a pyproject.toml without a
    # pytest table, so pytest roots at the repository's folder and would not read them
    (repo.suite / "pytest.ini").unlink()
    (repo.suite / "pyproject.toml").write_text('[tool.llmobs]\ngroup_by = ["user_tier"]\n')
    result = repo.run("--llmobs", "suite/", "--llmobs-json=run.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [f"*{repo.suite / 'pyproject.toml'} has a [[]tool.llmobs[]] table that this run would*"]
    )


def test_a_bad_marker_stops_the_run_with_one_error(repo: Repo) -> None:
    suite = repo.suite / "test_suite.py"
    suite.write_text(suite.read_text().replace(
        "def test_tool_call():", "@pytest.mark.llmobs(lattency_p50='off')\ndef test_tool_call():"
    ))  # fmt: skip
    result, report = repo.gate()
    assert result.ret == 4
    assert report["verdict"] == "error"
    assert "pytest stopped the run before any test" in report["errors"][0]
    assert "missing" not in result.stdout.str()  # no table of what a stopped run lacks


def test_a_subset_never_replaces_a_baseline_of_the_whole_suite(repo: Repo) -> None:
    repo.record()
    path = repo.suite / ".llmobs" / "baseline.json"
    recorded = path.read_text()
    result, report = repo.gate("--llmobs-update-baseline", "-k", "test_answers")
    assert (result.ret, report["verdict"]) == (1, "error")  # not done as asked: a failure
    assert report["baseline"]["status"] == "not-updated"
    assert report["baseline"]["message"].startswith(
        "baseline not updated: it would drop 1 test case(s) of the baseline that still "
        "exist but did not run (deselected, skipped, or outside the paths given): "
        "test_suite.py::test_tool_call"
    )
    assert path.read_text() == recorded
    # a first baseline may hold what the run selects (addopts = -m "not slow", say)
    path.unlink()
    result, report = repo.gate("--llmobs-update-baseline", "-k", "test_answers")
    assert (result.ret, report["baseline"]["status"]) == (0, "updated")
