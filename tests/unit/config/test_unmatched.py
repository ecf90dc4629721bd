"""Configured names checked against what a run measured."""

from __future__ import annotations

import pytest

from pytest_llmobs.config.unmatched import Measured, Named, from_table, measured, warnings
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import RuleError
from tests.conftest import make_series

RUN = measured(
    [make_series("rag_request", [1.0] * 5, quality={"answer_quality": [0.8] * 5})],
    {"user_tier", "answer_quality", "model"},
)


def _warned(*named: Named) -> list[str]:
    return warnings(named, RUN)


@pytest.mark.parametrize(
    "named",
    [
        Named("metric", ("latency.*",), "rules.latency"),
        Named("metric", ("latency.p90",), "rules.latency.p90"),
        Named("metric", ("quality.*",), "rules.quality"),
        Named("metric", ("quality.answer_quality",), "slo"),
        Named("metric", ("error_rate",), "slo"),
        Named("series", ("rag_*",), "overrides[0]"),
        Named("attribute", ("gen_ai.request.model", "model"), "aliases"),
        Named("attribute", ("user_tier",), "group_by"),
        Named("attribute", ("user_*",), "redact.allow"),  # a glob
        Named("attribute", ("*",), "redact.allow"),
    ],
)
def test_a_name_that_matches_is_not_warned_about(named: Named) -> None:
    assert _warned(named) == []


@pytest.mark.parametrize(
    ("named", "hint"),
    [
        (Named("metric", ("tokens.*",), "w"), ""),  # no span had tokens: nothing is close
        (Named("metric", ("cost",), "w"), ""),
        (
            Named("metric", ("quality.answer_qualty",), "w"),
            ": did you mean quality.answer_quality?",
        ),
        (Named("metric", ("error_rat",), "w"), ": did you mean error_rate?"),
        (Named("series", ("rag_reqest",), "w"), ": did you mean rag_request?"),
        (Named("attribute", ("user_teir",), "w"), ": did you mean user_tier?"),
        (Named("attribute", ("xyz",), "w"), ""),
        (Named("attribute", ("retrieval.*",), "w"), ""),
    ],
)
def test_a_name_that_matches_nothing_gets_one_line_with_the_closest(
    named: Named, hint: str
) -> None:
    assert _warned(named, named) == [f"w matches nothing this run measured{hint}"]


def test_nothing_measured_warns_of_nothing() -> None:
    empty = Measured(frozenset(), frozenset(), frozenset())
    assert warnings([Named("attribute", ("user_teir",), "w")], empty) == []


def test_names_are_read_from_every_table_with_where_they_were_written() -> None:
    table = {
        "rules": {"quality": {"x": "-0.1"}, "error_rate": "+2pp"},
        "slo": {"latency": {"p95": {"fail": "1s"}}},
        "overrides": [{"series": "judge*", "cost": "+50%"}],
        "aliases": {"gen_ai.request.model": "model_name"},
        "redact": {"allow": ["user_id"], "patterns": ["sk-.*"]},
    }
    rules_from_config(table, "here")  # a table the checks accept
    assert [(n.kind, n.names, n.where) for n in from_table(table, "here")] == [
        ("metric", ("quality.x",), "rules.quality.x (here)"),
        ("metric", ("error_rate",), "rules.error_rate (here)"),
        ("metric", ("latency.p95",), "slo.latency.p95 (here)"),
        ("series", ("judge*",), 'overrides[0].series = "judge*" (here)'),
        ("metric", ("cost",), "overrides[0].cost (here)"),
        (
            "attribute",
            ("gen_ai.request.model", "model_name"),
            'aliases.gen_ai.request.model = "model_name" (here)',
        ),
        ("attribute", ("user_id",), 'redact.allow "user_id" (here)'),
    ]


@pytest.mark.parametrize(
    "slo",
    [
        {"error_rate": {"warn": "5%", "fail": "10%"}},
        {"error_rate": {"warn": 0.05, "fail": 0.05}},  # equal levels: fail at once
        {"error_rate": {"fail": 1}},
        {"quality": {"score": {"warn": 0.7, "fail": 0.6}}},
        {"quality": {"score": {"warn": 7, "fail": 6}}},  # a score on a scale of ten
        {"latency": {"p95": {"warn": "500ms", "fail": "1s"}}},
    ],
)
def test_sane_slos_are_accepted(slo: dict[str, object]) -> None:
    [(metric, slo_read)] = rules_from_config({"slo": slo}, "here").slos.items()
    assert metric.split(".")[0] in slo
    assert slo_read.fail is not None or slo_read.warn is not None


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ({"error_rate": {"warn": float("nan")}}, "warn = nan is not a finite number"),
        ({"quality": {"x": {"warn": float("inf")}}}, "warn = inf is not a finite number"),
        ({"error_rate": {"fail": -0.05}}, "fail = -0.05 is not at or above zero"),
        ({"tokens": {"input": {"warn": -3}}}, "warn = -3 is not at or above zero"),
    ],
)
def test_levels_that_cannot_be_meant_are_refused(slo: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        rules_from_config({"slo": slo}, "here")


def test_a_quality_score_may_have_levels_below_zero() -> None:
    rules = rules_from_config({"slo": {"quality": {"sentiment": {"warn": -0.2}}}}, "here")
    assert rules.slos["quality.sentiment"].warn == -0.2


@pytest.mark.parametrize("spec", ["+0.02", "+2pp", "+10%"])
def test_error_rate_rules_up_to_a_whole_rate_are_accepted(spec: str) -> None:
    rules_from_config({"rules": {"error_rate": spec}}, "here")


def test_an_error_rate_rule_above_a_whole_rate_is_refused() -> None:
    with pytest.raises(RuleError, match=r"'\+5' is a rate above 100%: write \+5pp or \+0.05"):
        rules_from_config({"rules": {"error_rate": "+5"}}, "here")


def test_attributes_of_events_count_as_seen() -> None:
    """redact.allow may name an event's attribute (an exception's message)."""
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_llmobs.capture.recorder import SpanRecorder
    from pytest_llmobs.config.unmatched import attributes_of

    recorder = SpanRecorder([])
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(recorder)
    with provider.get_tracer("t").start_as_current_span("call", attributes={"route": "/a"}) as s:
        s.add_event("exception", {"exception.message": "model refused"})
    found = attributes_of(recorder.snapshot())
    assert {"route", "exception.message"} <= found
    allowed = Named("attribute", ("exception.*",), "redact.allow")
    assert warnings([allowed], measured([make_series("call", [1.0])], found)) == []
