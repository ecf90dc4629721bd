"""Rule and SLO specs: what parses, what each means, and errors that quote the text."""

from __future__ import annotations

import pytest

from pytest_llmobs.gate.rule_config import marker_rules, rules_from_config, with_test_rules
from pytest_llmobs.gate.rules import (
    RuleError,
    Rules,
    Slo,
    Tolerance,
    parse_slo_value,
    parse_tolerance,
)

SOURCE = "[tool.llmobs] in /p/pyproject.toml"


@pytest.mark.parametrize(
    ("metric", "spec", "expected"),
    [
        ("latency.p95", "+15%", Tolerance(1, 0.15, None, "+15%")),
        ("latency.p50", "+10% and +1ms", Tolerance(1, 0.10, 1.0, "+10% and +1ms")),
        ("latency.p50", "+0.5s", Tolerance(1, None, 500.0, "+0.5s")),
        ("error_rate", "+2pp", Tolerance(1, None, 0.02, "+2pp")),
        ("error_rate", "+0.02", Tolerance(1, None, 0.02, "+0.02")),
        ("quality.overall_score", "-0.05", Tolerance(-1, None, 0.05, "-0.05")),
        ("quality.toxicity", "+0.1", Tolerance(1, None, 0.1, "+0.1")),
        ("quality.overall_score", "-5%", Tolerance(-1, 0.05, None, "-5%")),
    ],
)
def test_specs_parse(metric: str, spec: str, expected: Tolerance) -> None:
    assert parse_tolerance(metric, spec) == expected


def test_off_disables_a_check() -> None:
    assert parse_tolerance("latency.p99", "off") is None


@pytest.mark.parametrize(
    ("metric", "spec", "message"),
    [
        ("latency.p95", "15%", "cannot read '15%'"),
        ("latency.p95", "+15", "give latency in %, ms or s"),
        ("latency.p95", "+10% and -1ms", "same way"),
        ("quality.x", "+2ms", "time units apply to latency only"),
        ("latency.p50", "+2pp", "percentage points apply to error_rate only"),
        ("error_rate", "", "empty rule"),
        ("error_rate", "+two", r"cannot read '\+two'"),
    ],
)
def test_bad_specs_say_why(metric: str, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tolerance(metric, spec)


@pytest.mark.parametrize(
    ("current", "baseline", "expected"),
    [
        (11.5, 10.0, 1),  # +15%, +1.5 ms: beyond both
        (10.5, 10.0, 0),  # +5%
        (1.5, 1.0, 0),  # +50%, but only +0.5 ms
        (8.0, 10.0, -1),  # better, beyond both
        (11.0, 10.0, 0),  # exactly +10%: within
    ],
)
def test_a_change_is_beyond_only_past_every_bound(
    current: float, baseline: float, expected: int
) -> None:
    tolerance = parse_tolerance("latency.p50", "+10% and +1ms")
    assert tolerance is not None
    assert tolerance.beyond(current, baseline) == expected


def test_overrides_by_series_glob_and_families() -> None:
    rules = rules_from_config(
        {
            "rules": {"latency": {"*": "+20%", "p99": "off"}, "quality": {"*": "-0.1"}},
            "overrides": [{"series": "embed_*", "latency.p95": "+50%"}],
        },
        SOURCE,
    )
    assert rules.tolerance("llm", "latency.p95") == parse_tolerance("latency.p95", "+20%")
    assert rules.tolerance("embed_query", "latency.p95") == parse_tolerance("latency.p95", "+50%")
    assert rules.tolerance("embed_query", "latency.p50") == parse_tolerance("latency.p95", "+20%")
    assert rules.tolerance("llm", "latency.p99") is None
    assert rules.tolerance("llm", "quality.relevance") == parse_tolerance("quality.x", "-0.1")
    # what the table leaves out keeps its default
    assert rules.tolerance("llm", "error_rate") == parse_tolerance("error_rate", "+2pp")


def test_defaults() -> None:
    rules = Rules()
    assert rules.alpha == 0.01
    assert rules.tolerance("any", "latency.p95") == parse_tolerance("latency.*", "+10% and +1ms")
    assert rules.tolerance("any", "quality.q") == parse_tolerance("quality.q", "-0.05")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rules": {"latency.p95": "15%"}}, 'rules.latency.p95 = "15%" \\(.*\\): cannot read'),
        ({"rules": {"latency.p42": "+1%"}}, 'rules.latency.p42 = "\\+1%" .*unknown metric'),
        ({"rules": {"error_rate": 2}}, "expected a string"),
        ({"overrides": {"series": "x"}}, "expected an array of tables"),
        ({"overrides": [{"latency.p95": "+1%"}]}, "overrides\\[0\\] .*needs series"),
        ({"slo": {"latency.p95": {"warn": "500"}}}, "give latency thresholds in ms or s"),
        ({"slo": {"error_rate": {"fail": "10%", "page": "1%"}}}, "expected \\{ warn"),
        ({"slo": {"latency.*": {"fail": "1s"}}}, "name one metric"),
    ],
)
def test_bad_tables_quote_the_text_and_name_the_source(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(RuleError, match=message) as info:
        rules_from_config(config, SOURCE)
    assert SOURCE in str(info.value)


def test_slos_from_the_source_article() -> None:
    rules = rules_from_config(
        {
            "slo": {
                "error_rate": {"warn": "5%", "fail": "10%"},
                "latency": {"p95": {"warn": "500ms", "fail": "1s"}},
                "quality.overall_score": {"warn": 0.7, "fail": 0.6},
            }
        },
        SOURCE,
    )
    assert rules.slo("error_rate") == Slo(1, 0.05, 0.10)
    assert rules.slo("latency.p95") == Slo(1, 500.0, 1000.0)
    quality = rules.slo("quality.overall_score")
    assert quality == Slo(-1, 0.7, 0.6)
    assert [quality.status(v) for v in (0.8, 0.65, 0.5, 0.7)] == ["ok", "warn", "fail", "ok"]
    assert parse_slo_value("latency.p95", "1.5s") == 1500.0


def test_marker_rules_from_a_dict_and_keywords() -> None:
    specs = marker_rules(
        ({"latency.p95": "+50%"},), {"latency_p50": "+40%", "quality_overall_score": "off",
                                     "error_rate": "+5pp"}, "t.py::test_x",
    )  # fmt: skip
    assert specs == {
        "latency.p95": "+50%",
        "latency.p50": "+40%",
        "quality.overall_score": "off",
        "error_rate": "+5pp",
    }
    rules = with_test_rules(Rules(), {"t.py::test_x": specs})
    assert rules.tolerance("llm", "latency.p50", "t.py::test_x") == parse_tolerance(
        "latency.p50", "+40%"
    )
    assert rules.tolerance("llm", "quality.overall_score", "t.py::test_x") is None
    # other tests and unmarked series keep the usual rules
    assert rules.tolerance("llm", "latency.p50", "t.py::test_y") == Rules().tolerance(
        "llm", "latency.p50"
    )
    assert rules.tolerance("llm", "latency.p50") == parse_tolerance("latency.p50", "+10% and +1ms")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"latency_p95": "50%"}, "latency.p95 = '50%': cannot read"),
        ((), {"latency_p42": "+5%"}, "unknown metric"),
        (("+5%",), {}, "expected a dict"),
        ((), {"error_rate": 0.05}, "expected a string"),
    ],
)
def test_bad_marker_rules_name_the_test(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(RuleError, match=message) as info:
        marker_rules(args, kwargs, "t.py::test_x")
    assert str(info.value).startswith("@pytest.mark.llmobs on t.py::test_x: ")
