"""The terminal summary: one row per (series, metric), regressions first, within 100 columns."""

from __future__ import annotations

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
        lines.extend(_row(_cells(c)) for c in result.comparison.checks)
    elif result.series:
        spans = sum(s.count for s in result.series)
        lines.append(f"captured {spans} spans in {len(result.series)} series")
    else:
        lines.append("no spans were captured")
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
