"""A Grafana dashboard of the metrics each CI run pushes, its thresholds the gate's SLOs."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmobs.export import slo_defaults
from pytest_llmobs.gate.rules import Slo

try:
    from grafana_foundation_sdk.builders import common as common_builder
    from grafana_foundation_sdk.builders import dashboard as builder
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.cog import builder as cog
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model
except ImportError as exc:
    if sys.version_info < (3, 11):  # the SDK is written for 3.11 and installs on no other
        raise ImportError(
            "llmobs grafana needs Python 3.11 or later (grafana-foundation-sdk does)",
            name=exc.name,
        ) from None
    raise

Panels = list[cog.Builder[model.Panel]]
UID = "llmobs"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
# The query variables, each a label the Pushgateway's grouping or the run puts on a sample.
VARIABLES = ("suite", "branch", "series")
# The gate's verdicts, worst last: the latest-verdict panel shows the worst it finds.
VERDICTS = (("pass", "green"), ("regression", "red"), ("fail", "red"), ("error", "purple"))


def dashboard(
    slos: Mapping[str, Slo],
    group_by: Sequence[str] = (),
    title: str = "LLM pipeline (pytest-llmobs)",
) -> dict[str, Any]:
    """The dashboard's JSON model, its thresholds the SLOs the gate checks.

    Panels: the latest verdict, checks, SLO breaches, error rate and p95 latency,
    quality by series (and cohort), spans and tokens; the article's defaults stand in for
    SLOs not configured. Every query reads the `datasource` variable's data source and
    keeps to the `suite`, `branch` and `series` chosen.

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).
        group_by: the attributes that split a series (their labels name a cohort).
        title: the dashboard's title.

    Returns:
        The dashboard as Grafana imports it (`uid` "llmobs"), the same for the same input.
    """
    cohorts = slo_defaults.cohort_labels(group_by)
    chosen = slo_defaults.effective(slos)
    source = builder.DatasourceVariable("datasource").label("Data source").type("prometheus")
    board: builder.Dashboard = (
        builder.Dashboard(title)
        .uid(UID)
        .tags(["pytest-llmobs", "llm"])
        .time("now-7d", "now")
        .refresh("1m")
        .with_variable(source)
    )
    for name in VARIABLES:
        board = board.with_variable(_variable(name))
    for panel in (
        _verdict(), *_checks(), *_errors_and_latency(chosen, cohorts),
        *_quality(chosen, cohorts), *_volume(cohorts),
    ):  # fmt: skip
        board = board.with_panel(panel)
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def _variable(name: str) -> builder.QueryVariable:
    """A multi-valued query variable of a label, with "All" matching any value; `series`
    and `branch` offer what the chosen suites hold."""
    within = "" if name == "suite" else '{suite=~"$suite"}'
    variable: builder.QueryVariable = (
        builder.QueryVariable(name)
        .label(name)
        .datasource(DATASOURCE)
        .query(f"label_values(llmobs_spans{within}, {name})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    return variable


def _errors_and_latency(chosen: Mapping[str, Slo], cohorts: Sequence[str]) -> Panels:
    """The error rate and p95 latency by series, as the gate judges them: each series and
    cohort on its own."""
    legend = _legend(cohorts)
    errors = _query(_select("llmobs_span_error_ratio"), legend)
    p95 = _query(_select("llmobs_span_latency_seconds", {"quantile": "0.95"}), legend)
    return [
        _graph("Error rate by series", errors, "percentunit", chosen["error_rate"]),
        _graph("p95 latency by series", p95, "s", chosen["latency.p95"], scale=1 / 1000),
    ]


def _quality(chosen: Mapping[str, Slo], cohorts: Sequence[str]) -> Panels:
    """For each quality SLO, its scores by series (and cohort) and, with cohorts, their
    mean by cohort; `quality.*` stands for every attribute."""
    panels: Panels = []
    for metric, slo in chosen.items():
        if not metric.startswith("quality."):
            continue
        name = slo_defaults.attribute(metric)
        query = _select("llmobs_quality_score", {} if name is None else {"attribute": name})
        shown = "Quality" if name is None else f"Quality: {name}"
        extra = " {{attribute}}" if name is None else ""
        target = _query(query, _legend(cohorts) + extra)
        panels.append(_graph(f"{shown} by series", target, "none", slo))
        if cohorts:
            by = ", ".join((*slo_defaults.RUN_LABELS, *cohorts, "attribute"))
            legend = " ".join(f"{{{{{c}}}}}" for c in cohorts) + extra
            mean = _query(f"avg by ({by}) ({query})", legend)
            panels.append(_graph(f"{shown} by cohort (mean of its series)", mean, "none", slo))
    return panels


def _volume(cohorts: Sequence[str]) -> Panels:
    """Spans and tokens of each run, by series."""
    legend = _legend(cohorts)
    spans = _query(_select("llmobs_spans"), legend)
    tokens = _query(_select("llmobs_span_tokens"), legend + " {{direction}}")
    return [
        _graph("Spans per run", spans, "short", None),
        _graph("Tokens per run", tokens, "short", None),
    ]


def _checks() -> Panels:
    """The run's checks by verdict, and the series breaching an SLO by metric and level."""
    checks = _select("llmobs_checks", series=False)
    breaches = _select("llmobs_slo_breach")
    return [
        _graph("Checks by verdict", _query(f"sum by (verdict) ({checks})", "{{verdict}}"),
               "short", None, width=9),
        _graph("Series breaching an SLO",
               _query(f"sum by (metric, level) ({breaches})", "{{metric}} {{level}}"),
               "short", None, width=9),
    ]  # fmt: skip


