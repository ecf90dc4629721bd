"""The dashboard: one self-contained HTML file, Chart.js and the data inlined.

Nothing is fetched when the file is opened: the charting library (Chart.js, MIT,
vendored in assets/) and the panels' data are in the page. Every text from spans is
set with textContent or drawn by Chart.js on a canvas, never parsed as HTML; the
data's JSON is escaped so that no `</script>` inside it can end its element.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.report import text
from pytest_llmobs.report.dashboard import panels
from pytest_llmobs.report.history import Run
from pytest_llmobs.report.result import RunResult

PANELS = (
    "health", "alerts", "comparison", "latency_histograms", "quality_histograms",
    "output_histograms", "cohorts", "latency_by_series", "waterfalls", "trends",
)  # fmt: skip


def html(result: RunResult, history: Sequence[Run] = ()) -> str:
    """The dashboard page."""
    values = {
        "title": _text(text.title(result)),
        "css": _asset("dashboard.css"),
        "chartjs": _chartjs(),
        "data": _script_json(panels(result, history)),
        "dashboard": _asset("dashboard.js"),
    }
    # one pass: what is put in is never searched for placeholders again
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], _asset("dashboard.html"))


def write_html(path: Path, result: RunResult, history: Sequence[Run] = ()) -> None:
    """Write the dashboard atomically."""
    write_atomic(path, html(result, history))


def _text(value: str) -> str:
    """Text for an HTML element's content."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _script_json(value: Any) -> str:
    """JSON that cannot end or comment out the script element it sits in."""
    found = json.dumps(_finite(value), allow_nan=False, separators=(",", ":"))
    return found.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    """The value with NaN and infinities as null, which JSON.parse reads."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@cache
def _asset(name: str) -> str:
    return (
        resources.files("pytest_llmobs.report").joinpath("assets").joinpath(name).read_text("utf-8")
    )


def _chartjs() -> str:
    lines = _asset("chart.umd.min.js").splitlines()
    # its source map is not shipped: a browser would look for it next to the page
    return "\n".join(line for line in lines if not line.startswith("//# sourceMappingURL"))
