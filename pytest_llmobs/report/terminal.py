"""The terminal summary: one row per (series, metric), regressions first, within 100 columns."""

from __future__ import annotations

from pytest_llmobs.compare import Check
from pytest_llmobs.gate import RunResult
from pytest_llmobs.report import text
from pytest_llmobs.report.text import change, detail, p_text, value

WIDTH = 100
LEGEND = (
    "regression: significantly beyond its tolerance; inconclusive: a harmful change beyond it",
    "cannot be ruled out (why: the line under it); pass: the rest",
)
_COLUMNS = ("series", "metric", "baseline", "current", "change", "p", "verdict")
_FIXED = (22, 10, 10, 9, 8, 12)  # metric .. verdict; the series column takes the rest


def summary_lines(result: RunResult) -> list[str]:
    """The table (when there was a comparison), then the baseline's state and warnings."""
    lines: list[str] = []
    if result.comparison is not None and result.comparison.checks:
        lines.append(_row(_COLUMNS))
        for check in result.comparison.checks:
            lines.append(_row(_cells(check)))
            if check.verdict != "pass":  # every other verdict says why
                lines.append(fit("    " + detail(check), LONG))
        if any(c.verdict in ("regression", "inconclusive") for c in result.comparison.checks):
            lines.extend(LEGEND)
    elif result.series:
        spans = sum(s.count for s in result.series)
        lines.append(f"captured {spans} spans in {len(result.series)} series")
    else:
        lines.append("no spans were captured")
    # cut at the end: a middle cut would join two test ids into one
    lines.extend(fit(line, LONG, tail=True) for line in text.coverage(result))
    lines.extend(_why_lines(result))
    lines.extend(_slo_lines(result))
    capture = result.capture
    if capture is not None and capture.sample_rate < 1:
        lines.append(
            f"detail kept for {capture.traces_with_detail} of {capture.traces} traces"
            f" (sample rate {capture.sample_rate:g}, plus errors and outliers)"
        )
    lines.append(result.baseline.message)
    lines.extend(f"error: {e}" for e in result.errors)
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines


def _why_lines(result: RunResult) -> list[str]:
    """Alerts, where each latency regression's time went, and the requests behind them."""
    found = result.findings
    lines = [fit(f"alert {text.alert(a)}", LONG) for a in found.alerts]
    lines += [fit(f"why: {text.attribution(a)}", LONG) for a in found.attributions]
    notable = text.notable_requests(result)
    shown: dict[tuple[str, str | None], int] = {}
    for request in notable:
        group = (request.series.label, request.metric)
        shown[group] = shown.get(group, 0) + 1
        if shown[group] > REQUESTS_SHOWN:
            continue
        kind = "slowest" if request.metric is None else "lowest"
        lines.append(fit(f"  {kind} {request.series.label}: {text.request(request)}", LONG))
    return lines


def _row(cells: tuple[str, ...]) -> str:
    series_width = WIDTH - sum(_FIXED) - len(_FIXED)
    widths = (series_width, *_FIXED)
    parts = [fit(cell, width) for cell, width in zip(cells, widths, strict=False)]
    return " ".join(p.ljust(w) for p, w in zip(parts, widths, strict=False)).rstrip()


LONG = 400  # characters of an explanation line; span names are cut past it
REQUESTS_SHOWN = 3  # per series and metric; the run report lists every one


def fit(text: str, width: int, tail: bool = False) -> str:
    # Span names are app data: keep control characters (escapes, newlines) off the terminal.
    text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) <= width:
        return text
    keep = width - 1
    if tail:
        return text[:keep] + "…"
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def _cells(check: Check) -> tuple[str, ...]:
    return (
        check.series.label,
        check.metric,
        value(check.metric, check.baseline),
        value(check.metric, check.current),
        change(check),
        p_text(check.p_value),
        check.verdict.upper() if check.verdict == "regression" else check.verdict,
    )


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
        lines.append(fit(f"  {slo.status.upper()}: {label} ({levels})", WIDTH))
    return lines
