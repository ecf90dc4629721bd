"""Which of the baseline's test cases a run judged, and what it says of the others."""

from __future__ import annotations

from pytest_llmobs.selection import RanTests, file_of

BASELINE = frozenset({"a.py::t[1]", "a.py::t[2]", "a.py::t[3]", "b.py::u", "c.py::v"})


def test_the_same_tests_judge_everything() -> None:
    ran = RanTests(BASELINE, BASELINE)
    assert (ran.failures(), ran.unjudged()) == ((), ())


def test_deselected_tests_and_narrower_paths_are_a_choice() -> None:
    # -k left a.py::t[3] out; c.py was not on the command line
    ran = RanTests(frozenset({"a.py::t[1]", "a.py::t[2]", "b.py::u"}), BASELINE,
                   deselected=frozenset({"a.py::t[3]"}))  # fmt: skip
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


def test_renamed_test_cases_are_gone_and_the_new_ones_counted() -> None:
    ran = RanTests(frozenset({"a.py::t[one]", "a.py::t[two]", "a.py::t[3]", "b.py::u", "c.py::v"}),
                   BASELINE)  # fmt: skip
    assert ran.gone == {"a.py::t[1]", "a.py::t[2]"}
    (sentence,) = ran.unjudged()
    assert "2 test cases of the baseline did not run although their files did (renamed or " \
        "removed; 2 test case(s) are new)" in sentence  # fmt: skip
    assert sentence.endswith("re-record the baseline with --llmobs-update-baseline")


def test_no_test_ran_fails() -> None:
    ran = RanTests(frozenset(), BASELINE, skipped=BASELINE)
    assert ran.failures() == (
        "no test ran in this run (5 selected, none ran): nothing was judged against the baseline",
    )
    assert RanTests(frozenset(), frozenset()).failures() == ()  # nor did the baseline's


def test_no_shared_test_fails() -> None:
    ran = RanTests(frozenset({"suite/a.py::t[1]"}), BASELINE)
    (sentence,) = ran.failures()
    assert "shares no test id with the baseline (it has e.g. 'a.py::t[1]', this run " \
        "'suite/a.py::t[1]')" in sentence  # fmt: skip


def test_file_of_a_test_id() -> None:
    assert file_of("dir/a.py::TestX::t[p::q]") == "dir/a.py"


def test_a_selection_of_new_tests_alone_is_a_choice() -> None:
    # -k picked only tests added since the baseline: its own were deselected
    ran = RanTests(frozenset({"a.py::t[new]"}), BASELINE, deselected=BASELINE)
    assert (ran.failures(), ran.unjudged()) == ((), ())


def test_single_tests_named_on_the_command_line_are_a_choice() -> None:
    # `pytest a.py::t`: the file's other tests were never asked for
    ran = RanTests(frozenset({"a.py::t[1]", "b.py::u"}), BASELINE, narrowed=frozenset({"a.py"}))
    assert ran.gone == frozenset()
    assert ran.unjudged() == ()
