"""Prometheus alerting rules from the gate's SLOs, over the metrics each CI run pushes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_llmobs.export import slo_defaults
from pytest_llmobs.gate.rules import Slo

GROUP = "llmobs"
# The contextual patterns: a spike is above this many times the average of the window; a
# latency is unchanged within this fraction of its average.
SPIKE = 1.5
STEADY = 0.2
WINDOW = "7d"
P95 = 'llmobs_span_latency_seconds{quantile="0.95"}'
_LEVELS = (("warn", "warning"), ("fail", "critical"))


@dataclass(frozen=True)
class _Rule:
    """One alerting rule; its labels and annotations are Go templates, as Prometheus
    expands them."""

    alert: str
    expr: str
    severity: str
    summary: str
    description: str
    labels: tuple[tuple[str, str], ...] = ()


def rules_yaml(slos: Mapping[str, Slo], group_by: Sequence[str] = ()) -> str:
    """A Prometheus rules file (YAML) alerting on the SLOs and the article's patterns.

    Every sample of the pushed gauges is one CI run, so each rule fires at once (`for:
    0m`). Each SLO gets a `warning` rule at its warn level and a `critical` one at its
    fail level; the article's defaults stand in for the error rate, p95 latency and
    quality where none is configured.

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).
        group_by: the attributes that split a series (their labels name a cohort).

    Returns:
        The file's text, with one group, `llmobs`.
    """
    cohorts = slo_defaults.cohort_labels(group_by)
    chosen = slo_defaults.effective(slos)
    rules = [
        rule
        for metric, slo in chosen.items()
        for rule in _slo_rules(metric, slo, metric in slos, cohorts)
    ]
    rules += _contextual(chosen, cohorts)
    rules.append(_run_failed())
    return _render(rules)


def _slo_rules(metric: str, slo: Slo, configured: bool, cohorts: Sequence[str]) -> list[_Rule]:
    """A rule for each level the SLO sets: warning at warn, critical at fail."""
    levels = ", ".join(f"{n} {_shown(metric, v)}" for n, v in _levels(slo))
    source = "configured in [tool.llmobs.slo]" if configured else "the default, none configured"
    rules = []
    for level, severity in _LEVELS:
        if getattr(slo, level) is None:
            continue
        expr, summary = _breach(metric, slo, level)
        rules.append(
            _Rule(
                alert=_alert_name(metric),
                expr=expr,
                severity=severity,
                summary=f"{_where(cohorts)}: {summary}",
                description=_literal(f"SLO {metric}: {levels} ({source})"),
                labels=(("slo", _literal(metric)),),
            )
        )
    return rules


def _breach(metric: str, slo: Slo, level: str) -> tuple[str, str]:
    """The PromQL of a level's breach, and the summary of its alert (a Go template)."""
    threshold: float = getattr(slo, level)
    limit = _literal(_shown(metric, threshold))
    family, _, rest = metric.partition(".")
    if family in ("tokens", "cost"):
        # The SLO is of the mean per span that reports usage; the run pushes totals and
        # every span's count, so only the gate's own verdict on it is exact.
        what = f"{rest} tokens per span" if family == "tokens" else "cost per span"
        breach = f"llmobs_slo_breach{{metric={_string(metric)}, level={_string(level)}}} == 1"
        return breach, f"{what} is beyond the SLO's {level} level {limit}, as the gate measured"
    query, what, shown = _measured(metric)
    lower = slo_defaults.lower_is_worse(slo)
    scale = 1 / 1000 if family == "latency" else 1.0  # the SLO is in ms
    expr = f"{query} {'<' if lower else '>'} {_number(threshold * scale)}"
    side = "below" if lower else "above"
    return expr, f"{what} {shown} is {side} the SLO's {level} level {limit}"


def _measured(metric: str) -> tuple[str, str, str]:
    """The PromQL of a metric's run values in the SLO's unit, what it is, and how its
    value reads (a Go template)."""
    family, _, rest = metric.partition(".")
    if family == "latency":
        quantile = slo_defaults.quantile(metric)
        query = f"llmobs_span_latency_seconds{{quantile={_string(quantile)}}}"
        return query, f"{rest} latency", "{{ $value | humanizeDuration }}"
    if family == "error_rate":
        return "llmobs_span_error_ratio", "error rate", "{{ $value | humanizePercentage }}"
    name = slo_defaults.attribute(metric)
    query = "llmobs_quality_score" + ("" if name is None else f"{{attribute={_string(name)}}}")
    return query, "quality {{ $labels.attribute }}", '{{ $value | printf "%.3f" }}'


def _contextual(chosen: Mapping[str, Slo], cohorts: Sequence[str]) -> list[_Rule]:
    """The article's patterns: a latency spike with a quality drop, an error spike without
    a latency change, one cohort's quality dropping while the others hold."""
    run = ", ".join((*slo_defaults.RUN_LABELS, "series", *cohorts))
    average = f"avg_over_time({P95}[{WINDOW}])"
    error = _level(chosen["error_rate"])
    rules = [
        _Rule(
            "LlmobsErrorSpikeWithoutLatencyChange",
            f"(llmobs_span_error_ratio > {_number(error)}) and (llmobs_span_error_ratio > "
            f"{SPIKE:g} * avg_over_time(llmobs_span_error_ratio[{WINDOW}])) and on({run}) "
            f"(abs({P95} / {average} - 1) < {STEADY:g})",
            "warning",
            f"{_where(cohorts)}: error rate {{{{ $value | humanizePercentage }}}} spiked "
            "while p95 latency held: failing fast, not timing out",
            f"error rate above {_shown('error_rate', error)} and {SPIKE:g}x its "
            f"{WINDOW} average; p95 latency within {STEADY:.0%} of its {WINDOW} average",
            (("pattern", "error_spike_without_latency_change"),),
        )
    ]
    for metric, slo in chosen.items():
        if metric.startswith("quality."):
            rules += _quality_patterns(metric, slo, run, cohorts)
    return rules


