"""The verdict of one tested check, once the run's p-values are adjusted: regression (or
improvement) when significantly beyond its tolerance, inconclusive when a harmful change
beyond it cannot be ruled out (saying why, and what would settle it), else pass."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pytest_llmobs.gate import stats
from pytest_llmobs.gate.checks import Check, Verdict
from pytest_llmobs.gate.rules import Tolerance

NEEDED_LIMIT = 1e9  # beyond this many spans, "needed" says nothing useful


@dataclass(frozen=True)
class Draft:
    """A check before the run-wide decision, with what the decision needs: the test's
    standard error, p-values and reach against the bounds (on the test's scale: the log
    ratio for latency), and the estimate on that scale."""

    check: Check
    tolerance: Tolerance
    se: float = math.inf
    min_p: stats.Sided = (1.0, 1.0)
    p: stats.Sided | None = None
    bounds: stats.Bounds = (0.0, 0.0)
    estimate: float = 0.0

    def p_towards(self, worse: bool) -> float:
        """The one-sided p-value that the metric moved beyond tolerance the worse (or
        better) way."""
        assert self.p is not None
        upper, lower = self.p
        return upper if (self.tolerance.direction > 0) == worse else lower

    @property
    def margin(self) -> float:
        """How far the estimate may go the worse way, on the test's scale."""
        upper, lower = self.bounds
        return upper if self.tolerance.direction > 0 else -lower

    @property
    def reach(self) -> float:
        """The smallest p-value the test can give the worse way at these sizes."""
        return self.min_p[0 if self.tolerance.direction > 0 else 1]


def judge(draft: Draft, adjusted: tuple[float, float], alpha: float, threshold: float) -> Check:
    """The verdict of one tested check: regression (or improvement) when significantly
    beyond tolerance, else inconclusive when the data cannot rule out a harmful change
    of the tolerance's size, else pass."""
    check, tolerance = draft.check, draft.tolerance
    assert check.current is not None
    assert check.baseline is not None
    spread = (stats.z_for(threshold) + stats.Z_POWER_80) * draft.se
    finite = math.isfinite(draft.se) and math.isfinite(draft.margin)
    mde = _shown(check, draft.margin + spread) if finite else None
    change = check.change or 0.0
    worse = change * tolerance.direction > 0  # p-values shown: the way the estimate moved
    p = adjusted[0] if worse else adjusted[1]
    p_raw = draft.p_towards(worse)
    judged = replace(
        check, p_value=p, p_raw=p_raw, mde=None if mde is None else mde * tolerance.direction
    )
    spec = _applied(check, tolerance, draft.margin)
    if adjusted[0] < alpha or adjusted[1] < alpha:
        verdict: Verdict = "regression" if adjusted[0] < alpha else "improvement"
        shown = adjusted[0] if verdict == "regression" else adjusted[1]
        reason = f"significantly beyond {spec} (p {_p(shown)} < {alpha:g})"
        return replace(judged, p_value=shown, verdict=verdict, reason=reason)
    unit = "test cases" if check.paired else "spans a side"
    harm = draft.estimate * tolerance.direction  # the estimate, positive the harmful way
    beyond = tolerance.beyond(check.baseline + change, check.baseline)
    if beyond > 0:
        excess = harm - draft.margin
        needed = _needed(check, stats.z_for(threshold) * draft.se / excess) if excess > 0 else None
        reason = (
            f"beyond {spec} but not significantly (p {_p(p_raw)}; {_p(p)} adjusted for the "
            f"run's {_family(alpha, threshold)} tests)" + _settle(needed, unit)
        )
        return replace(judged, verdict="inconclusive", reason=reason, cause="beyond-tolerance",
                       needed=needed)  # fmt: skip
    if math.isinf(draft.margin):  # e.g. "-20ms" on a 5 ms span: it cannot get that much better
        return replace(judged, reason=f"within tolerance ({spec}: any change this way)")
    if draft.reach >= threshold:
        what = "test cases" if check.paired else "spans"
        sizes = f"{check.n_baseline} (baseline) and {check.n_current} (now)"
        reason = f"{sizes} {what} cannot reach p < {threshold:.2g}"
        needed = math.ceil(-math.log2(threshold)) + 1 if check.test == "wilcoxon" else None
        return replace(judged, verdict="inconclusive", reason=reason + _settle(needed, unit),
                       cause="too-few", needed=needed)  # fmt: skip
    # A harmful change beyond the tolerance is ruled out when the estimate plus 1.96 of
    # its test's standard errors stays within it. A zero tolerance (given so, or relative
    # to a zero baseline) rules nothing out: there, only the estimate is judged.
    noise = stats.Z_95 * draft.se
    if draft.margin > 0 and not harm + noise <= draft.margin:
        room = draft.margin - harm
        needed = _needed(check, noise / room) if room > 0 else None
        what = "test cases" if check.paired else "spans"
        reason = f"too few {what} to rule out a change beyond {spec}" + _settle(needed, unit)
        return replace(judged, verdict="inconclusive", reason=reason, cause="low-power",
                       needed=needed)  # fmt: skip
    if harm < 0 and beyond < 0:
        return replace(judged, reason=f"better than {spec}, not significantly")
    return replace(judged, reason=f"within tolerance ({spec})")


def _family(alpha: float, threshold: float) -> int:
    return round(alpha / threshold)


def _applied(check: Check, tolerance: Tolerance, margin: float) -> str:
    """The tolerance's spec, with the bound it came to on this baseline where that is not
    plain from the spec (an absolute floor that outweighs a percentage, a relative bound
    on a score, a zero baseline)."""
    assert check.baseline is not None
    spec = tolerance.spec
    if tolerance.against_zero(check.baseline):
        return f"{spec} of a zero baseline, which allows no change: give it an absolute one"
    if tolerance.relative is None or not math.isfinite(margin):
        return spec
    sign = "+" if tolerance.direction > 0 else "-"
    if check.metric.startswith("latency"):
        if tolerance.absolute is None or math.expm1(margin) <= tolerance.relative + 1e-9:
            return spec
        return f"{spec}, here {sign}{math.expm1(margin):.1%}"
    return f"{spec}, here {sign}{_format(check, margin)}"


def _settle(needed: int | None, unit: str) -> str:
    return f", about {needed} {unit} needed" if needed else ""


def _needed(check: Check, ratio: float) -> int | None:
    """Spans a side (test cases, when paired) at which the standard error shrinks by
    `ratio`: the check's n scaled by its square."""
    if not math.isfinite(ratio) or ratio <= 0:
        return None
    n = check.n_current if check.paired else _harmonic(check.n_current, check.n_baseline)
    needed = n * ratio * ratio
    return max(math.ceil(needed), math.floor(n) + 1) if needed < NEEDED_LIMIT else None


def _harmonic(a: int, b: int) -> float:
    """The equal size a side that gives two samples of a and b their standard error."""
    return 2 / (1 / a + 1 / b) if a > 0 and b > 0 else float(max(a, b))


def _shown(check: Check, amount: float) -> float:
    """An amount on the test's scale as the check shows changes: relative for latency."""
    return math.expm1(amount) if check.metric.startswith("latency") else amount


def _format(check: Check, amount: float) -> str:
    """An amount in the metric's unit, as its changes are shown."""
    if check.metric == "error_rate":
        return f"{amount * 100:.2g}pp"
    return f"{amount:.3g}"


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"
