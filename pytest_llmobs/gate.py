"""The gate's decision for a run: compare with the baseline, or promote the run to baseline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmobs import baseline as baseline_file
from pytest_llmobs.compare import Comparison, SloResult, compare
from pytest_llmobs.distributions import Distribution
from pytest_llmobs.findings import Findings, Severity, fails
from pytest_llmobs.model import CaptureSummary, SeriesStats
from pytest_llmobs.rules import Rules

BaselineStatus = Literal["loaded", "missing", "error", "updated", "not-updated"]
RunVerdict = Literal["pass", "regression", "fail", "error"]


@dataclass(frozen=True)
class BaselineState:
    """What became of the baseline in this run, with a sentence for people."""

    path: Path
    status: BaselineStatus
    message: str = ""


@dataclass(frozen=True)
class RunResult:
    """Everything the reports need: series, checks, baseline state and the verdict."""

    series: tuple[SeriesStats, ...]
    baseline: BaselineState
    comparison: Comparison | None = None
    warnings: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # what makes the gate fail closed, besides the baseline
    slos: tuple[SloResult, ...] = ()
    fail_on_inconclusive: bool = False
    capture: CaptureSummary | None = None
    findings: Findings = field(default_factory=Findings)  # worst requests, attribution, alerts
    fail_on_alert: Severity | None = None
    distributions: tuple[Distribution, ...] = ()  # histograms beside the baseline's

    @property
    def verdict(self) -> RunVerdict:
        """error (fails closed) > regression > fail (an SLO, or inconclusive or an alert
        when asked) > pass."""
        if self.errors or self.baseline.status == "error":
            return "error"
        # only a comparison with a loaded baseline gates (an update run just shows it)
        gating = self.comparison if self.baseline.status == "loaded" else None
        if gating is not None and gating.regressions:
            return "regression"
        if any(s.status == "fail" for s in self.slos):
            return "fail"
        if gating is not None and self.fail_on_inconclusive and gating.inconclusive:
            return "fail"
        if gating is not None and any(fails(a, self.fail_on_alert) for a in self.findings.alerts):
            return "fail"
        return "pass"


def judge(
    series: Sequence[SeriesStats],
    path: Path,
    quality_attributes: Sequence[str] = (),
    rules: Rules | None = None,
) -> tuple[Comparison | None, BaselineState, tuple[SeriesStats, ...]]:
    """Compare series with the baseline at path, failing closed on a bad file.

    SLOs need no baseline: `compare.evaluate_slos` judges them.

    Returns:
        The comparison (None without a usable baseline), the baseline's state, and its
        series (none without a usable baseline).
    """
    try:
        stored = baseline_file.load(path, schemas=(baseline_file.BASELINE_SCHEMA,))
    except FileNotFoundError:
        message = (
            f"no baseline at {path}: run `pytest --llmobs --llmobs-update-baseline` "
            "to record one, then commit it"
        )
        return None, BaselineState(path, "missing", message), ()
    except baseline_file.BaselineError as exc:
        return None, BaselineState(path, "error", str(exc)), ()
    checks = compare(series, stored.series, quality_attributes, rules)
    return checks, BaselineState(path, "loaded", f"compared with {path}"), stored.series


def promote(
    series: Sequence[SeriesStats],
    path: Path,
    metadata: Mapping[str, Any],
    refused: str | None = None,
) -> BaselineState:
    """Write series as the new baseline, unless there is a reason not to.

    Args:
        series: the run's series.
        path: the baseline file.
        metadata: plugin version, creation time, git commit.
        refused: why this run must not become the baseline (failed tests, say).

    Returns:
        The baseline's state: updated, or not-updated with the reason.
    """
    if refused is None and not series:
        refused = "no spans were captured"
    if refused is not None:
        return BaselineState(path, "not-updated", f"baseline not updated: {refused}")
    document = baseline_file.baseline_document(series, metadata)
    size = len(document.encode("utf-8"))
    if size > baseline_file.MAX_FILE_BYTES:  # it could not be read back
        megabytes, limit = size / 2**20, baseline_file.MAX_FILE_BYTES // 2**20
        message = (
            f"{path}: not written: {megabytes:.0f} MB is more than a baseline may be "
            f"({limit} MB); split the suite or group by fewer attributes"
        )
        return BaselineState(path, "error", message)
    try:
        baseline_file.write_atomic(path, document)
    except OSError as exc:
        return BaselineState(path, "error", f"{path}: cannot write the baseline: {exc}")
    count = sum(s.count for s in series)
    return BaselineState(
        path, "updated", f"baseline written to {path} ({len(series)} series, {count} spans)"
    )
