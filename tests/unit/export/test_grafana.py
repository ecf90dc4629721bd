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
