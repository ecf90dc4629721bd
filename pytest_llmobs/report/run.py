"""The JSON run report: the run's series, checks, baseline state and verdict."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, cast, get_args

from pytest_llmobs.gate.baseline import (
    RUN_SCHEMA,
    SCHEMA_VERSION,
    BaselineError,
    SeriesFile,
    load_document,
)
from pytest_llmobs.gate.jsonfile import dumps, write_atomic
from pytest_llmobs.gate.model import CaptureSummary, Received
from pytest_llmobs.gate.promotion import BaselineState, BaselineStatus
from pytest_llmobs.gate.rules import parse_tolerance
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.series_json import series_to_json
from pytest_llmobs.gate.severity import SEVERITIES
from pytest_llmobs.report.checks_json import (
    check_from_json,
    check_to_json,
    slo_from_json,
    slo_to_json,
)
from pytest_llmobs.report.coverage_json import coverage_to_json, with_coverage
from pytest_llmobs.report.findings_json import (
    count,
    distributions_from_json,
    distributions_to_json,
    findings_from_json,
    findings_to_json,
    flag,
    objects,
    optional_number,
    text,
    texts,
)
from pytest_llmobs.report.result import RunResult, Shard


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
        "series": [series_to_json(s, every=result.shard is not None) for s in result.series],
        "checks": [check_to_json(c) for c in checks],
        "slos": [slo_to_json(s) for s in result.slos],
        "warnings": list(result.warnings),
        "errors": list(result.errors),
        "fail_on_inconclusive": result.fail_on_inconclusive,
        "capture": dataclasses.asdict(result.capture) if result.capture is not None else None,
        "fail_on_alert": result.fail_on_alert,
        **findings_to_json(result.findings),
        "distributions": distributions_to_json(result.distributions),
        "ci": {"on": result.ci, "source": result.ci_source},
        "outcome": {"tests_failed": result.tests_failed, "interrupted": result.interrupted},
        "advisory": result.advisory,
        "coverage": coverage_to_json(result.comparison),
        **({"settings": result.settings.to_json()} if result.settings is not None else {}),
        **(_tests_to_json(result.ran) if result.ran is not None else {}),
        **({"shard": dataclasses.asdict(result.shard)} if result.shard is not None else {}),
        "marked_rules": {test: dict(specs) for test, specs in result.marked_rules.items()},
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
    """Read a run report back, checks, findings and all, to render it again.

    Raises:
        FileNotFoundError: there is no file at path.
        BaselineError: the file is not a usable run report; the message names it.
    """
    stored, doc = load_document(path, schemas=(RUN_SCHEMA,))
    return result_from_document(path, stored, doc)


def result_from_document(path: Path, stored: SeriesFile, doc: dict[str, Any]) -> RunResult:
    """A run report read back from its document, whose series `load_document` read.

    Raises:
        BaselineError: the document is not a usable run report; the message names path.
    """
    try:
        state = doc.get("baseline")
        if not isinstance(state, dict):
            raise ValueError(f"baseline must be an object, got {state!r:.40}")
        status = text(state, "status")
        if status not in get_args(BaselineStatus):
            raise ValueError(f"baseline.status: unknown status {status!r}")
        checks = tuple(check_from_json(c) for c in objects(doc, "checks"))
        comparison = with_coverage(checks, doc)
        ci = doc.get("ci") or {}
        if not isinstance(ci, dict):
            raise ValueError(f"ci must be an object, got {ci!r:.40}")
        fail_on_alert = doc.get("fail_on_alert")
        if fail_on_alert is not None and fail_on_alert not in SEVERITIES:
            raise ValueError(f"fail_on_alert: unknown severity {fail_on_alert!r:.40}")
        return RunResult(
            stored.series,
            BaselineState(
                Path(text(state, "path")), cast(BaselineStatus, status), text(state, "message", "")
            ),
            comparison,
            texts(doc, "warnings"),
            stored.metadata,
            texts(doc, "errors"),
            tuple(slo_from_json(s) for s in objects(doc, "slos")),
            flag(doc, "fail_on_inconclusive"),
            _capture(doc.get("capture")),
            findings_from_json(doc),
            fail_on_alert,
            distributions_from_json(doc),
            flag(ci, "on"),
            text(ci, "source", ""),
            stored.settings,
            _tests_from_json(doc, stored.tests),
            *_outcome(doc),
            flag(doc, "advisory"),
            _shard(doc),
            _marked_rules(doc),
        )
    except ValueError as exc:
        raise BaselineError(f"{path}: not a readable run report: {exc}") from None


def _tests_to_json(ran: RanTests) -> dict[str, Any]:
    """The test ids of the run: `tests` (whose body ran), as a baseline records them, and
    `selection` (those selected but not run, and those deselected)."""
    return {
        "tests": sorted(ran.now),
        "selection": {
            "skipped": sorted(ran.skipped),
            "deselected": sorted(ran.deselected),
            "narrowed": sorted(ran.narrowed),
            "collected": sorted(ran.collected),
            "partial": ran.partial,
            "skipped_files": sorted(ran.skipped_files),
            "paths": None if ran.paths is None else list(ran.paths),
            "ignored": list(ran.ignored),
            "ignored_globs": list(ran.ignored_globs),
        },
    }


def _tests_from_json(doc: dict[str, Any], tests: frozenset[str] | None) -> RanTests | None:
    if tests is None:
        return None
    selection = doc.get("selection", {})
    if not isinstance(selection, dict):
        raise ValueError(f"selection must be an object, got {selection!r:.40}")
    skipped, deselected, narrowed, collected, skipped_files = (
        frozenset(texts(selection, name))
        for name in ("skipped", "deselected", "narrowed", "collected", "skipped_files")
    )
    paths = texts(selection, "paths") if selection.get("paths") is not None else None
    return RanTests(
        tests, frozenset(), skipped, deselected, narrowed, collected,
        flag(selection, "partial"), skipped_files, paths, None,
        texts(selection, "ignored"), texts(selection, "ignored_globs"),
    )  # fmt: skip


def _outcome(doc: dict[str, Any]) -> tuple[int, bool]:
    """How the tests themselves fared: how many failed, and whether the run was cut short."""
    outcome = doc.get("outcome", {})
    if not isinstance(outcome, dict):
        raise ValueError(f"outcome must be an object, got {outcome!r:.40}")
    return count(outcome, "tests_failed"), flag(outcome, "interrupted")


def _shard(doc: dict[str, Any]) -> Shard | None:
    """What a shard records for `llmobs combine`; None in the report of a judged run."""
    entry = doc.get("shard")
    if entry is None and doc.get("verdict") != "shard":
        return None
    if not isinstance(entry, dict):
        raise ValueError(f"shard must be an object, got {entry!r:.40}")
    digest = entry.get("baseline_sha256")
    if digest is not None and not isinstance(digest, str):
        raise ValueError(f"shard.baseline_sha256 must be text or null, got {digest!r:.40}")
    threshold, alpha = optional_number(entry, "quality_threshold"), optional_number(entry, "alpha")
    if threshold is None or alpha is None or not 0 < alpha < 1:
        raise ValueError("shard: quality_threshold and alpha must be numbers, alpha within 0..1")
    config, severity = entry.get("config"), entry.get("fail_on_alert")
    config_digest = entry.get("config_sha256")
    if not all(isinstance(v, (str, type(None))) for v in (config, config_digest)):
        raise ValueError("shard.config and shard.config_sha256 must be text or null")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"shard.fail_on_alert: unknown severity {severity!r:.40}")
    return Shard(
        digest, count(entry, "slowest"), threshold, config, config_digest, alpha,
        flag(entry, "fail_on_inconclusive"), severity, flag(entry, "advisory"),
    )  # fmt: skip


def _marked_rules(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The rules of the run's marked tests, which `llmobs compare` applies as the plugin
    did (none in reports of older versions)."""
    marked = doc.get("marked_rules", {})
    if not isinstance(marked, dict) or not all(
        isinstance(specs, dict) and all(isinstance(v, str) for v in specs.values())
        for specs in marked.values()
    ):
        raise ValueError(f"marked_rules must map tests to rules, got {marked!r:.40}")
    for test, specs in marked.items():
        for metric, spec in specs.items():
            try:  # as the marker was checked: a bad one would fail judging it again
                parse_tolerance(metric, spec)
            except ValueError as exc:
                raise ValueError(f"marked_rules: {test}: {metric} = {spec!r}: {exc}") from None
    return marked


def _capture(entry: Any) -> CaptureSummary | None:
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ValueError(f"capture must be an object, got {entry!r:.40}")
    rate = optional_number(entry, "sample_rate")
    if rate is None or not 0 <= rate <= 1:
        raise ValueError(f"capture.sample_rate must be from 0 to 1, got {rate!r}")
    spans, traces, kept = (count(entry, f) for f in ("spans", "traces", "traces_with_detail"))
    received = entry.get("received") or {}  # absent in older reports: none was
    if not isinstance(received, dict):
        raise ValueError(f"capture.received must be an object, got {received!r:.40}")
    ways = (count(received, f) for f in ("by_trace_id", "by_time", "no_test"))
    return CaptureSummary(spans, traces, kept, rate, Received(*ways))
