"""Which checks of a run need attention, most urgent first, and one sentence for the rest:
those that passed, and those the run is too small for (a p99 of 30 spans, an error rate
of 0% on both sides of 60 spans)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmobs.checks import VERDICT_ORDER, Check
from pytest_llmobs.compare import Comparison
from pytest_llmobs.coverage import explaining
from pytest_llmobs.gate import RunResult
from pytest_llmobs.rules import direction_of

# An inconclusive check's causes, most telling first: its estimate is beyond the
# tolerance; the data cannot rule that out; the run has too few spans to test it at all.
_CAUSES = ("beyond-tolerance", "low-power", "", "too-few")


def structural(check: Check) -> bool:
    """An inconclusive check that says nothing about a change, only that the run is small:
    its size cannot test it at all (p95 below 59 spans a side), or the data cannot rule
    out a harmful change although the estimate has not moved the harmful way (an error
    rate of 0% on both sides, below about 159 spans a side for +2pp)."""
    if check.verdict != "inconclusive":
        return False
    if check.cause == "too-few":
        return True
    return check.cause == "low-power" and (check.change or 0.0) * _direction(check) <= 0


def _direction(check: Check) -> int:
    """Which way is harmful: the sign of the tolerance applied, else the metric's."""
    if check.tolerance and check.tolerance[0] in "+-":
        return 1 if check.tolerance[0] == "+" else -1
    return direction_of(check.metric)


def not_run(check: Check, comparison: Comparison | None) -> bool:
    """A missing check whose test cases did not run this time (`-k`, `-m`): it fails
    nothing, and the coverage line names what they measured."""
    if check.verdict != "missing" or comparison is None or comparison.absences is None:
        return False
    absence = explaining(comparison.absences, check.series, check.metric)
    return absence is not None and absence.status == "not-run"


def notable(result: RunResult) -> tuple[Check, ...]:
    """The checks worth a row of their own, regressions first: all but those that passed,
    those whose tests did not run and, unless inconclusive checks fail the run, the
    structural ones."""
    comparison = result.comparison
    checks = comparison.checks if comparison is not None else ()
    shown = [
        c
        for c in checks
        if c.verdict != "pass"
        and not not_run(c, comparison)
        and (result.fail_on_inconclusive or not structural(c))
    ]
    return ordered(shown)


def ordered(checks: Sequence[Check]) -> tuple[Check, ...]:
    """Checks by verdict (regressions first), inconclusive ones by how telling their cause
    is; otherwise in the order given."""
    return tuple(
        sorted(checks, key=lambda c: (VERDICT_ORDER.index(c.verdict), _CAUSES.index(c.cause)))
    )


def rest(result: RunResult, shown: Sequence[Check], hint: str) -> str | None:
    """One sentence for the checks without a row: how many passed, how many are
    inconclusive as the run is too small for them (saying what they need), how many were
    not judged as their tests did not run; None when every check has its row.

    Args:
        result: the run.
        shown: the checks that have a row.
        hint: where the others are listed, e.g. "-v lists every check".
    """
    comparison = result.comparison
    listed = {id(c) for c in shown}
    left = [c for c in comparison.checks if id(c) not in listed] if comparison else []
    if not left:
        return None
    passed = sum(c.verdict == "pass" for c in left)
    small = [c for c in left if structural(c)]
    unrun = sum(not_run(c, comparison) for c in left)
    noun = " other check" if shown else " check"
    if not small and not unrun:
        every = "all " if not shown and passed > 1 else ""
        return f"{every}{_count(passed, noun)} passed: {hint}"
    parts = [f"{_count(passed, noun)} passed"] if passed else []
    if small:
        parts.append(f"{len(small)} inconclusive because {_needs(small)}")
    if unrun:
        parts.append(f"{unrun} not judged as their test cases did not run")
    return "; ".join(parts) + f": {hint}"


def _needs(small: Sequence[Check]) -> str:
    """`latency.p95 and latency.p99 need more spans (59 and 299 a side)`."""
    metrics = list(dict.fromkeys(c.metric for c in small))
    paired = {c.paired for c in small}  # a paired check counts test cases, not spans
    unit = "spans or test cases" if len(paired) > 1 else "test cases" if True in paired else "spans"
    verb = "needs" if len(metrics) == 1 else "need"
    line = f"{_and(metrics)} {verb} more {unit}"
    needed = [{c.needed for c in small if c.metric == m} for m in metrics]
    if all(len(n) == 1 and None not in n for n in needed):
        side = " a side" if unit == "spans" else ""
        line += f" ({_and([str(next(iter(n))) for n in needed])}{side})"
    return line


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, noun: str) -> str:
    return f"{n}{noun}" + ("" if n == 1 else "s")
