"""The JSON run report: the run's series, checks, baseline state and verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_llmobs.baseline import RUN_SCHEMA, SCHEMA_VERSION, dumps, series_to_json, write_atomic
from pytest_llmobs.compare import Check, SloResult
from pytest_llmobs.gate import RunResult
from pytest_llmobs.model import SeriesKey


def _series_fields(key: SeriesKey) -> dict[str, Any]:
    """How every entry names its series: the full key, the span name, the grouping values."""
    return {"series": key.label, "name": key.name, "group": dict(key.group)}


def check_to_json(check: Check) -> dict[str, Any]:
    """One check as plain JSON types."""
    return {
        **_series_fields(check.series),
        "metric": check.metric,
        "verdict": check.verdict,
        "baseline": check.baseline,
        "current": check.current,
        "change": check.change,
        "relative_change": check.relative,
        "ci_low": check.ci_low,
        "ci_high": check.ci_high,
        "p_value": check.p_value,
        "p_raw": check.p_raw,
        "test": check.test,
        "paired": check.paired,
        "n_baseline": check.n_baseline,
        "n_current": check.n_current,
        "mde": check.mde,
        "tolerance": check.tolerance,
        "reason": check.reason,
    }


def slo_to_json(slo: SloResult) -> dict[str, Any]:
    """One SLO result as plain JSON types."""
    return {
        **_series_fields(slo.series),
        "metric": slo.metric,
        "value": slo.value,
        "warn": slo.warn,
        "fail": slo.fail,
        "status": slo.status,
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
        "slos": [slo_to_json(s) for s in result.slos],
        "warnings": list(result.warnings),
        "errors": list(result.errors),
    }


def write_run_report(path: Path, result: RunResult) -> None:
    """Write the run report atomically."""
    write_atomic(path, dumps(run_report(result)) + "\n")
