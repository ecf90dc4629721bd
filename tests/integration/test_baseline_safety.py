"""The baseline's own safety: a partial run never replaces it unless told to, `llmobs
baseline update` refuses what `--llmobs-update-baseline` refuses and writes where the run
report says, and a run that runs no test (--collect-only, --setup-plan) judges nothing."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

# `llmobs baseline update` judges in this process, which imports scipy; pytester drops
# what a test imported when it ends, and numpy's extensions load once per process
import scipy.special  # noqa: F401

from pytest_llmobs.cli import main
from pytest_llmobs.gate.baseline import SCHEMA_VERSION
from tests.integration.suites import make_suite

pytestmark = pytest.mark.usefixtures("recorded")

SCORE_LINE = 'span.set_attribute("overall_score", 0.6 + (i % 30) / 100 - QUALITY_DROP)'


def baseline_of(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".llmobs" / "baseline.json"


def counts(path: Path) -> dict[str, int]:
    return {s["key"]: s["count"] for s in json.loads(path.read_text())["series"]}


def edit_suite(pytester: pytest.Pytester, old: str, new: str) -> None:
    suite = pytester.path / "test_suite.py"
    text = suite.read_text()
    assert old in text
    suite.write_text(text.replace(old, new))


def test_one_selected_test_never_replaces_the_whole_baseline(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = baseline_of(pytester)
    recorded = path.read_text()
    result, report = run_llmobs("--llmobs-update-baseline", "-k", "test_prompt[7]")
    assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
    assert path.read_text() == recorded
    message = report["baseline"]["message"]
    assert message.startswith("baseline not updated: it would drop 59 test case(s) of the baseline")
    # how to replace it on purpose, with this run's own report
    assert message.endswith(
        "run them too; to replace it anyway: `llmobs baseline update report.json --force`"
    )
    result.stdout.fnmatch_lines([message])
    # the command refuses it too, then replaces it when told to, saying what it overrides
    assert main(["baseline", "update", str(pytester.path / "report.json")]) == 2
    err = capsys.readouterr().err
    assert "baseline not updated: it would drop 59 test case(s)" in err
    assert err.rstrip().endswith("give --force to replace it anyway")
    assert path.read_text() == recorded
    assert main(["baseline", "update", str(pytester.path / "report.json"), "--force"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"baseline written to {path} (4 series, 4 spans), forced although: ")
    assert "it would drop 59 test case(s)" in out.splitlines()[0]
    assert "run them too" not in out
    assert set(counts(path).values()) == {1}


@pytest.mark.parametrize(
    ("old", "new", "dropped"),
    [
        (
            'with tracer.start_as_current_span("evaluate_output") as span:',
            "if True:\n            span = trace.get_current_span()",
            "series evaluate_output",
        ),
        (SCORE_LINE, "pass", "evaluate_output quality.overall_score"),
    ],
    ids=["series", "quality"],
)
def test_a_full_run_that_no_longer_measures_something_keeps_the_baseline(
    pytester: pytest.Pytester, run_llmobs: Any, old: str, new: str, dropped: str
) -> None:
    path = baseline_of(pytester)
    recorded = path.read_text()
    edit_suite(pytester, old, new)
    result, report = run_llmobs("--llmobs-update-baseline")
    result.assert_outcomes(passed=60)
    assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
    assert path.read_text() == recorded
    result.stdout.fnmatch_lines(
        [
            "baseline not updated: it would drop 1 series or metric(s) of the baseline that "
            f"this run did not measure although their test cases ran: {dropped}; to replace it "
            "anyway: `llmobs baseline update report.json --force`"
        ]
    )
    # without a run report, the way to replace it says how to save one
    result = pytester.runpytest_subprocess("--llmobs", "-p", "no:cacheprovider",
                                           "--llmobs-update-baseline")  # fmt: skip
    assert result.ret == 1
    assert path.read_text() == recorded
    result.stdout.fnmatch_lines(
        ["baseline not updated: *; to replace it anyway: add --llmobs-json=PATH, then "
         "`llmobs baseline update PATH --force`"]
    )  # fmt: skip


EVALUATE = 'with tracer.start_as_current_span("evaluate_output") as span:'


@pytest.mark.parametrize(
    ("kept", "lost"), [("i % 3", 20), ("i != 7", 1)], ids=["lost", "conditional"]
)
def test_a_run_the_gate_fails_for_a_span_lost_in_part_never_replaces_the_baseline(
    pytester: pytest.Pytester,
    run_llmobs: Any,
    capsys: pytest.CaptureFixture[str],
    kept: str,
    lost: int,
) -> None:
    path = baseline_of(pytester)
    recorded = path.read_text()
    # evaluate_output is no longer made in some of the 60 test cases
    edit_suite(pytester, EVALUATE, f"with (tracer.start_as_current_span('evaluate_output') "
               f"if {kept} else trace.use_span(trace.INVALID_SPAN)) as span:")  # fmt: skip
    result, report = run_llmobs("--llmobs-update-baseline")
    result.assert_outcomes(passed=60)
    if lost == 1:  # as a conditional span may be: no loss, for the gate nor the update
        assert report["coverage"]["failures"] == []
        assert (result.ret, report["baseline"]["status"]) == (0, "updated")
        assert counts(path)["evaluate_output"] == 59
        return
    assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
    assert path.read_text() == recorded
    why = (
        f"it did not measure series evaluate_output in {lost} of the 60 test cases that made "
        "it in the baseline: test_suite.py::test_prompt[[]0[]], "
        "test_suite.py::test_prompt[[]12[]], test_suite.py::test_prompt[[]15[]] and 17 more "
        "(p = *)"
    )
    result.stdout.fnmatch_lines(
        [
            "not measured: LOST series evaluate_output: lost: measured in 40 of the 60 test "
            "cases that produced it in the baseline*",  # what the gate fails on
            f"baseline not updated: {why}; to replace it anyway: `llmobs baseline update "
            "report.json --force`",
        ]
    )
    # judged again against the baseline it would replace, the command refuses it too
    assert main(["baseline", "update", "report.json"]) == 2
    err = capsys.readouterr().err
    assert fnmatch(err, f"*: baseline not updated: {why}; give --force to replace it anyway\n")
    assert path.read_text() == recorded
    assert main(["baseline", "update", "report.json", "--force"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert fnmatch(
        first, f"baseline written to {path} (4 series, 220 spans), forced although: {why}"
    )


def test_a_stale_run_report_never_drops_a_test_case_added_since_unless_forced(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run_llmobs()
    (pytester.path / "report.json").rename(pytester.path / "stale.json")  # 60 test cases
    with (pytester.path / "test_suite.py").open("a") as suite:
        suite.write("\ndef test_added():\n    pipeline(3)\n")
    result, _ = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0
    path = baseline_of(pytester)
    recorded = path.read_text()
    assert "test_suite.py::test_added" in json.loads(recorded)["tests"]
    capsys.readouterr()
    assert main(["baseline", "update", "stale.json"]) == 2
    why = (
        "it would drop 1 test case(s) of the baseline that the run report does not have "
        "(added after it was made, or removed or renamed since the baseline: a saved report "
        "cannot tell which): test_suite.py::test_added"
    )
    assert capsys.readouterr().err == (
        f"llmobs: error: stale.json: baseline not updated: {why}; give --force to replace it "
        "anyway\n"
    )
    assert path.read_text() == recorded
    assert main(["baseline", "update", "stale.json", "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"baseline written to {path} (4 series, 240 spans), forced although: {why}"
    )


def test_update_writes_to_the_baseline_the_run_report_names(
    pytester: pytest.Pytester,
    run_llmobs: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_suite(pytester, slowdown=1.5)
    _, report = run_llmobs()
    assert report["baseline"]["path"] == str(baseline_of(pytester))
    elsewhere = pytester.mkdir("elsewhere")
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["baseline", "update", str(pytester.path / "report.json")]) == 0
    assert not (elsewhere / ".llmobs").exists()  # not the current folder's
    out = capsys.readouterr().out
    assert out.startswith(f"baseline written to {baseline_of(pytester)} (4 series, 240 spans)")
    assert "  changed: llm_inference" in out


# A README that names the files of pytest-llmobs (`pytest-llmobs/baseline`): still none
PROJECT_README = Path(__file__).parents[2] / "README.md"


@pytest.mark.parametrize("text", ["# The app\n", PROJECT_README.read_text(encoding="utf-8")],
                         ids=["short", "this-project"])  # fmt: skip
def test_a_file_that_is_no_baseline_is_never_overwritten(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    readme = pytester.path / "README.md"  # given as the baseline by mistake
    readme.write_text(text)
    result, report = run_llmobs("--llmobs-update-baseline", f"--llmobs-baseline={readme}")
    assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
    assert readme.read_text() == text
    result.stdout.fnmatch_lines(
        [f"baseline not updated: {readme} is not a pytest-llmobs baseline: give the baseline's"
         " path, or delete the file to record a new one there"]
    )  # fmt: skip
    assert main(["baseline", "update", "report.json", "--baseline", str(readme)]) == 2
    assert f"{readme} is not a pytest-llmobs baseline" in capsys.readouterr().err
    assert readme.read_text() == text


def test_a_baseline_of_a_newer_pytest_llmobs_is_never_replaced_by_an_older_one(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = baseline_of(pytester)
    doc = json.loads(path.read_text())
    doc["version"] = newer = SCHEMA_VERSION + 1  # recorded by a teammate's newer pytest-llmobs
    path.write_text(json.dumps(doc))
    recorded = path.read_text()
    for selection in (("-k", "test_prompt[7]"), ()):  # neither part of the tests, nor all
        result, report = run_llmobs("--llmobs-update-baseline", *selection)
        assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
        assert path.read_text() == recorded
        result.stdout.fnmatch_lines(
            ["baseline not updated: it would replace a baseline of a newer pytest-llmobs "
             f"(schema version {newer}; this one writes version {newer - 1}) with an older "
             "one: upgrade pytest-llmobs; to replace it anyway: "
             "`llmobs baseline update report.json --force`"]
        )  # fmt: skip
    assert main(["baseline", "update", str(pytester.path / "report.json")]) == 2
    assert "with an older one: upgrade pytest-llmobs" in capsys.readouterr().err
    assert path.read_text() == recorded


def test_a_baseline_it_cannot_read_is_re_recorded_by_a_full_run_only(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = baseline_of(pytester)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # cut short
    broken = path.read_text()
    result, report = run_llmobs("--llmobs-update-baseline", "-k", "test_prompt[7]")
    assert (result.ret, report["baseline"]["status"]) == (1, "not-updated")
    assert path.read_text() == broken
    message = report["baseline"]["message"]
    assert message.startswith(
        f"baseline not updated: the old baseline cannot be read ({path}: not valid JSON"
    )
    assert "and this run left tests out (deselected, skipped" in message
    assert "run every test to re-record it; to replace it anyway: `llmobs" in message
    assert main(["baseline", "update", str(pytester.path / "report.json")]) == 2
    assert "the old baseline cannot be read" in capsys.readouterr().err
    assert path.read_text() == broken
    result, report = run_llmobs("--llmobs-update-baseline")
    assert (result.ret, report["baseline"]["status"]) == (0, "updated")
    assert report["baseline"]["message"].startswith(
        f"baseline written to {path} (4 series, 240 spans), replacing one it could not read "
        f"({path}: not valid JSON"
    )
    assert sum(counts(path).values()) == 240


def test_an_interrupted_run_is_refused_for_that_alone(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    path = baseline_of(pytester)
    recorded = path.read_text()
    pytester.makeconftest(
        "import pytest\n\ndef pytest_runtest_teardown(item):\n"
        "    if item.name.endswith('[5]'):\n        pytest.exit('stop', returncode=0)\n"
    )
    _, report = run_llmobs("--llmobs-update-baseline")
    assert report["baseline"]["status"] == "not-updated"
    # its capture is incomplete for that reason only, which the run's errors say
    assert report["baseline"]["message"] == "baseline not updated: the session was interrupted"
    assert path.read_text() == recorded


@pytest.mark.parametrize("dry_run", ["--collect-only", "--setup-plan", "--setup-only"])
@pytest.mark.parametrize("update", [(), ("--llmobs-update-baseline",)], ids=["gate", "update"])
def test_a_run_that_runs_no_test_judges_nothing(
    pytester: pytest.Pytester, dry_run: str, update: tuple[str, ...]
) -> None:
    path = baseline_of(pytester)
    recorded = path.read_text()
    (pytester.path / "report.json").unlink()
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json=report.json", "-p", "no:cacheprovider", dry_run, *update
    )
    assert result.ret == 0
    assert "llmobs:" not in result.stdout.str()  # no gate table, no verdict
    assert not (pytester.path / "report.json").exists()
    assert path.read_text() == recorded
