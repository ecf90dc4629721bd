"""The JSON run report: the run's series, checks, baseline state and verdict."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

from pytest_llmobs.baseline import (
    RUN_SCHEMA,
    SCHEMA_VERSION,
    BaselineError,
    dumps,
    load,
    series_to_json,
    write_atomic,
)
from pytest_llmobs.compare import VERDICT_ORDER, Check, Comparison, SloResult
from pytest_llmobs.gate import BaselineState, RunResult
from pytest_llmobs.model import CaptureSummary, SeriesKey


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
        "fail_on_inconclusive": result.fail_on_inconclusive,
        "capture": dataclasses.asdict(result.capture) if result.capture is not None else None,
    }


def write_run_report(path: Path, result: RunResult) -> None:
    """Write the run report atomically."""
    write_atomic(path, dumps(run_report(result)) + "\n")


def write_error_report(path: Path, message: str) -> None:
    """A run report for a run stopped by bad configuration: verdict error, no series."""
    state = BaselineState(Path(), "missing", "not compared: the configuration is invalid")
    # The usage error that follows says what is wrong; this file is a courtesy to scripts.
    with contextlib.suppress(OSError):
        write_run_report(path, RunResult((), state, errors=(message,)))


def result_from_json(path: Path) -> RunResult:
    """Read a run report back, checks and all, to render it again.

    Raises:
        FileNotFoundError: there is no file at path.
        BaselineError: the file is not a usable run report; the message names it.
    """
    stored = load(path, schemas=(RUN_SCHEMA,))
    doc = json.loads(path.read_text(encoding="utf-8"))
    try:
        state = doc["baseline"]
        checks = tuple(_check(c) for c in doc.get("checks", []))
        slos = tuple(_slo(s) for s in doc.get("slos", []))
        return RunResult(
            stored.series,
            BaselineState(Path(state["path"]), state["status"], state.get("message", "")),
            Comparison(checks) if checks else None,
            tuple(str(w) for w in doc.get("warnings", [])),
            stored.metadata,
            tuple(str(e) for e in doc.get("errors", [])),
            slos,
            bool(doc.get("fail_on_inconclusive", False)),
            _capture(doc.get("capture")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{path}: not a readable run report ({exc!r})") from None


def _capture(entry: Any) -> CaptureSummary | None:
    if entry is None:
        return None
    return CaptureSummary(
        int(entry["spans"]),
        int(entry["traces"]),
        int(entry["traces_with_detail"]),
        float(entry["sample_rate"]),
    )


def _key(entry: dict[str, Any]) -> SeriesKey:
    return SeriesKey(str(entry["name"]), tuple(sorted(entry.get("group", {}).items())))


def _check(entry: dict[str, Any]) -> Check:
    if entry["verdict"] not in VERDICT_ORDER:
        raise ValueError(f"unknown verdict {entry['verdict']!r}")
    get = entry.get
    return Check(
        _key(entry), str(entry["metric"]), entry["verdict"],
        baseline=get("baseline"), current=get("current"), change=get("change"),
        relative=get("relative_change"), ci_low=get("ci_low"), ci_high=get("ci_high"),
        p_value=get("p_value"), p_raw=get("p_raw"), test=get("test"),
        paired=bool(get("paired", False)), n_baseline=int(get("n_baseline", 0)),
        n_current=int(get("n_current", 0)), mde=get("mde"), tolerance=get("tolerance"),
        reason=str(get("reason", "")),
    )  # fmt: skip


def _slo(entry: dict[str, Any]) -> SloResult:
    if entry["status"] not in ("ok", "warn", "fail"):
        raise ValueError(f"unknown SLO status {entry['status']!r}")
    return SloResult(
        _key(entry), str(entry["metric"]), float(entry["value"]), entry.get("warn"),
        entry.get("fail"), entry["status"],
    )  # fmt: skip
