"""The JSON run report: the run's series, checks, baseline state and verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_llmobs.baseline import RUN_SCHEMA, SCHEMA_VERSION, dumps, series_to_json, write_atomic
from pytest_llmobs.compare import Check
from pytest_llmobs.gate import RunResult


def check_to_json(check: Check) -> dict[str, Any]:
    """One check as plain JSON types."""
    return {
        "series": check.series.label,
        "name": check.series.name,
        "group": dict(check.series.group),
        "metric": check.metric,
        "verdict": check.verdict,
        "baseline": check.baseline,
        "current": check.current,
        "change": check.change,
        "relative_change": check.relative,
        "p_value": check.p_value,
        "test": check.test,
        "n_baseline": check.n_baseline,
        "n_current": check.n_current,
        "reason": check.reason,
    }


def run_report(result: RunResult) -> dict[str, Any]:
    """The run report as plain JSON types (see README, "The run report")."""
    checks = result.comparison.checks if result.comparison is not None else ()
    return {
        "schema": RUN_SCHEMA,
        "version": SCHEMA_VERSION,
        "verdict": result.verdict,
        "metadata": dict(result.metadata),
        "baseline": {
            "path": str(result.baseline.path),
            "status": result.baseline.status,
            "message": result.baseline.message,
        },
        "series": [series_to_json(s) for s in result.series],
        "checks": [check_to_json(c) for c in checks],
        "warnings": list(result.warnings),
        "errors": list(result.errors),
    }


def write_run_report(path: Path, result: RunResult) -> None:
    """Write the run report atomically."""
    write_atomic(path, dumps(run_report(result)) + "\n")
