"""What shaped a baseline's series, and the sentences when a run is shaped otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_llmobs.gate.shape import Shape, differences, function_of

RECORDED = Shape(
    quality_attributes=("overall_score", "relevance"),
    group_by=("user_tier",),
    group_names={"user_tier": ("user_tier", "tier")},
    request_spans=("llm_request",),
    marked=("t.py::test_long",),
)
TESTS = frozenset({"t.py::test_long[a]", "t.py::test_short"})


def test_the_same_shape_differs_in_nothing() -> None:
    assert differences(RECORDED, RECORDED, TESTS, TESTS) == []


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (
            {"group_by": (), "group_names": {}},
            "the baseline was recorded with group_by = [user_tier], this run has none",
        ),
        (
            {"quality_attributes": ("overall_score",)},
            "the baseline was recorded with quality_attributes = [overall_score, relevance], "
            "this run has [overall_score]",
        ),
        (
            {"group_names": {"user_tier": ("user_tier",)}},
            "the baseline read group_by attribute user_tier under [user_tier, tier], this run "
            "reads it under [user_tier] ([tool.llmobs.aliases])",
        ),
        (
            {"request_spans": ()},
            "the baseline was recorded with request_spans = [llm_request], this run has none",
        ),
        (
            {"marked": ()},
            "t.py::test_long carried @pytest.mark.llmobs in the baseline but does not now",
        ),
        (
            {"marked": ("t.py::test_long", "t.py::test_short")},
            "t.py::test_short carries @pytest.mark.llmobs now but did not in the baseline",
        ),
    ],
)
def test_each_difference_is_one_sentence(change: dict[str, Any], sentence: str) -> None:
    current = Shape(**{**RECORDED.__dict__, **change})
    assert differences(RECORDED, current, TESTS, TESTS) == [sentence]


def test_a_new_quality_attribute_is_no_difference() -> None:
    current = Shape(
        **{**RECORDED.__dict__, "quality_attributes": ("a", *RECORDED.quality_attributes)}
    )
    assert differences(RECORDED, current, TESTS, TESTS) == []


def test_a_marker_matters_only_on_a_test_that_ran_in_both() -> None:
    unmarked = Shape(**{**RECORDED.__dict__, "marked": ("t.py::test_new",)})
    # test_long did not run now; test_new is not in the baseline
    assert differences(RECORDED, unmarked, TESTS, frozenset({"t.py::test_short"})) == []


def test_round_trip_and_bad_records() -> None:
    assert Shape.from_json(RECORDED.to_json()) == RECORDED
    with pytest.raises(ValueError, match=r"settings.group_by must be a list of strings"):
        Shape.from_json({**RECORDED.to_json(), "group_by": "user_tier"})
    with pytest.raises(ValueError, match="settings must be an object"):
        Shape.from_json(["group_by"])


@pytest.mark.parametrize(
    ("test_id", "function"),
    [
        ("t.py::test_a", "t.py::test_a"),
        ("t.py::test_a[x-1]", "t.py::test_a"),
        ("t.py::TestX::test_a[what::is[this]]", "t.py::TestX::test_a"),
        ("dir[1]/t.py::test_a[p]", "dir[1]/t.py::test_a"),
    ],
)
def test_function_of_a_test_id(test_id: str, function: str) -> None:
    assert function_of(test_id) == function
