"""Coverage of the baseline in the run report: written as plain JSON, read back checked."""

from __future__ import annotations

from typing import Any, cast, get_args

from pytest_llmobs.gate.compare import Check, Comparison
from pytest_llmobs.gate.coverage import Absence, Status
from pytest_llmobs.report.findings_json import (
    count,
    flag,
    key_of,
    objects,
    optional_number,
    series_fields,
    text,
    texts,
)


def coverage_to_json(comparison: Comparison | None) -> dict[str, Any] | None:
    """The run report's `coverage`: null when the tests that ran are not known."""
    if comparison is None or comparison.absences is None:
        return None
    return {
        "not_measured": [_absence(a) for a in comparison.absences],
        "failures": list(comparison.failures),
        "selection": list(comparison.selection),
        "unjudged": list(comparison.unjudged),
    }


def _absence(absence: Absence) -> dict[str, Any]:
    return {
        **series_fields(absence.series),
        "metric": absence.metric,
        "status": absence.status,
        "missing": absence.missing,
        "before": absence.before,
        "now": absence.now,
        "tests": list(absence.tests),
        "p_raw": absence.p_raw,
        "p_value": absence.p_value,
        "pooled": absence.pooled,
        "reason": absence.reason,
    }


def with_coverage(checks: tuple[Check, ...], doc: dict[str, Any]) -> Comparison | None:
    """The comparison of a run report: its checks and its `coverage`.

    Raises:
        ValueError: a field has the wrong type; the message names it.
    """
    entry = doc.get("coverage")
    if entry is None:
        return Comparison(checks) if checks else None
    if not isinstance(entry, dict):
        raise ValueError(f"coverage must be an object or null, got {entry!r:.40}")
    absences = tuple(_read(a) for a in objects(entry, "not_measured"))
    return Comparison(checks, absences, texts(entry, "selection"), texts(entry, "unjudged"))


def _read(entry: dict[str, Any]) -> Absence:
    status = text(entry, "status")
    if status not in get_args(Status):
        raise ValueError(f"coverage: unknown status {status!r:.40}")
    metric = entry.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ValueError(f"coverage: metric must be text or null, got {metric!r:.40}")
    return Absence(
        key_of(entry), metric, cast(Status, status), flag(entry, "missing"),
        count(entry, "before"), count(entry, "now"), texts(entry, "tests"),
        optional_number(entry, "p_raw"), optional_number(entry, "p_value"),
        flag(entry, "pooled"),
    )  # fmt: skip