def _quality_patterns(metric: str, slo: Slo, run: str, cohorts: Sequence[str]) -> list[_Rule]:
    """The patterns of one quality SLO: with a latency spike, and by cohort (when a
    `group_by` makes cohorts; without one there are no others to hold)."""
    query, _, shown = _measured(metric)
    level, where, slo_label = _level(slo), _where(cohorts), ("slo", _literal(metric))
    below = f"({query} < {_number(level)})"
    rules = [
        _Rule(
            "LlmobsLatencySpikeWithQualityDrop",
            f"({P95} > {SPIKE:g} * avg_over_time({P95}[{WINDOW}])) and on({run}) {below}",
            "critical",
            f"{where}: p95 latency {{{{ $value | humanizeDuration }}}} is above {SPIKE:g}x "
            f"its {WINDOW} average while quality is below {_number(level)}",
            _literal(f"p95 latency spike with {metric} below {_number(level)}"),
            (("pattern", "latency_spike_quality_drop"), slo_label),
        )
    ]
    if cohorts:
        same = ", ".join((*slo_defaults.RUN_LABELS, "series", "attribute"))
        rules.append(
            _Rule(
                "LlmobsCohortQualityDrop",
                f"{below} and on({same}) (count by ({same}) {below} == 1) "
                f"and on({same}) ({query} >= {_number(level)})",
                "warning",
                f"{where}: quality {{{{ $labels.attribute }}}} {shown} dropped below "
                f"{_number(level)} in this cohort alone; the others of the series hold",
                _literal(f"{metric} below {_number(level)} in one cohort of the series"),
                (("pattern", "cohort_quality_drop"), slo_label),
            )
        )
    return rules


def _run_failed() -> _Rule:
    """The gate's own verdict: a run that did not pass, until a later one does."""
    return _Rule(
        "LlmobsRunFailed",
        'llmobs_run_info{verdict!="pass"}',
        "critical",
        "pytest-llmobs gate: {{ $labels.verdict }} on branch {{ $labels.branch }} "
        "(commit {{ $labels.commit }})",
        "the last run the Pushgateway holds for this suite and branch did not pass",
    )


def _render(rules: Sequence[_Rule]) -> str:
    lines = [
        "# Prometheus alerting rules from pytest-llmobs's SLOs (llmobs prometheus-rules).",
        "# Each sample of these gauges is one CI run: the rules fire at once, and hold",
        "# until a later run of the suite and branch replaces it.",
        "groups:",
        f"  - name: {_yaml(GROUP)}",
        "    rules:",
    ]
    for rule in rules:
        lines += [
            f"      - alert: {_yaml(rule.alert)}",
            f"        expr: {_yaml(rule.expr)}",
            "        for: 0m",
            "        labels:",
            f"          severity: {_yaml(rule.severity)}",
            *(f"          {name}: {_yaml(value)}" for name, value in rule.labels),
            "        annotations:",
            f"          summary: {_yaml(rule.summary)}",
            f"          description: {_yaml(rule.description)}",
        ]
    return "\n".join(lines) + "\n"


def _levels(slo: Slo) -> list[tuple[str, float]]:
    return [(name, v) for name in ("warn", "fail") if (v := getattr(slo, name)) is not None]


def _level(slo: Slo) -> float:
    """Where a pattern counts the metric as breached: its warn level, else its fail level
    (the configuration sets at least one)."""
    level = slo.warn if slo.warn is not None else slo.fail
    if level is None:
        raise ValueError("an SLO without a warn or fail level")
    return level


def _shown(metric: str, level: float) -> str:
    """A level as the configuration writes it: 5%, 500 ms, 0.7."""
    if metric == "error_rate":
        return f"{level * 100:g}%"
    if metric.startswith("latency"):
        return f"{level:g} ms"
    return f"${level:g}" if metric == "cost" else f"{level:g}"


def _alert_name(metric: str) -> str:
    """`quality.overall_score` -> `LlmobsQualityOverallScore`: a name of ASCII letters and
    digits, as Prometheus wants it."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in metric).split()
    return "Llmobs" + "".join(w[:1].upper() + w[1:] for w in words)


def _where(cohorts: Sequence[str]) -> str:
    """The series and cohort of an alert, as a template of its labels."""
    shown = " ".join(f'{c}={{{{ index $labels "{c}" }}}}' for c in cohorts)
    return "{{ $labels.series }}" + (f" ({shown})" if shown else "")


def _literal(text: str) -> str:
    """Text shown as is by a Go template: its `{{` written as a string the template prints."""
    return text.replace("{{", '{{ "{{" }}')


def _string(text: str) -> str:
    """A PromQL string literal (JSON's escapes are a subset of PromQL's, unicode kept)."""
    return json.dumps(text, ensure_ascii=False)


def _number(value: float) -> str:
    """A threshold as PromQL reads it back exactly."""
    return repr(float(value))


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar: JSON's escapes, anything YAML would not print escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable() and c != "\ufeff":
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'
