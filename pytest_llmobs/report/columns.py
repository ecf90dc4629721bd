"""The terminal's table of checks laid out for a width: every column as wide as its
widest cell; a series key that does not fit on its row gets a line of its own, whole."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_llmobs.gate.compare import Check
from pytest_llmobs.gate.units import change, value
from pytest_llmobs.report.text import detail, p_text

HEADER = ("series", "metric", "baseline", "current", "change", "p", "verdict")
GAP = "  "  # between columns
INDENT = "  "  # a row under its series' own line
DETAIL = "    "  # a line that says why, under its row
LONG = 400  # characters of an explanation line; span names are cut past it


@dataclass(frozen=True)
class Layout:
    """Widths of the metric to verdict columns, and of the series column: 0 when each
    series key has a line of its own above its rows (they do not all fit beside them)."""

    columns: tuple[int, ...]
    series: int
    gap: str = GAP

    def row(self, cells: Sequence[str]) -> str:
        """One row, its series cell first unless each series has a line of its own."""
        if self.series:
            return _joined(cells, (self.series, *self.columns), self.gap)
        return INDENT + _joined(cells[1:], self.columns, self.gap)


def layout(checks: Sequence[Check], width: int) -> Layout:
    """Columns as wide as their widest cell (the header's included); the series column
    beside them when every key fits in what the others leave of the width, if need be
    with a single space between columns."""
    cells = [HEADER, *(cells_of(c) for c in checks)]
    columns = tuple(max(len(row[i]) for row in cells) for i in range(1, len(HEADER)))
    series = max(len(row[0]) for row in cells)
    for gap in (GAP, " "):
        if series + sum(columns) + len(gap) * len(columns) <= width:
            return Layout(columns, series, gap)

    # the metric column takes what the others leave beside the indent (with a single
    # space between columns if need be); a longer metric gets a line of its own too
    def room(gap: str) -> int:
        return width - len(INDENT) - sum(columns[1:]) - len(gap) * (len(columns) - 1)

    gap = GAP if room(GAP) >= columns[0] else " "
    return Layout((max(min(columns[0], room(gap)), 0), *columns[1:]), 0, gap)


def table(checks: Sequence[Check], width: int) -> list[str]:
    """The header and a row for each check, with the line that says why under each that
    did not pass; every line within the width."""
    shape = layout(checks, width)
    lines = [fit(shape.row(HEADER), width, tail=True)]
    previous: str | None = None
    for check in checks:
        cells = cells_of(check)
        if not shape.series and cells[0] != previous:
            lines.extend(chunks(cells[0], width))  # the whole key, cut only where it wraps
        previous = cells[0]
        if not shape.series and len(cells[1]) > shape.columns[0]:
            lines.extend(INDENT + c for c in chunks(cells[1], width - len(INDENT)))
            cells = (cells[0], "", *cells[2:])
        lines.append(fit(shape.row(cells), width, tail=True))
        if check.verdict != "pass":  # every other verdict says why
            lines.extend(wrapped(DETAIL + fit(detail(check), LONG), width))
    return lines


def cells_of(check: Check) -> tuple[str, ...]:
    """A check's cells, printable."""
    cells = (
        check.series.label,
        check.metric,
        value(check.metric, check.baseline),
        value(check.metric, check.current),
        change(check),
        p_text(check.p_value),
        check.verdict.upper() if check.verdict == "regression" else check.verdict,
    )
    return tuple(printable(c) for c in cells)


def wrapped(line: str, width: int) -> list[str]:
    """A line of explanation, printable, wrapped at the width; each further line indented
    two more than the first."""
    line = printable(line)
    if len(line) <= width:
        return [line]
    indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
    return textwrap.wrap(
        line, width, subsequent_indent=indent, break_long_words=True, break_on_hyphens=False
    )


def chunks(text: str, width: int) -> list[str]:
    """Text in lines of the width, no character dropped: a series key stays whole, cut
    after a comma between its values where one is near enough the end of a line."""
    lines = []
    while len(text) > width > 1:
        cut = text.rfind(",", 0, width) + 1
        cut = cut if cut > width // 2 else width
        lines.append(text[:cut])
        text = text[cut:]
    return [*lines, text]


def printable(text: str) -> str:
    # Span names are app data: keep control characters (escapes, newlines) off the terminal.
    return "".join(c if c.isprintable() else "?" for c in text)


def fit(text: str, width: int, tail: bool = False) -> str:
    """Text, printable, within the width: cut in the middle (at the end with `tail`)."""
    text = printable(text)
    if len(text) <= width:
        return text
    keep = width - 1
    if tail:
        return text[:keep] + "…"
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def _joined(cells: Sequence[str], widths: Sequence[int], gap: str) -> str:
    return gap.join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()
