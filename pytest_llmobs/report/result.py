"""The result of a run, everything the reports need: its series, the comparison with the
baseline, the SLOs, the analysis' findings, and the verdict they give together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_llmobs.analysis.distributions import Distribution
from pytest_llmobs.analysis.findings import Findings, fails
from pytest_llmobs.gate.compare import Comparison
from pytest_llmobs.gate.model import CaptureSummary, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.severity import Severity
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.slos import SloResult

RunVerdict = Literal["pass", "regression", "fail", "error", "shard"]


@dataclass(frozen=True)
class Shard:
    """What a shard's run report records for `llmobs combine`, besides its series with
    every sample: the baseline it would have been judged against, and the analysis'
    settings by which its lists of requests were cut."""

    baseline_sha256: str | None  # of the baseline file's bytes; None: there was none
    slowest: int  # requests listed per series and per quality attribute
    quality_threshold: float  # a score below this makes a low-quality request
    # how the run was to be judged, from wherever it was set (flag, ini file, pyproject):
    # the pyproject.toml whose [tool.llmobs] rules apply, and the settings besides them
    config: str | None = None
    config_sha256: str | None = None  # of its bytes: the rules combine applies must be these
    alpha: float = 0.01
    fail_on_inconclusive: bool = False
    fail_on_alert: Severity | None = None
    advisory: bool = False  # --llmobs-exit-code=0


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
    ci: bool = False  # CI mode: a missing baseline fails closed
    ci_source: str = ""  # what turned CI mode on or off
    settings: Shape | None = None  # what shaped this run's series
    ran: RanTests | None = None  # this run's test ids (`before` empty); None when not known
    tests_failed: int = 0  # by the tests themselves
    interrupted: bool = False
    advisory: bool = False  # --llmobs-exit-code=0: reported, never failing the run
    shard: Shard | None = None  # recorded for `llmobs combine`, not judged
    # the rules of its marked tests (@pytest.mark.llmobs): test function -> metric -> spec
    marked_rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def verdict(self) -> RunVerdict:
        """error (fails closed, or a baseline update asked for and refused) > regression >
        fail (an SLO, something of the baseline not measured, or inconclusive or an alert
        when asked) > pass; a shard is not judged."""
        if self.shard is not None:
            return "shard"
        if self.errors or self.baseline.status in ("error", "not-updated"):
            return "error"
        if self.ci and self.baseline.status == "missing":
            return "error"
        # only a comparison with a loaded baseline gates (an update run just shows it)
        gating = self.comparison if self.baseline.status == "loaded" else None
        if gating is not None and gating.regressions:
            return "regression"
        if any(s.status == "fail" for s in self.slos):
            return "fail"
        if gating is not None and (gating.failures or (self.ci and gating.unjudged)):
            return "fail"
        if gating is not None and self.fail_on_inconclusive and gating.inconclusive:
            return "fail"
        if gating is not None and any(fails(a, self.fail_on_alert) for a in self.findings.alerts):
            return "fail"
        return "pass"

    @property
    def failed(self) -> bool:
        """Whether the gate fails the run (a shard's exit status is its tests' own)."""
        return self.verdict not in ("pass", "shard")
