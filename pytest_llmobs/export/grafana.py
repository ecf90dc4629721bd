"""A Grafana dashboard of the metrics each CI run pushes, its thresholds the gate's SLOs."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmobs.export import slo_defaults
from pytest_llmobs.export.slo_defaults import judged, matcher, promql_string
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
# A panel's thresholds (None: it draws none) and its description.
Judged = tuple[Slo | None, str]
OTHERS: Judged = (None, slo_defaults.UNJUDGED_QUALITY)
TOTALS: Judged = (None, "Totals per run: a tokens SLO is of the mean per span, no threshold here")


def dashboard(
    slos: Mapping[str, Slo],
    group_by: Sequence[str] = (),
    title: str = "LLM pipeline (pytest-llmobs)",
) -> dict[str, Any]:
    """The dashboard's JSON model, its thresholds the SLOs the gate checks.

    Panels: the latest verdict, checks, SLO breaches, the error rate and a latency panel
    per percentile with an SLO (p95 always), quality by series (and cohort) for each
    attribute with an SLO and for the others, spans and tokens. A threshold panel's
    description says whether its levels are an SLO or the article's default. Queries read
    the `datasource` variable's data source and keep to the `suite`, `branch` and `series`
    chosen; legends name the series, its cohort and a marked test's `test` label.

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).
        group_by: the attributes that split a series (their labels name a cohort).
        title: the dashboard's title.

    Returns:
        The dashboard as Grafana imports it (`uid` "llmobs"), the same for the same input.
    """
    board = _board(title)
    for panel in _panels(slos, group_by):
        board = board.with_panel(panel)
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def _board(title: str) -> builder.Dashboard:
    """The dashboard without its panels: its uid, tags, time range and variables."""
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
    return board


def _panels(slos: Mapping[str, Slo], group_by: Sequence[str]) -> Panels:
    """Every panel, in the dashboard's order."""
    cohorts = slo_defaults.cohort_labels(group_by)
    name, test = slo_defaults.series_labels(group_by)
    labels = (name, *cohorts, test)
    return [_verdict(), *_checks(), *_errors_and_latency(slos, labels),
            *_quality(slos, cohorts, labels), *_volume(labels)]  # fmt: skip


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


def _errors_and_latency(slos: Mapping[str, Slo], labels: Sequence[str]) -> Panels:
    """The error rate by series, and a latency panel by series for each percentile with
    an SLO (p95 always, with its SLO or the default), as the gate judges them: each
    series and cohort on its own."""
    errors = _query(_select("llmobs_span_error_ratio"), _legend(labels))
    rate = judged("error_rate", slos)
    panels: Panels = [_graph("Error rate by series", errors, "percentunit", rate)]
    for metric in slo_defaults.effective(slos):
        if metric.startswith("latency."):
            quantile = matcher("quantile", slo_defaults.quantile(metric))
            target = _query(_select("llmobs_span_latency_seconds", quantile), _legend(labels))
            title = f"{metric.partition('.')[2]} latency by series"
            # the SLO is in ms, the panel in seconds
            panels.append(_graph(title, target, "s", judged(metric, slos), scale=1 / 1000))
    return panels


def _quality(slos: Mapping[str, Slo], cohorts: Sequence[str], labels: Sequence[str]) -> Panels:
    """Scores by series (and, with cohorts, their mean by cohort): a panel for each
    quality attribute with an SLO, at its levels, and a catch-all for the others.

    The catch-all (`attribute!~` those with panels) draws the default levels only when no
    quality attribute has an SLO: once one has, neither the gate nor the alert rules judge
    the others (a score may be one where lower is better), so a line would promise a check
    that does not exist.
    """
    named, several = slo_defaults.quality_attributes(slos), ("attribute",)
    each: list[tuple[str, tuple[str, ...], Judged, tuple[str, ...]]] = [
        (f"Quality: {n}", (matcher("attribute", n),), judged(f"quality.{n}", slos), ())
        for n in named
    ]
    if named:
        others = promql_string("|".join(slo_defaults.regex_literal(n) for n in named))
        each.append(("Quality: other attributes", (f"attribute!~{others}",), OTHERS, several))
    else:
        each.append(("Quality", (), judged(slo_defaults.ANY_QUALITY, slos), several))
    by = ", ".join((*slo_defaults.RUN_LABELS, *cohorts, "attribute"))
    panels: Panels = []
    for shown, matchers, levels, end in each:
        query = _select("llmobs_quality_score", *matchers)
        series = _query(query, _legend(labels, *end))
        panels.append(_graph(f"{shown} by series", series, "none", levels))
        if cohorts:
            mean = _query(f"avg by ({by}) ({query})", _legend((*cohorts, *end)))
            title = f"{shown} by cohort (mean of its series)"
            panels.append(_graph(title, mean, "none", levels))
    return panels


def _volume(labels: Sequence[str]) -> Panels:
    """Spans and tokens of each run, by series, without thresholds: a token (or cost)
    SLO is of the mean per span that reports usage, which no per-run total shows; the
    gate's verdict on it is in "Series breaching an SLO"."""
    spans = _graph("Spans per run", _query(_select("llmobs_spans"), _legend(labels)), "short")
    tokens = _query(_select("llmobs_span_tokens"), _legend(labels, "direction"))
    return [spans, _graph("Tokens per run", tokens, "short", TOTALS)]


def _checks() -> Panels:
    """The run's checks by verdict, and the series breaching an SLO by metric and level."""
    checks = _select("llmobs_checks", series=False)
    breaches = _select("llmobs_slo_breach")
    return [
        _graph("Checks by verdict", _query(f"sum by (verdict) ({checks})", "{{verdict}}"),
               "short", width=9),
        _graph("Series breaching an SLO",
               _query(f"sum by (metric, level) ({breaches})", "{{metric}} {{level}}"),
               "short", width=9),
    ]  # fmt: skip


def _verdict() -> stat.Panel:
    """The worst verdict of the latest run of each suite and branch, by name and colour."""
    each = " or ".join(
        f"{_select('llmobs_run_info', matcher('verdict', name), series=False)} * {code}"
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
    judged: Judged = (None, ""),
    scale: float = 1.0,
    width: int = 12,
) -> timeseries.Panel:
    """A time series panel over runs, described as `judged` says; with its SLO, the
    levels (times `scale`, to the panel's unit) are thresholds drawn as dashed lines."""
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
    slo, description = judged
    if description:
        panel = panel.description(description)
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


def _select(metric: str, *matchers: str, series: bool = True) -> str:
    """A selector of a metric with these matchers, kept to the chosen variables (`series`
    where the metric has one)."""
    chosen = VARIABLES if series else tuple(v for v in VARIABLES if v != "series")
    every = [*matchers, *(f'{name}=~"${name}"' for name in chosen)]
    return f"{metric}{{{', '.join(every)}}}"


def _legend(labels: Sequence[str], *more: str) -> str:
    """A legend naming the values of these labels, and of `more` before the last one (a
    series' `test`: empty for most series, last it leaves no gap)."""
    return " ".join(f"{{{{{label}}}}}" for label in (*labels[:-1], *more, *labels[-1:]))
