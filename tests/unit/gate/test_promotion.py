"""Promoting a run to the baseline: what refuses it, what --force overrides, what it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmobs.gate import baseline
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.promotion import kept_series, metric_values, promote, refusal, replace_hint
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.shape import Shape
from tests.conftest import make_series

A, B = "t.py::test_a", "t.py::test_b"


def scored(name: str, test: str, **scores: float) -> SeriesStats:
    return make_series(name, [10.0, 11.0], quality={k: [v, v] for k, v in scores.items()},
                       cases=[test, test])  # fmt: skip


OLD = [scored("a", A, score=0.8), scored("b", B, score=0.9)]
FULL = RanTests(frozenset({A, B}), frozenset())  # every test ran; the baseline's unread


@pytest.mark.parametrize(
    ("series", "ran", "why"),
    [
        # everything measured again
        (
            [scored("a", A, score=0.8), scored("b", B, score=0.9)],
            RanTests(frozenset({A, B}), frozenset({A, B})),
            None,
        ),
        # series b is gone although test_b ran
        (
            [scored("a", A, score=0.8), scored("x", B)],
            RanTests(frozenset({A, B}), frozenset({A, B})),
            "it would drop 1 series or metric(s) of the baseline that this run did not measure "
            "although their test cases ran: series b",
        ),
        # a's score is gone although test_a ran
        (
            [scored("a", A), scored("b", B, score=0.9)],
            RanTests(frozenset({A, B}), frozenset({A, B})),
            "it would drop 1 series or metric(s) of the baseline that this run did not measure "
            "although their test cases ran: a quality.score",
        ),
        # test_b deselected: its test case is what would be dropped, not its series
        (
            [scored("a", A, score=0.8)],
            RanTests(frozenset({A}), frozenset({A, B}), deselected=frozenset({B})),
            "it would drop 1 test case(s) of the baseline that still exist but did not run "
            "(deselected, skipped, or outside the paths given): t.py::test_b; run them too",
        ),
        # test_b removed: its series goes with it
        ([scored("a", A, score=0.8)], RanTests(frozenset({A}), frozenset({A, B})), None),
    ],
    ids=["same", "series", "metric", "deselected", "removed"],
)
def test_a_run_that_drops_what_the_baseline_measured_is_refused(
    tmp_path: Path, series: list[SeriesStats], ran: RanTests, why: str | None
) -> None:
    path = tmp_path / "baseline.json"
    state = promote(series, path, {}, tests=ran, replaced=OLD)
    if why is None:
        assert state.status == "updated"
    else:
        assert (state.status, state.message) == ("not-updated", f"baseline not updated: {why}")
        assert not path.exists()


CASES35 = [f"t.py::test_case[{i}]" for i in range(35)]


def judge_in(cases: list[str]) -> SeriesStats:
    return make_series("judge", [10.0 + i for i in range(len(cases))], cases=cases)


@pytest.mark.parametrize(
    ("gone", "why"),
    [
        # gone from 14 of the 35 test cases: the gate fails it as lost
        (
            [i for i in range(35) if i % 5 in (0, 2)],
            "it did not measure series judge in 14 of the 35 test cases that made it in the "
            "baseline: t.py::test_case[0], t.py::test_case[10], t.py::test_case[12] and 11 "
            "more (p = 0.00037)",
        ),
        ([7], None),  # from one of them: as a conditional span may be, not a loss
    ],
    ids=["lost", "conditional"],
)
def test_a_run_that_lost_a_series_in_part_is_refused_as_the_gate_fails_it(
    tmp_path: Path, gone: list[int], why: str | None
) -> None:
    path = tmp_path / "baseline.json"
    old = [judge_in(CASES35)]
    series = [judge_in([c for i, c in enumerate(CASES35) if i not in gone])]
    ran = RanTests(frozenset(CASES35), frozenset(CASES35))
    comparison = compare(series, old, tests=ran)
    assert bool(comparison.failures) is (why is not None)  # the gate's own judgement
    state = promote(series, path, {}, tests=ran, replaced=old, lost=comparison.lost)
    if why is None:
        assert state.status == "updated"
        return
    assert (state.status, state.message) == ("not-updated", f"baseline not updated: {why}")
    state = promote(series, path, {}, tests=ran, replaced=old, lost=comparison.lost, force=True)
    assert state.status == "updated"
    assert state.message.endswith(f"(1 series, 21 spans), forced although: {why}")


def test_a_saved_report_that_lacks_test_cases_of_the_baseline_is_refused(tmp_path: Path) -> None:
    # a report made before test_b was added, or after it was removed: it cannot tell
    path = tmp_path / "baseline.json"
    ran = RanTests(frozenset({A}), frozenset({A, B}), collected=frozenset({A}), paths=("",))
    series = [scored("a", A, score=0.8)]
    assert promote(series, path, {}, tests=ran, replaced=OLD).status == "updated"  # the plugin
    path.unlink()
    state = promote(series, path, {}, tests=ran, replaced=OLD, saved=True, remedy="say --force")
    assert (state.status, state.message) == (
        "not-updated",
        "baseline not updated: it would drop 1 test case(s) of the baseline that the run "
        "report does not have (added after it was made, or removed or renamed since the "
        "baseline: a saved report cannot tell which): t.py::test_b; say --force",
    )
    assert not path.exists()
    state = promote(series, path, {}, tests=ran, replaced=OLD, saved=True, force=True)
    assert state.status == "updated"
    assert (
        ", forced although: it would drop 1 test case(s) of the baseline that the run "
        "report does not have" in state.message
    )


def test_force_overrides_every_refusal_and_says_which(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    ran = RanTests(frozenset({A}), frozenset({A, B}), deselected=frozenset({B}))
    series = [scored("a", A)]
    refused = refusal(False, False, 2)
    state = promote(series, path, {}, refused, None, ran, OLD, remedy="say --force")
    assert state.status == "not-updated"
    assert state.message.endswith("; run them too; say --force")
    state = promote(series, path, {}, refused, None, ran, OLD, force=True)
    assert state.status == "updated"
    assert state.message == (
        f"baseline written to {path} (1 series, 2 spans), forced although: 2 test(s) failed; "
        "it would drop 1 test case(s) of the baseline that still exist but did not run "
        "(deselected, skipped, or outside the paths given): t.py::test_b; it would drop 1 "
        "series or metric(s) of the baseline that this run did not measure although their "
        "test cases ran: a quality.score"
    )


def test_force_never_writes_without_spans_nor_over_another_file(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    assert promote([], path, {}, force=True).message == (
        "baseline not updated: no spans were captured"
    )
    other = tmp_path / "pyproject.toml"
    other.write_text("[project]\nname = 'app'\n")
    state = promote([scored("a", A)], other, {}, force=True)
    assert state.message == (
        f"baseline not updated: {other} is not a pytest-llmobs baseline: give the baseline's "
        "path, or delete the file to record a new one there"
    )
    assert other.read_text() == "[project]\nname = 'app'\n"
    # this project's README names pytest-llmobs/ files, and is none
    readme = tmp_path / "README.md"
    readme.write_text((Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8"))
    before = readme.read_text()
    assert promote([scored("a", A)], readme, {}, force=True).message == (
        f"baseline not updated: {readme} is not a pytest-llmobs baseline: give the baseline's "
        "path, or delete the file to record a new one there"
    )
    assert readme.read_text() == before
    # an empty or truncated baseline is what re-recording (by a full run) repairs
    for broken in ("", '{\n  "metadata": {},\n  "schema": "pytest-llmobs/baseline",\n  "se'):
        path.write_text(broken)
        assert promote([scored("a", A)], path, {}, tests=FULL).status == "updated"


def unreadable(path: Path, how: str) -> str:
    """Spoil the baseline at path as `how` says; return the part of the message naming it."""
    doc = json.loads(baseline.baseline_document(OLD, {}, None, [A, B]))
    if how == "newer":
        doc["version"] = newer = baseline.SCHEMA_VERSION + 1
        path.write_text(json.dumps(doc))
        return (
            f"it would replace a baseline of a newer pytest-llmobs (schema version {newer}; this "
            f"one writes version {newer - 1}) with an older one: upgrade pytest-llmobs"
        )
    text = baseline.baseline_document(OLD, {}, None, [A, B])
    path.write_text(text[: len(text) // 2] if how == "truncated" else text.replace("[", "{"))
    return f"the old baseline cannot be read ({path}: "


@pytest.mark.parametrize("how", ["newer", "truncated", "malformed"])
@pytest.mark.parametrize(
    "ran",
    [
        FULL,
        RanTests(frozenset({A}), frozenset(), deselected=frozenset({B})),
        RanTests(frozenset({A}), frozenset(), skipped=frozenset({B})),
        RanTests(frozenset({A}), frozenset(), narrowed=frozenset({"t.py"})),
        None,  # a run report of an older version: which tests ran is not known
    ],
    ids=["full", "deselected", "skipped", "narrowed", "unknown"],
)
def test_a_baseline_it_cannot_read_is_replaced_only_by_a_full_run_and_never_downgraded(
    tmp_path: Path, how: str, ran: RanTests | None
) -> None:
    path = tmp_path / "baseline.json"
    named = unreadable(path, how)
    before = path.read_text()
    series = [scored("a", A, score=0.8)]
    state = promote(series, path, {}, tests=ran, remedy="say --force")
    if how != "newer" and ran is FULL:  # re-recorded, saying over what
        assert state.status == "updated"
        assert state.message.startswith(
            f"baseline written to {path} (1 series, 2 spans), replacing one it could not read "
            f"({path}: "
        )
        assert [s.key.name for s in baseline.load(path).series] == ["a"]
        return
    assert state.status == "not-updated"
    assert state.message.startswith(f"baseline not updated: {named}")
    assert state.message.endswith("; say --force")
    if how != "newer":
        why = "the run report does not say" if ran is None else "this run left tests out"
        assert f"cannot be told, and {why}" in state.message
        assert "run every test to re-record it" in state.message
    assert path.read_text() == before
    state = promote(series, path, {}, tests=ran, force=True)
    assert state.status == "updated"
    assert f", forced although: {named}" in state.message


@pytest.mark.parametrize(
    ("incomplete", "interrupted", "failed", "why"),
    [
        (False, False, 0, None),
        (True, False, 0, "the capture is incomplete"),
        (False, True, 0, "the session was interrupted"),
        (True, True, 0, "the session was interrupted; the capture is incomplete"),
        (True, True, 2, "the session was interrupted; the capture is incomplete; 2 test(s) failed"),
        (True, False, 3, "the capture is incomplete; 3 test(s) failed"),
    ],
)
def test_refusal_names_every_reason(
    incomplete: bool, interrupted: bool, failed: int, why: str | None
) -> None:
    assert refusal(incomplete, interrupted, failed) == why


def test_series_shaped_otherwise_are_reshaped_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    shape = Shape(("score",))
    write_atomic(path, baseline.baseline_document(OLD, {}, shape, [A, B]))
    stored = baseline.load(path)
    ran = RanTests(frozenset({A, B}), frozenset({A, B}))
    assert kept_series(stored, shape, ran) == stored.series
    assert kept_series(stored, Shape(("score",), ("model",)), ran) == ()


def test_the_way_to_replace_it_anyway_names_the_run_report(tmp_path: Path) -> None:
    assert replace_hint(tmp_path / "out" / "run.json", tmp_path) == (
        "to replace it anyway: `llmobs baseline update out/run.json --force`"
    )
    assert replace_hint(None, tmp_path) == (
        "to replace it anyway: add --llmobs-json=PATH, then `llmobs baseline update PATH --force`"
    )


def test_every_metric_of_a_series_is_compared() -> None:
    was = make_series("llm", [10.0, 20.0], quality={"llmobs.cost_usd": [0.1, 0.1],
                      "gen_ai.usage.output_tokens": [5.0, 5.0], "judge": [0.5, 0.5]})  # fmt: skip
    now = make_series("llm", [10.0, 20.0], errors=1, quality={"judge": [0.7, 0.7]})
    assert [(m, a, b) for m, a, b in metric_values(was, now) if a != b] == [
        ("error_rate", 0.0, 0.5),
        ("quality.judge", 0.5, 0.7),
        ("tokens.output", 5.0, None),
        ("cost", 0.1, None),
    ]
