"""Which checks of a run need attention, most urgent first, and one sentence for the rest:
those that passed, and those the run is too small for (a p99 of 30 spans, an error rate
of 0% on both sides of 60 spans)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmobs.gate.checks import VERDICT_ORDER, Check
from pytest_llmobs.gate.compare import Comparison
from pytest_llmobs.gate.coverage import explainer
from pytest_llmobs.gate.rules import Tolerance, direction_of, parse_tolerance
from pytest_llmobs.gate.selection import listed as listed_names
from pytest_llmobs.report.result import RunResult

# An inconclusive check's causes, most telling first: its estimate is beyond the
# tolerance; the data cannot rule that out; the run has too few spans to test it at all.
_CAUSES = ("beyond-tolerance", "low-power", "", "too-few")


def structural(check: Check) -> bool:
    """An inconclusive check that says nothing about a change, only that the run is small:
    its size cannot test it at all (p95 below 59 spans a side), or the data cannot rule
    out a harmful change although the estimate has not moved the harmful way (an error
    rate of 0% on both sides, below about 159 spans a side for +2pp); in neither case
    has the statistic moved beyond its tolerance the harmful way."""
    if check.verdict != "inconclusive" or check.cause not in ("too-few", "low-power"):
        return False
    tolerance = _tolerance(check)
    if tolerance is not None and _beyond(check, tolerance):
        return False  # a p95 ten times slower is news, however few spans show it
    direction = tolerance.direction if tolerance is not None else direction_of(check.metric)
    return check.cause == "too-few" or (check.change or 0.0) * direction <= 0


def _beyond(check: Check, tolerance: Tolerance) -> bool:
    """Whether the statistic moved beyond its tolerance the harmful way."""
    if check.baseline is None or check.current is None:
        return False
    return tolerance.beyond(check.current, check.baseline) > 0


def _tolerance(check: Check) -> Tolerance | None:
    """The tolerance the check applied, read from its spec."""
    if not check.tolerance:
        return None
    try:
        return parse_tolerance(check.metric, check.tolerance)
    except ValueError:  # a saved report's spec this version reads otherwise
        return None


def not_run(comparison: Comparison | None) -> set[int]:
    """The ids of the missing checks whose test cases did not run this time (`-k`, `-m`):
    they fail nothing, and the coverage line names what they measured."""
    if comparison is None or comparison.absences is None:
        return set()
    explaining = explainer(comparison.absences)
    found = set()
    for check in comparison.checks:
        absence = explaining(check.series, check.metric) if check.verdict == "missing" else None
        if absence is not None and absence.status == "not-run":
            found.add(id(check))
    return found


def notable(result: RunResult) -> tuple[Check, ...]:
    """The checks worth a row of their own, regressions first: all but those that passed,
    are new (one line names their series), or whose tests did not run, and, unless
    inconclusive checks fail the run, the structural ones."""
    comparison = result.comparison
    checks = comparison.checks if comparison is not None else ()
    unrun = not_run(comparison)
    shown = [
        c
        for c in checks
        if c.verdict not in ("pass", "new")
        and id(c) not in unrun
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
    inconclusive as the run is too small for them (saying what they need), how many are
    new (naming their series), how many were not judged as their tests did not run;
    None when every check has its row.

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
    noun = " other check" if shown else " check"
    parts = [f"{_count(passed, noun)} passed"] if passed else []
    small = [c for c in left if structural(c)]
    if small:
        parts.append(f"{len(small)} inconclusive because {_needs(small)}")
    new = [c for c in left if c.verdict == "new"]
    if new:
        series = listed_names(dict.fromkeys(c.series.label for c in new), 3)
        parts.append(f"{len(new)} new, not in the baseline ({series})")
    unrun = len(not_run(comparison) - listed)
    if unrun:
        parts.append(f"{unrun} not judged as their test cases did not run")
    if parts == [f"{_count(passed, noun)} passed"] and not shown and passed > 1:
        parts = [f"all {parts[0]}"]
    return "; ".join(parts) + f": {hint}"


def _needs(small: Sequence[Check]) -> str:
    """`latency.p95 and latency.p99 need more spans (59 and 299 a side)`."""
    metrics = list(dict.fromkeys(c.metric for c in small))
    paired = {c.paired for c in small}  # a paired check counts test cases, not spans
    unit = "spans or test cases" if len(paired) > 1 else "test cases" if True in paired else "spans"
    verb = "needs" if len(metrics) == 1 else "need"
    line = f"{_and(metrics)} {verb} more {unit}"
    needed = [[c.needed for c in small if c.metric == m] for m in metrics]
    counts = [sorted({n for n in each if n is not None}) for each in needed]
    if all(len(c) == len(set(n)) for c, n in zip(counts, needed, strict=True)):  # no None
        side = " a side" if unit == "spans" else ""
        spans = [f"{c[0]}" if len(c) == 1 else f"{c[0]}-{c[-1]}" for c in counts]
        line += f" ({_and(spans)}{side})"
    return line


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, noun: str) -> str:
    return f"{n}{noun}" + ("" if n == 1 else "s")