def _verdict() -> stat.Panel:
    """The worst verdict of the latest run of each suite and branch, by name and colour."""
    each = " or ".join(
        f"{_select('llmobs_run_info', {'verdict': name}, series=False)} * {code}"
        for code, (name, _) in enumerate(VERDICTS)
    )
    mapping = model.ValueMap(
        options={
            str(code): model.ValueMappingResult(text=name, color=colour, index=code)
            for code, (name, colour) in enumerate(VERDICTS)
        }
    )
    query = _query(f"max by (job, suite, branch) ({each})", "{{suite}} {{branch}}").instant()
    panel: stat.Panel = (
        stat.Panel()
        .title("Latest verdict")
        .datasource(DATASOURCE)
        .height(8)
        .span(6)
        .mappings([mapping])
        .color_mode(common.BigValueColorMode("background"))
        .text_mode(common.BigValueTextMode("value_and_name"))
        .graph_mode(common.BigValueGraphMode("none"))
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(query)
    )
    return panel


def _graph(
    title: str,
    target: prometheus.Dataquery,
    unit: str,
    slo: Slo | None,
    scale: float = 1.0,
    width: int = 12,
) -> timeseries.Panel:
    """A time series panel over runs; with an SLO, its levels (times `scale`, to the
    panel's unit) are the thresholds, drawn as dashed lines."""
    legend = (
        common_builder.VizLegendOptions()
        .display_mode(common.LegendDisplayMode("table"))
        .placement(common.LegendPlacement("right"))
        .show_legend(True)
        .calcs(["lastNotNull"])
    )
    panel: timeseries.Panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .height(8)
        .span(width)
        .unit(unit)
        .line_interpolation(common.LineInterpolation("stepAfter"))
        .legend(legend)
        .with_target(target)
    )
    if slo is not None:
        dashed = common.GraphThresholdsStyleMode("dashed")
        panel = panel.thresholds(_steps(slo, scale)).thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(dashed)
        )
    return panel


def _steps(slo: Slo, scale: float) -> builder.ThresholdsConfig:
    """The SLO's levels as threshold steps: green where it holds, orange from the warn
    level, red from the fail level; for a score (lower is worse) the colours run red
    below."""
    if slo_defaults.lower_is_worse(slo):
        # A step colours from its value up: the worst colour lies below the lowest level.
        levels = [(v, c) for v, c in ((slo.fail, "red"), (slo.warn, "orange")) if v is not None]
        above = [c for _, c in levels[1:]] + ["green"]
        base = levels[0][1] if levels else "green"
        marks = [(v, c) for (v, _), c in zip(levels, above, strict=True)]
    else:
        base = "green"
        marks = [(v, c) for v, c in ((slo.warn, "orange"), (slo.fail, "red")) if v is not None]
    steps = [model.Threshold(None, base), *(model.Threshold(v * scale, c) for v, c in marks)]
    config: builder.ThresholdsConfig = (
        builder.ThresholdsConfig().mode(model.ThresholdsMode("absolute")).steps(steps)
    )
    return config


def _query(expr: str, legend: str) -> prometheus.Dataquery:
    query: prometheus.Dataquery = (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .datasource(DATASOURCE)
        .ref_id("A")
        .range()
    )
    return query


def _select(metric: str, fixed: Mapping[str, str] | None = None, series: bool = True) -> str:
    """A selector of a metric, kept to the chosen variables (`series` where the metric
    has one) and to the fixed label values given."""
    matchers = [f"{label}={_string(value)}" for label, value in (fixed or {}).items()]
    chosen = VARIABLES if series else tuple(v for v in VARIABLES if v != "series")
    matchers += [f'{name}=~"${name}"' for name in chosen]
    return f"{metric}{{{', '.join(matchers)}}}"


def _legend(cohorts: Sequence[str]) -> str:
    return " ".join(("{{series}}", *(f"{{{{{c}}}}}" for c in cohorts)))


def _string(text: str) -> str:
    """A PromQL string literal (JSON's escapes are a subset of PromQL's, unicode kept)."""
    return json.dumps(text, ensure_ascii=False)
