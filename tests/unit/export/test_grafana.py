"""The Grafana dashboard: Grafana's own SDK reads it back, its thresholds are the SLOs, and
Prometheus (promtool) evaluates its queries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk needs Python 3.11")

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard

from pytest_llmobs.export.grafana import dashboard
from tests.unit.export.test_alert_rules import (
    CONFIGURED,
    ODD,
    RUN,
    needs_promtool,
    promtool,
    promtool_test,
    series,
    slos,
)

# The metrics a run pushes (the contract with the exporter), those with a `series` label first.
BY_SERIES = {
    "llmobs_span_latency_seconds",
    "llmobs_span_error_ratio",
    "llmobs_quality_score",
    "llmobs_span_tokens",
    "llmobs_span_cost_usd",
    "llmobs_spans",
    "llmobs_slo_breach",
}
METRICS = BY_SERIES | {"llmobs_checks", "llmobs_run_info", "llmobs_run_timestamp_seconds"}
SOURCE = {"type": "prometheus", "uid": "${datasource}"}
GROUP_BY = ["gen_ai.request.model"]


def panels(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in board["panels"]}


def steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    found = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in found]


def exprs(board: dict[str, Any]) -> Iterator[str]:
    for panel in board["panels"]:
        yield from (target["expr"] for target in panel["targets"])


def labels(**values: str) -> str:
    """A sample's labels in PromQL's notation, as promtool expects them."""
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items()) + "}"


def chosen_all(expr: str) -> str:
    """A query as Grafana sends it with every variable at "All" (their value `.*`)."""
    return re.sub(r"\$(series|suite|branch)\b", ".*", expr)


@pytest.mark.parametrize("table", [{}, CONFIGURED], ids=["defaults", "configured"])
def test_the_sdk_reads_the_dashboard_back_into_its_model_unchanged(table: dict[str, Any]) -> None:
    board = dashboard(slos(table), GROUP_BY)
    register_default_plugins()  # the SDK decodes panel options and queries by their plugin
    model = Dashboard.from_json(board)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
    assert model.panels is not None
    typed = [p for p in model.panels if not isinstance(p.options, stat.Options)]
    assert all(isinstance(p.options, timeseries.Options) for p in typed)
    targets = [t for p in model.panels for t in p.targets or []]
    assert targets
    assert all(isinstance(t, prometheus.Dataquery) for t in targets)


def test_the_same_slos_give_the_same_dashboard() -> None:
    first, again = dashboard(slos(CONFIGURED), GROUP_BY), dashboard(slos(CONFIGURED), GROUP_BY)
    assert json.dumps(first) == json.dumps(again)
    assert first["uid"] == "llmobs"
    assert dashboard({}, title="Pipeline")["title"] == "Pipeline"


def test_thresholds_are_the_configured_slos_in_the_panels_units() -> None:
    table = {
        "error_rate": {"warn": "2%", "fail": "4%"},
        "latency": {"p95": {"warn": "300ms", "fail": "1.5s"}},
        "quality": {"answer.relevance": {"warn": 0.8, "fail": 0.5}, "tone": {"fail": 0.4}},
    }
    found = panels(dashboard(slos(table), GROUP_BY))
    errors, p95 = found["Error rate by series"], found["p95 latency by series"]
    assert errors["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert steps(errors) == [(None, "green"), (0.02, "orange"), (0.04, "red")]
    assert p95["fieldConfig"]["defaults"]["unit"] == "s"
    assert steps(p95) == [(None, "green"), (0.3, "orange"), (1.5, "red")]
    # lower is worse: red below the fail level, green from the warn level up
    for shown in ("by series", "by cohort (mean of its series)"):
        relevance = found[f"Quality: answer.relevance {shown}"]
        assert steps(relevance) == [(None, "red"), (0.5, "orange"), (0.8, "green")]
        assert steps(found[f"Quality: tone {shown}"]) == [(None, "red"), (0.4, "green")]
    assert not any(title.startswith("Quality by") for title in found)


def test_without_slos_the_thresholds_are_the_articles_defaults() -> None:
    found = panels(dashboard({}))
    assert steps(found["Error rate by series"]) == [(None, "green"), (0.05, "orange"), (0.1, "red")]
    assert steps(found["p95 latency by series"]) == [(None, "green"), (0.5, "orange"), (1.0, "red")]
    quality = found["Quality by series"]  # one panel for every attribute
    assert steps(quality) == [(None, "red"), (0.6, "orange"), (0.7, "green")]
    assert "attribute=" not in quality["targets"][0]["expr"]
    assert "{{attribute}}" in quality["targets"][0]["legendFormat"]
    assert not any("by cohort" in title for title in found)  # no group_by, no cohorts


def test_every_panel_and_query_reads_the_chosen_data_source() -> None:
    board = dashboard(slos(CONFIGURED), GROUP_BY)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("series", "suite"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == SOURCE
        assert variables[name]["query"].startswith("label_values(llmobs_spans")
        assert variables[name]["query"].endswith(f", {name})")
        assert variables[name]["multi"] is True
        assert variables[name]["includeAll"] is True
    assert len(board["panels"]) >= 8
    for panel in board["panels"]:
        assert panel["datasource"] == SOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == SOURCE for t in panel["targets"]), panel["title"]


def test_queries_name_only_the_pushed_metrics_and_keep_to_the_chosen_series() -> None:
    for expr in exprs(dashboard(slos(CONFIGURED), GROUP_BY)):
        selectors = re.findall(r'\b([a-z_]+)\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}', expr)
        assert selectors, expr
        assert set(re.findall(r"\bllmobs_\w+", expr)) <= METRICS, expr
        for metric, matchers in selectors:
            assert metric in METRICS, expr
            assert 'suite=~"$suite"' in matchers, expr
            assert ('series=~"$series"' in matchers) == (metric in BY_SERIES), expr


@needs_promtool
def test_prometheus_parses_every_query(tmp_path: Path) -> None:
    queries = list(exprs(dashboard(slos(CONFIGURED), GROUP_BY)))
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard_query_{i}\n        expr: {json.dumps(chosen_all(q))}\n"
        for i, q in enumerate(queries)
    )
    (tmp_path / "queries.yml").write_text(rules, encoding="utf-8")
    done = promtool(tmp_path, "check", "rules", "queries.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


@needs_promtool
def test_the_latest_verdict_and_the_cohort_means_evaluate_as_shown(tmp_path: Path) -> None:
    found = panels(dashboard(slos(CONFIGURED), GROUP_BY))
    verdict = found["Latest verdict"]
    mappings = verdict["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert mappings["1"]["text"] == "regression"
    assert mappings["0"]["text"] == "pass"
    cohort = found["Quality: answer.relevance by cohort (mean of its series)"]

    def score(name: str, model: str) -> str:
        return series("llmobs_quality_score", series=name, attribute="answer.relevance",
                      gen_ai_request_model=model)  # fmt: skip

    inputs = {
        series("llmobs_run_info", verdict="regression", commit="abc123"): "1x5",
        score("chat", "a"): "0.6x5",
        score("embed", "a"): "0.8x5",
        score("chat", "b"): "0.9x5",
    }
    run = {"job": "llmobs", "suite": "unit", "branch": "main"}
    means = [
        {"labels": labels(**run, gen_ai_request_model=m, attribute="answer.relevance"), "value": v}
        for m, v in (("a", 0.7), ("b", 0.9))
    ]
    checks = [
        {"expr": chosen_all(verdict["targets"][0]["expr"]),
         "exp_samples": [{"labels": labels(**run), "value": 1}]},
        {"expr": chosen_all(cohort["targets"][0]["expr"]), "exp_samples": means},
    ]  # fmt: skip
    done = promtool_test(tmp_path, "groups: []\n", inputs, {}, at="4m", exprs=checks)
    assert done.returncode == 0, done.stdout + done.stderr


def drawn(panel: dict[str, Any]) -> bool:
    return "thresholds" in panel["fieldConfig"]["defaults"]


def test_quality_attributes_without_an_slo_of_their_own_have_a_panel_without_levels() -> None:
    found = panels(dashboard(slos({"quality": {"relevance": {"warn": 0.8}}}), GROUP_BY))
    assert steps(found["Quality: relevance by series"]) == [(None, "orange"), (0.8, "green")]
    for shown in ("by series", "by cohort (mean of its series)"):
        others = found[f"Quality: other attributes {shown}"]
        assert 'attribute!~"relevance"' in others["targets"][0]["expr"]
        assert "{{attribute}}" in others["targets"][0]["legendFormat"]
        # neither the gate nor the rules judge them: the default levels would promise a check
        assert not drawn(others)
        assert others["description"].startswith("Quality attributes without an SLO")
    assert "Quality by series" not in found


@needs_promtool
def test_the_other_attributes_panel_leaves_out_exactly_those_with_an_slo(tmp_path: Path) -> None:
    named = ["a.b", ODD, "x|y"]  # regex metacharacters, quotes and braces
    table = {"quality": {name: {"fail": 0.5} for name in named}}
    others = panels(dashboard(slos(table)))["Quality: other attributes by series"]
    kept = ["aXb", "x", "faithfulness"]  # `a.b` unescaped would match aXb, `x|y` would match x
    inputs = {series("llmobs_quality_score", series="chat", attribute=a): "0.5x5"
              for a in named + kept}  # fmt: skip
    name = {"__name__": "llmobs_quality_score"}  # a selector keeps the metric's name
    samples = [{"labels": labels(**name, series="chat", attribute=a, **RUN), "value": 0.5}
               for a in sorted(kept)]  # fmt: skip
    check = {"expr": chosen_all(others["targets"][0]["expr"]), "exp_samples": samples}
    done = promtool_test(tmp_path, "groups: []\n", inputs, {}, at="4m", exprs=[check])
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_latency_percentile_with_an_slo_has_a_panel_at_its_levels() -> None:
    board = dashboard(slos(CONFIGURED), GROUP_BY)  # SLOs on p50, p95, p99; none on p90
    found = panels(board)
    latency = {title: steps(panel) for title, panel in found.items() if "latency" in title}
    assert latency == {
        "p50 latency by series": [(None, "green"), (0.2, "orange")],
        "p95 latency by series": [(None, "green"), (0.5, "orange"), (1.0, "red")],
        "p99 latency by series": [(None, "green"), (2.0, "red")],
    }
    assert 'quantile="0.99"' in found["p99 latency by series"]["targets"][0]["expr"]
    defaults = panels(dashboard(slos({"error_rate": {"warn": "1%"}})))
    assert [title for title in defaults if "latency" in title] == ["p95 latency by series"]
    # tokens and cost SLOs are of the mean per span: no line on a per-run total
    levels = {v for panel in board["panels"] if drawn(panel) for v, _ in steps(panel)}
    assert not levels & {800, 400, 0.01, 0.02}
    assert not drawn(found["Tokens per run"])


def test_each_threshold_panel_says_whether_its_levels_are_an_slo_or_the_default() -> None:
    found = panels(dashboard(slos({"latency": {"p50": {"warn": "200ms"}}})))
    described = {title: panel.get("description") for title, panel in found.items()}
    default = "default threshold (no SLO configured)"
    assert (
        described["p50 latency by series"] == "SLO from [tool.llmobs.slo]: latency.p50 warn 200 ms"
    )
    assert described["p95 latency by series"] == f"{default}: latency.p95 warn 500 ms, fail 1000 ms"
    assert described["Error rate by series"] == f"{default}: error_rate warn 5%, fail 10%"
    assert described["Quality by series"] == f"{default}: quality.* warn 0.7, fail 0.6"
    for panel in dashboard(slos(CONFIGURED), GROUP_BY)["panels"]:
        source = panel.get("description", "").startswith("SLO from [tool.llmobs.slo]: ")
        assert source == drawn(panel), panel["title"]  # every level drawn is configured


def rendered(legend: str, values: dict[str, str]) -> str:
    """A legend as Grafana renders it: a label the sample lacks shows as nothing."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: values.get(m[1], ""), legend)


def test_legends_tell_apart_every_series_a_query_returns() -> None:
    """Two marked tests' series of one span name, two cohorts, two attributes or
    directions in one query: each is a line of its own, named apart."""
    base = {"series": "chat", "gen_ai_request_model": "a", "attribute": "relevance"}
    others = [
        {"test": "tests/test_chat.py::test_long"},
        {"test": "tests/test_chat.py::test_short"},
        {"gen_ai_request_model": "b"},
        {"user_tier": "free"},
        {"series": "embed"},
    ]
    for panel in dashboard(slos(CONFIGURED), [*GROUP_BY, "user.tier"])["panels"]:
        for target in panel["targets"]:
            expr, legend = target["expr"], target["legendFormat"]
            if 'series=~"$series"' not in expr or " by (" in expr:
                continue  # aggregated: its `by` labels name it
            variants = [{}, *others]
            if "llmobs_quality_score" in expr and 'attribute="' not in expr:
                variants.append({"attribute": "faithfulness"})
            if "llmobs_span_tokens" in expr:
                variants.append({"direction": "output"})
            shown = [rendered(legend, {**base, "direction": "input", **v}) for v in variants]
            assert len(set(shown)) == len(shown), (panel["title"], legend)
