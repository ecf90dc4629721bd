"""Prometheus alerting rules from the gate's SLOs, over the metrics each CI run pushes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_llmobs.export import slo_defaults
from pytest_llmobs.export.slo_defaults import promql_string
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
    quality where none is configured. Every rule that compares with a level says where
    the level comes from: its `threshold` label is `slo` or `default`, its description
    starts with "SLO from [tool.llmobs.slo]" or "default threshold (no SLO configured)".
    The patterns join a run's samples on the series, its cohort and the marked test's
    `test` label, so two tests' series of one span name never answer for each other.

    Args:
        slos: the configured SLOs by metric (`Rules.slos`).
        group_by: the attributes that split a series (their labels name a cohort).

    Returns:
        The file's text, with one group, `llmobs`.
    """
    where = _Where(slo_defaults.series_labels(group_by), slo_defaults.cohort_labels(group_by))
    chosen = slo_defaults.effective(slos)
    rules = [
        rule for metric, slo in chosen.items() for rule in _slo_rules(metric, slo, slos, where)
    ]
    rules += _contextual(chosen, slos, where)
    rules.append(_run_failed())
    return _render(rules)


@dataclass(frozen=True)
class _Where:
    """The labels of one series of a run: `series` and `test`, and its cohort's."""

    series: tuple[str, str]
    cohorts: tuple[str, ...]

    def join(self) -> str:
        """The labels that match one series' samples of two metrics."""
        return ", ".join((*slo_defaults.RUN_LABELS, *self.series, *self.cohorts))

    def same_series(self) -> str:
        """The labels of a series' samples whatever their cohort, and their attribute."""
        return ", ".join((*slo_defaults.RUN_LABELS, *self.series, "attribute"))

    def shown(self) -> str:
        """The series, test and cohort of an alert, as a template of its labels."""
        name, test = self.series
        tested = f'{{{{ with index $labels "{test}" }}}}[{test}={{{{ . }}}}]{{{{ end }}}}'
        cohort = " ".join(f'{c}={{{{ index $labels "{c}" }}}}' for c in self.cohorts)
        return f"{{{{ $labels.{name} }}}}{tested}" + (f" ({cohort})" if cohort else "")


def _slo_rules(metric: str, slo: Slo, slos: Mapping[str, Slo], where: _Where) -> list[_Rule]:
    """A rule for each level the SLO sets: warning at warn, critical at fail."""
    labels = (
        ("slo", _literal(metric)),
        ("threshold", slo_defaults.threshold_kind(metric, slos)),
    )
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
                summary=f"{where.shown()}: {summary}",
                description=_literal(slo_defaults.described(metric, slo, slos)),
                labels=labels,
            )
        )
    return rules


def _breach(metric: str, slo: Slo, level: str) -> tuple[str, str]:
    """The PromQL of a level's breach, and the summary of its alert (a Go template)."""
    threshold: float = getattr(slo, level)
    limit = _literal(slo_defaults.shown(metric, threshold))
    family, _, rest = metric.partition(".")
    if family in ("tokens", "cost"):
        # The SLO is of the mean per span that reports usage; the run pushes totals and
        # every span's count, so only the gate's own verdict on it is exact.
        what = f"{rest} tokens per span" if family == "tokens" else "cost per span"
        matchers = f"metric={promql_string(metric)}, level={promql_string(level)}"
        breach = f"llmobs_slo_breach{{{matchers}}} == 1"
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
        query = f"llmobs_span_latency_seconds{{quantile={promql_string(quantile)}}}"
        return query, f"{rest} latency", "{{ $value | humanizeDuration }}"
    if family == "error_rate":
        return "llmobs_span_error_ratio", "error rate", "{{ $value | humanizePercentage }}"
    name = slo_defaults.attribute(metric)
    query = "llmobs_quality_score" + (
        "" if name is None else f"{{attribute={promql_string(name)}}}"
    )
    return query, "quality {{ $labels.attribute }}", '{{ $value | printf "%.3f" }}'


