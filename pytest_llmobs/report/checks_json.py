"""The checks and SLO results of a run report, as plain JSON and read back checked."""

from __future__ import annotations

from typing import Any, Literal, cast, get_args

from pytest_llmobs.gate.compare import VERDICT_ORDER, Cause, Check
from pytest_llmobs.gate.slos import SloResult
from pytest_llmobs.report.findings_json import (
    count,
    flag,
    key_of,
    optional_number,
    series_fields,
    text,
)


def check_to_json(check: Check) -> dict[str, Any]:
    """One check as plain JSON types."""
    return {
        **series_fields(check.series),
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
        "pooled_change": check.pooled_change,
        "pooled_relative_change": check.pooled_relative,
        "cause": check.cause or None,
        "needed": check.needed,
    }


def slo_to_json(slo: SloResult) -> dict[str, Any]:
    """One SLO result as plain JSON types."""
    return {
        **series_fields(slo.series),
        "metric": slo.metric,
        "value": slo.value,
        "warn": slo.warn,
        "fail": slo.fail,
        "status": slo.status,
    }


def check_from_json(entry: dict[str, Any]) -> Check:
    """One check read back from a run report.

    Raises:
        ValueError: a field is missing or of the wrong type.
    """
    verdict = text(entry, "verdict")
    if verdict not in VERDICT_ORDER:
        raise ValueError(f"unknown verdict {verdict!r}")
    test, tolerance = entry.get("test"), entry.get("tolerance")

    def number(name: str) -> float | None:
        return optional_number(entry, name)

    return Check(
        key_of(entry), text(entry, "metric"), verdict,
        baseline=number("baseline"), current=number("current"), change=number("change"),
        relative=number("relative_change"), ci_low=number("ci_low"),
        ci_high=number("ci_high"), p_value=number("p_value"), p_raw=number("p_raw"),
        test=None if test is None else text(entry, "test"), paired=flag(entry, "paired"),
        n_baseline=count(entry, "n_baseline"), n_current=count(entry, "n_current"),
        mde=number("mde"), tolerance=None if tolerance is None else text(entry, "tolerance"),
        reason=text(entry, "reason", ""), pooled_change=number("pooled_change"),
        pooled_relative=number("pooled_relative_change"), cause=_cause(entry),
        needed=None if entry.get("needed") is None else count(entry, "needed"),
    )  # fmt: skip


def _cause(entry: dict[str, Any]) -> Cause:
    cause = entry.get("cause") or ""
    if cause not in get_args(Cause):
        raise ValueError(f"unknown cause {cause!r}")
    return cast(Cause, cause)


def slo_from_json(entry: dict[str, Any]) -> SloResult:
    """One SLO result read back from a run report.

    Raises:
        ValueError: a field is missing or of the wrong type.
    """
    status = text(entry, "status")
    if status not in ("ok", "warn", "fail"):
        raise ValueError(f"unknown SLO status {status!r}")
    value = optional_number(entry, "value")
    if value is None:
        raise ValueError("slos: value must be a finite number")
    return SloResult(
        key_of(entry), text(entry, "metric"), value, optional_number(entry, "warn"),
        optional_number(entry, "fail"), cast(Literal["ok", "warn", "fail"], status),
    )  # fmt: skip
