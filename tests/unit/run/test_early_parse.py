"""Which llmobs options were given with their value as a separate word."""

from __future__ import annotations

import pytest

from pytest_llmobs.run.early_parse import VALUE_FLAGS, separated


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--llmobs", "tests/"], []),
        (["--llmobs-json=out.json", "tests/"], []),
        (["--llmobs-json", "out.json"], [("--llmobs-json", "out.json")]),
        (
            ["-x", "--llmobs-baseline", "/b.json", "--llmobs-alpha", "0.05"],
            [("--llmobs-baseline", "/b.json"), ("--llmobs-alpha", "0.05")],
        ),
        (["--llmobs-update-baseline", "tests/"], []),  # takes no value
        (["--", "--llmobs-json", "x"], []),  # after --, words are test paths
        (["--llmobs-json"], []),  # no value: pytest itself says so
    ],
)
def test_separated_values(args: list[str], found: list[tuple[str, str]]) -> None:
    assert separated(args) == found


def test_every_option_that_takes_a_value_is_guarded() -> None:
    assert {
        "--llmobs-json",
        "--llmobs-baseline",
        "--llmobs-history",
        "--llmobs-group-by",
    } <= VALUE_FLAGS
    assert "--llmobs" not in VALUE_FLAGS
    assert "--llmobs-ci" not in VALUE_FLAGS