def _contextual(chosen: Mapping[str, Slo], slos: Mapping[str, Slo], where: _Where) -> list[_Rule]:
    """The article's patterns: a latency spike with a quality drop, an error spike without
    a latency change, one cohort's quality dropping while the others hold."""
    average = f"avg_over_time({P95}[{WINDOW}])"
    error = _level(chosen["error_rate"])
    source = slo_defaults.described("error_rate", chosen["error_rate"], slos)
    rules = [
        _Rule(
            "LlmobsErrorSpikeWithoutLatencyChange",
            f"(llmobs_span_error_ratio > {_number(error)}) and (llmobs_span_error_ratio > "
            f"{SPIKE:g} * avg_over_time(llmobs_span_error_ratio[{WINDOW}])) and on("
            f"{where.join()}) (abs({P95} / {average} - 1) < {STEADY:g})",
            "warning",
            f"{where.shown()}: error rate {{{{ $value | humanizePercentage }}}} spiked "
            "while p95 latency held: failing fast, not timing out",
            f"error rate above {slo_defaults.shown('error_rate', error)} and {SPIKE:g}x its "
            f"{WINDOW} average, p95 latency within {STEADY:.0%} of its {WINDOW} average; "
            f"{source}",
            (
                ("pattern", "error_spike_without_latency_change"),
                ("threshold", slo_defaults.threshold_kind("error_rate", slos)),
            ),
        )
    ]
    for metric, slo in chosen.items():
        if metric.startswith("quality."):
            rules += _quality_patterns(metric, slo, slos, where)
    return rules


def _quality_patterns(metric: str, slo: Slo, slos: Mapping[str, Slo], where: _Where) -> list[_Rule]:
    """The patterns of one quality SLO: with a latency spike, and by cohort (when a
    `group_by` makes cohorts; without one there are no others to hold)."""
    query, _, shown = _measured(metric)
    level, source = _number(_level(slo)), _literal(slo_defaults.described(metric, slo, slos))
    labels = (("slo", _literal(metric)), ("threshold", slo_defaults.threshold_kind(metric, slos)))
    below = f"({query} < {level})"
    rules = [
        _Rule(
            "LlmobsLatencySpikeWithQualityDrop",
            f"({P95} > {SPIKE:g} * avg_over_time({P95}[{WINDOW}])) and on({where.join()}) {below}",
            "critical",
            f"{where.shown()}: p95 latency {{{{ $value | humanizeDuration }}}} is above "
            f"{SPIKE:g}x its {WINDOW} average while quality is below {level}",
            f"p95 latency spike with {_literal(metric)} below {level}; {source}",
            (("pattern", "latency_spike_quality_drop"), *labels),
        )
    ]
    if where.cohorts:
        same = where.same_series()
        rules.append(
            _Rule(
                "LlmobsCohortQualityDrop",
                f"{below} and on({same}) (count by ({same}) {below} == 1) "
                f"and on({same}) ({query} >= {level})",
                "warning",
                f"{where.shown()}: quality {{{{ $labels.attribute }}}} {shown} dropped below "
                f"{level} in this cohort alone; the others of the series hold",
                f"{_literal(metric)} below {level} in one cohort of the series; {source}",
                (("pattern", "cohort_quality_drop"), *labels),
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


def _level(slo: Slo) -> float:
    """Where a pattern counts the metric as breached: its warn level, else its fail level
    (the configuration sets at least one)."""
    level = slo.warn if slo.warn is not None else slo.fail
    if level is None:
        raise ValueError("an SLO without a warn or fail level")
    return level


def _alert_name(metric: str) -> str:
    """`quality.overall_score` -> `LlmobsQualityOverallScore`: a name of ASCII letters and
    digits, as Prometheus wants it."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in metric).split()
    return "Llmobs" + "".join(w[:1].upper() + w[1:] for w in words)


def _literal(text: str) -> str:
    """Text shown as is by a Go template: its `{{` written as a string the template prints."""
    return text.replace("{{", '{{ "{{" }}')


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
