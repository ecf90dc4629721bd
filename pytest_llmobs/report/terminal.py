"""The terminal summary: the checks that need attention within the terminal's width, one
line for the rest (every check with verbose), then coverage, alerts, SLOs, the baseline."""

from __future__ import annotations

from pytest_llmobs.gate.units import value
from pytest_llmobs.report import attention, columns, text
from pytest_llmobs.report.columns import LONG, fit
from pytest_llmobs.report.result import RunResult

__all__ = ["LONG", "WIDTH", "fit", "summary_lines"]

WIDTH = 100  # when the caller knows no terminal's
MIN_WIDTH = 60  # narrower terminals get lines of this width
LEGEND = (
    "regression: significantly beyond its tolerance; inconclusive: a harmful change beyond it"
    " cannot be ruled out (why: the line under it); pass: the rest"
)
HINT = "-v lists every check"
REQUESTS_SHOWN = 3  # per series and metric; the run report lists every one


def summary_lines(result: RunResult, width: int = WIDTH, verbose: bool = False) -> list[str]:
    """The summary's lines: the checks within the width, then one line for each message.

    Args:
        result: the run, judged.
        width: the terminal's width in characters (at least MIN_WIDTH is used).
        verbose: a row for every check; by default only for those that need attention
            (regressions first), and one line for the rest.

    Returns:
        The lines, without the headline (text.title). The table and what it says of the
        checks wrap within the width; a message (the baseline's state, an error, a
        warning, an alert, ...) stays one line, whole up to LONG characters, to be found
        and copied as it is.
    """
    lines = _checks(result, max(width, MIN_WIDTH), verbose)
    # cut at the end: a middle cut would join two test ids into one
    lines += [fit(line, LONG, tail=True) for line in text.coverage(result)]
    lines += _why_lines(result)
    lines += _slo_lines(result)
    capture = result.capture
    if capture is not None and capture.sample_rate < 1:
        lines.append(
            f"detail kept for {capture.traces_with_detail} of {capture.traces} traces"
            f" (sample rate {capture.sample_rate:g}, plus errors and outliers)"
        )
    if capture is not None and capture.received.spans:
        lines.append(text.received(capture.received))
    lines.append(result.baseline.message)
    lines += [f"error: {e}" for e in result.errors]
    lines += [f"warning: {w}" for w in result.warnings]
    return lines


def _checks(result: RunResult, width: int, verbose: bool) -> list[str]:
    """The table of checks (all, or those that need attention) and one line for the rest,
    within the width."""
    checks = result.comparison.checks if result.comparison is not None else ()
    if not checks:
        if result.series:
            spans = sum(s.count for s in result.series)
            return [f"captured {spans} spans in {len(result.series)} series"]
        return ["no spans were captured"]
    shown = attention.ordered(checks) if verbose else attention.notable(result)
    lines = columns.table(shown, width) if shown else []
    if verbose and any(c.verdict in ("regression", "inconclusive") for c in checks):
        lines += columns.wrapped(LEGEND, width)
    rest = attention.rest(result, shown, HINT)
    return lines + (columns.wrapped(rest, width) if rest else [])


def _why_lines(result: RunResult) -> list[str]:
    """Alerts, where each latency regression's time went, and the requests behind them."""
    found = result.findings
    lines = [fit(f"alert {text.alert(a)}", LONG) for a in found.alerts]
    lines += [fit(f"why: {text.attribution(a)}", LONG) for a in found.attributions]
    shown: dict[tuple[str, str | None], int] = {}
    for request in text.notable_requests(result):
        group = (request.series.label, request.metric)
        shown[group] = shown.get(group, 0) + 1
        if shown[group] > REQUESTS_SHOWN:
            continue
        kind = "slowest" if request.metric is None else "lowest"
        lines.append(fit(f"  {kind} {request.series.label}: {text.request(request)}", LONG))
    return lines


def _slo_lines(result: RunResult) -> list[str]:
    if not result.slos:
        return []
    breached = [s for s in result.slos if s.status != "ok"]
    lines = [f"SLOs: {len(result.slos) - len(breached)} of {len(result.slos)} met"]
    for slo in breached:
        levels = ", ".join(
            f"{name} {value(slo.metric, level)}"
            for name, level in (("warn", slo.warn), ("fail", slo.fail))
            if level is not None
        )
        label = f"{slo.series.label} {slo.metric} = {value(slo.metric, slo.value)}"
        lines.append(fit(f"  {slo.status.upper()}: {label} ({levels})", LONG))
    return lines
