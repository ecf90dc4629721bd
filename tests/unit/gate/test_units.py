"""Numbers as every report shows them: money to significant digits, never `0.000`."""

from __future__ import annotations

import pytest

from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.units import signed, value


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (2.2e-6, "$0.0000022"),  # a cheap call: its digits, not $0.000
        (2.25e-6, "$0.00000225"),
        (2.2345678e-6, "$0.00000223"),  # three significant digits
        (0.000102, "$0.000102"),
        (0.0, "$0"),
        (0.5, "$0.5"),
        (12.5, "$12.5"),
        (1234.5678, "$1230"),
        (None, "-"),
    ],
)
def test_money_keeps_three_significant_digits(cost: float | None, shown: str) -> None:
    assert value("cost", cost) == shown


@pytest.mark.parametrize(
    ("attribute", "mean", "shown"),
    [
        ("llmobs.cost_usd", 2.2e-6, "$0.0000022"),
        ("gen_ai.usage.input_tokens", 412.5, "412.5 tok"),
        ("gen_ai.usage.output_tokens", 11.0, "11.0 tok"),
        ("overall_score", 0.74869, "0.749"),
    ],
)
def test_a_mean_is_shown_in_the_unit_of_its_metric(attribute: str, mean: float, shown: str) -> None:
    assert value(metric_of(attribute), mean) == shown


@pytest.mark.parametrize(
    ("change", "shown"), [(1.2e-6, "+$0.0000012"), (-3.456e-7, "-$0.000000346"), (0.0, "+$0")]
)
def test_a_change_in_cost_keeps_its_digits_and_sign(change: float, shown: str) -> None:
    assert signed("cost")(change) == shown
