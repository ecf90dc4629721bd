"""Which of the baseline's test cases a run judged, and what it says of the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmobs.gate.selection import RanTests, file_of

BASELINE = frozenset({"a.py::t[1]", "a.py::t[2]", "a.py::t[3]", "b.py::u", "c.py::v"})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("")
    return tmp_path


def test_the_same_tests_judge_everything() -> None:
    ran = RanTests(BASELINE, BASELINE)
    assert (ran.failures(), ran.unjudged()) == ((), ())


def test_deselected_tests_and_narrower_paths_are_a_choice(root: Path) -> None:
    # -k left a.py::t[3] out; c.py was not on the command line
    ran = RanTests(
        frozenset({"a.py::t[1]", "a.py::t[2]", "b.py::u"}),
        BASELINE,
        deselected=frozenset({"a.py::t[3]"}),
        paths=("a.py", "b.py"),
        root=root,
    )
    assert (ran.failures(), ran.unjudged()) == ((), ())
    assert ran.gone == ran.skipped_now == frozenset()


def test_skipped_tests_were_not_judged() -> None:
    ran = RanTests(frozenset({"a.py::t[1]", "b.py::u", "c.py::v"}), BASELINE,
                   skipped=frozenset({"a.py::t[2]", "a.py::t[3]"}))  # fmt: skip
    (sentence,) = ran.unjudged()
    assert sentence.startswith(
        "2 test cases of the baseline were selected but did not run (skipped, or an error in "
        "setup): a.py::t[2], a.py::t[3]"
    )
    assert ran.failures() == ()


def test_a_module_skipped_whole_was_not_judged() -> None:
    ran = RanTests(frozenset({"a.py::t[1]", "a.py::t[2]", "a.py::t[3]", "b.py::u"}), BASELINE,
                   skipped_files=frozenset({"c.py"}))  # fmt: skip
    assert ran.skipped_now == frozenset({"c.py::v"})
    assert ran.gone == frozenset()


def test_renamed_or_removed_test_cases_are_gone_and_the_new_ones_counted(root: Path) -> None:
    (root / "c.py").unlink()  # removed: gone, whatever the paths
    now = frozenset({"a.py::t[one]", "a.py::t[two]", "a.py::t[3]", "b.py::u"})
    ran = RanTests(now, BASELINE, paths=("",), root=root)
    assert ran.gone == {"a.py::t[1]", "a.py::t[2]", "c.py::v"}
    (sentence,) = ran.unjudged()
    assert "3 test cases of the baseline did not run although their files were asked for " \
        "(renamed or removed; 2 test case(s) are new)" in sentence  # fmt: skip
    assert sentence.endswith("re-record the baseline with --llmobs-update-baseline")


def test_single_tests_named_on_the_command_line_are_a_choice(root: Path) -> None:
    # `pytest a.py::t[1] b.py`: the file's other tests were never asked for
    ran = RanTests(frozenset({"a.py::t[1]", "b.py::u"}), BASELINE, narrowed=frozenset({"a.py"}),
                   paths=("a.py", "b.py"), root=root)  # fmt: skip
    assert ran.gone == frozenset()
    assert ran.unjudged() == ()
    # yet a new baseline from it would drop what the others measured
    assert ran.left_out() == {"a.py::t[2]", "a.py::t[3]", "c.py::v"}


def test_renamed_test_cases_are_no_loss_to_a_new_baseline(root: Path) -> None:
    now = frozenset({"a.py::t[one]", "a.py::t[two]", "a.py::t[3]", "b.py::u", "c.py::v"})
    assert RanTests(now, BASELINE, paths=("",), root=root).left_out() == frozenset()


def test_no_test_ran_fails_unless_every_test_was_deselected() -> None:
    ran = RanTests(frozenset(), BASELINE, skipped=BASELINE)
    assert ran.failures() == (
        "no test ran in this run (5 selected, none ran): nothing was judged against the baseline",
    )
    assert RanTests(frozenset(), BASELINE, deselected=BASELINE).failures() == ()  # -m nomatch
    assert RanTests(frozenset(), frozenset()).failures() == ()  # nor did the baseline's


def test_a_run_of_new_tests_alone_is_a_choice(root: Path) -> None:
    # `pytest new.py`, or -k picking only tests added since the baseline
    by_path = RanTests(frozenset({"new.py::t"}), BASELINE, paths=("new.py",), root=root)
    by_keyword = RanTests(frozenset({"a.py::t[new]"}), BASELINE, deselected=BASELINE)
    for ran in (by_path, by_keyword):
        assert (ran.failures(), ran.unjudged()) == ((), ())


def test_a_baseline_from_another_rootdir_shares_no_test(root: Path) -> None:
    # recorded with the suite's folder as rootdir, run with its parent: no file matches
    moved = frozenset({f"suite/{t}" for t in BASELINE})
    ran = RanTests(moved, BASELINE, paths=("suite",), root=root / "parent")
    (sentence,) = ran.failures()
    assert "shares no test id with the baseline (it has e.g. 'a.py::t[1]', this run " \
        "'suite/a.py::t[1]')" in sentence  # fmt: skip


def test_file_of_a_test_id() -> None:
    assert file_of("dir/a.py::TestX::t[p::q]") == "dir/a.py"
