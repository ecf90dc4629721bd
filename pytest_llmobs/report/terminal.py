"""The terminal summary: one row per (series, metric), regressions first, within 100 columns."""

from __future__ import annotations

from collections.abc import Callable

from pytest_llmobs.compare import Check
from pytest_llmobs.gate import RunResult

WIDTH = 100
_COLUMNS = ("series", "metric", "baseline", "current", "change", "p", "verdict")
_FIXED = (22, 10, 10, 9, 8, 12)  # metric .. verdict; the series column takes the rest


def title(result: RunResult) -> str:
    """The summary's headline, verdict first."""
    if result.comparison is None:
        return f"llmobs: {result.verdict.upper()}"
    checks = result.comparison.checks
    bad = len(result.comparison.regressions)
    if bad:
        return f"llmobs: REGRESSION in {bad} of {len(checks)} checks"
    return f"llmobs: {result.verdict.upper()} ({len(checks)} checks)"


def summary_lines(result: RunResult) -> list[str]:
    """The table (when there was a comparison), then the baseline's state and warnings."""
    lines: list[str] = []
    if result.comparison is not None and result.comparison.checks:
        lines.append(_row(_COLUMNS))
        for check in result.comparison.checks:
            lines.append(_row(_cells(check)))
            if check.verdict in ("regression", "inconclusive", "improvement"):
                lines.append(_fit("    " + detail(check), WIDTH))
    elif result.series:
        spans = sum(s.count for s in result.series)
        lines.append(f"captured {spans} spans in {len(result.series)} series")
    else:
        lines.append("no spans were captured")
    lines.extend(_slo_lines(result))
    lines.append(result.baseline.message)
    lines.extend(f"error: {e}" for e in result.errors)
    lines.extend(f"warning: {w}" for w in result.warnings)
    return lines


def _row(cells: tuple[str, ...]) -> str:
    series_width = WIDTH - sum(_FIXED) - len(_FIXED)
    widths = (series_width, *_FIXED)
    parts = [_fit(cell, width) for cell, width in zip(cells, widths, strict=False)]
    return " ".join(p.ljust(w) for p, w in zip(parts, widths, strict=False)).rstrip()


def _fit(text: str, width: int) -> str:
    # Span names are app data: keep control characters (escapes, newlines) off the terminal.
    text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def _cells(check: Check) -> tuple[str, ...]:
    return (
        check.series.label,
        check.metric,
        _value(check.metric, check.baseline),
        _value(check.metric, check.current),
        _change(check),
        _p(check.p_value),
        check.verdict.upper() if check.verdict == "regression" else check.verdict,
    )


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric.startswith("latency"):
        if value < 1:
            return f"{value:.3f} ms"
        return f"{value:.1f} ms" if value < 10_000 else f"{value / 1000:.1f} s"
    if metric == "error_rate":
        return f"{value:.1%}"
    return f"{value:.3f}"


def _change(check: Check) -> str:
    if check.change is None:
        return "-"
    if check.metric.startswith("latency"):
        return f"{check.relative:+.1%}" if check.relative is not None else f"{check.change:+.1f}ms"
    if check.metric == "error_rate":
        return f"{check.change * 100:+.1f}pp"
    return f"{check.change:+.3f}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def detail(check: Check) -> str:
    """Why a check was judged so: interval, sizes, test, detectable effect, reason."""
    if check.p_value is None:
        return check.reason
    parts = []
    if check.ci_low is not None and check.ci_high is not None:
        fmt = _pct if check.metric.startswith("latency") else _signed(check.metric)
        parts.append(f"95% CI {fmt(check.ci_low)} .. {fmt(check.ci_high)}")
    parts.append(f"n {check.n_current} vs {check.n_baseline}")
    if check.test:
        parts.append(check.test + (" (paired by test case)" if check.paired else ""))
    if check.mde is not None:
        fmt = _pct if check.metric.startswith("latency") else _signed(check.metric)
        parts.append(f"detects {fmt(check.mde)}")
    parts.append(check.reason)
    return "; ".join(parts)


def _pct(value: float) -> str:
    return f"{value:+.1%}"


def _signed(metric: str) -> Callable[[float], str]:
    if metric == "error_rate":
        return lambda v: f"{v * 100:+.1f}pp"
    return lambda v: f"{v:+.3f}"


def _slo_lines(result: RunResult) -> list[str]:
    if not result.slos:
        return []
    breached = [s for s in result.slos if s.status != "ok"]
    lines = [f"SLOs: {len(result.slos) - len(breached)} of {len(result.slos)} met"]
    for slo in breached:
        levels = ", ".join(
            f"{name} {_value(slo.metric, level)}"
            for name, level in (("warn", slo.warn), ("fail", slo.fail))
            if level is not None
        )
        label = f"{slo.series.label} {slo.metric} = {_value(slo.metric, slo.value)}"
        lines.append(_fit(f"  {slo.status.upper()}: {label} ({levels})", WIDTH))
    return lines
