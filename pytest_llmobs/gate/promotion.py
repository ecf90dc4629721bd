"""Promoting a run to the baseline: the reasons it must not (partial data, or what it
would drop of the baseline it replaces), overridden only when told to, and the write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_llmobs.gate import baseline as baseline_file
from pytest_llmobs.gate import coverage
from pytest_llmobs.gate.coverage import Absence
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.selection import SHOWN, RanTests, listed
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.shape import Shape, differences

# not-compared: a shard's, which is judged once combined
BaselineStatus = Literal["loaded", "missing", "error", "updated", "not-updated", "not-compared"]
FORCE = "`llmobs baseline update {} --force`"
LATENCY = ("p50", "p90", "p95", "p99")  # the percentiles a rule may name


@dataclass(frozen=True)
class BaselineState:
    """What became of the baseline in this run, with a sentence for people."""

    path: Path
    status: BaselineStatus
    message: str = ""


def refusal(incomplete: bool, interrupted: bool, failed: int) -> str | None:
    """Why a run must not become the baseline, if it must not: partial data (every reason
    that applies, so that overriding them says what it overrides).

    Args:
        incomplete: the capture is incomplete for a reason besides the interruption (a
            worker's spans lost, spans that could not be read).
        interrupted: the session was interrupted.
        failed: how many tests failed.
    """
    reasons = []
    if interrupted:
        reasons.append("the session was interrupted")
    if incomplete:
        reasons.append("the capture is incomplete")
    if failed:
        reasons.append(f"{failed} test(s) failed")
    return "; ".join(reasons) or None


def _unreadable(path: Path, ran: RanTests | None) -> tuple[str | None, str]:
    """Why a run must not replace the file at path, a baseline this plugin cannot read:
    which of its test cases and series the run would drop cannot be told. One of a newer
    pytest-llmobs is never replaced (it would be downgraded); a damaged one (cut short, too
    large, malformed) only by a run of every test. Returns the reason, or what the message
    of the write says instead."""
    try:
        baseline_file.load(path, schemas=(baseline_file.BASELINE_SCHEMA,))
    except FileNotFoundError:
        return None, ""
    except baseline_file.NewerVersion as exc:
        return (
            "it would replace a baseline of a newer pytest-llmobs (schema version "
            f"{exc.version}; this one writes version {baseline_file.SCHEMA_VERSION}) with an "
            "older one: upgrade pytest-llmobs"
        ), ""
    except baseline_file.BaselineError as exc:
        if _size(path) == 0:  # nothing there to lose
            return None, ""
        if ran is not None and not _left_tests_out(ran):
            return None, f", replacing one it could not read ({exc})"
        why = "this run left tests out (deselected, skipped, named one by one, or --lf)"
        if ran is None:
            why = "the run report does not say which tests ran"
        return (
            f"the old baseline cannot be read ({exc}), so what this run would drop of it "
            f"cannot be told, and {why}: run every test to re-record it"
        ), ""
    return None, ""


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _left_tests_out(ran: RanTests) -> bool:
    """Whether a run left out tests it could have run: what they measured is not in it."""
    return bool(ran.deselected or ran.skipped or ran.skipped_files or ran.narrowed or ran.partial)


def _dropped(ran: RanTests | None) -> str | None:
    """Why a run must not replace the baseline whose test ids are `ran.before`: it left
    out test cases that baseline holds and that still exist (deselected, skipped, other
    paths), whose series would then never be judged again. None for a first baseline."""
    left = sorted(ran.left_out()) if ran is not None else []
    if not left:
        return None
    return (
        f"it would drop {len(left)} test case(s) of the baseline that still exist but did not "
        f"run (deselected, skipped, or outside the paths given): {listed(left)}"
    )


def _unconfirmed(ran: RanTests | None) -> str | None:
    """Why a saved run report must not replace the baseline whose test ids are
    `ran.before`: it would drop test cases of that baseline it does not have at all. A run
    of the plugin collected them not, so they were removed or renamed; a report may have
    been made before they were added, and this command collects nothing to tell."""
    gone = sorted(ran.gone) if ran is not None else []
    if not gone:
        return None
    return (
        f"it would drop {len(gone)} test case(s) of the baseline that the run report does "
        "not have (added after it was made, or removed or renamed since the baseline: a "
        f"saved report cannot tell which): {listed(gone)}"
    )


def _lost(lost: Sequence[Absence]) -> str | None:
    """Why a run must not replace the baseline: the gate judges series or metrics of it
    lost from some of the test cases that made them (a span gone from 14 of 35, say), and
    fails on that. Those lost from every one are `_unmeasured`'s; what the gate calls no
    loss (a conditional span, say) is no reason."""
    parts = [
        f"{a.subject} in {len(a.tests)} of the {a.before} test cases that made it in the "
        f"baseline: {listed(a.tests)} (p = {a.p_value:.2g})"
        for a in lost
        if not a.missing and a.p_value is not None
    ]
    if not parts:
        return None
    more = len(parts) - SHOWN
    rest = f"; and {more} more series or metric(s) the gate judges lost" if more > 0 else ""
    return "it did not measure " + "; nor ".join(parts[:SHOWN]) + rest


def _unmeasured(
    replaced: Sequence[SeriesStats], series: Sequence[SeriesStats], ran: RanTests | None
) -> str | None:
    """Why a run must not replace a baseline: series, or quality, token or cost metrics of
    them, that it did not measure although test cases that made them ran (a span or score
    that is gone, a cohort that vanished), or made outside any test; they would never be
    judged again. What only test cases that did not run made is `_dropped`'s, or goes with
    them (renamed or removed)."""
    now = {s.key: s for s in series}
    lost = []
    for old in replaced:
        new = now.get(old.key)
        # the whole series (None), or the metrics it no longer has
        dropped = [None] if new is None else [*sorted(set(old.quality) - set(new.quality))]
        for attribute in dropped:
            cases = coverage.present(old, attribute)
            if not cases or ran is None or cases & ran.now:
                lost.append(f"{old.key.label} {metric_of(attribute)}" if attribute else
                            f"series {old.key.label}")  # fmt: skip
    if not lost:
        return None
    return (
        f"it would drop {len(lost)} series or metric(s) of the baseline that this run did not "
        f"measure although their test cases ran: {listed(lost)}"
    )


def promote(
    series: Sequence[SeriesStats],
    path: Path,
    metadata: Mapping[str, Any],
    refused: str | None = None,
    shape: Shape | None = None,
    tests: RanTests | None = None,
    replaced: Sequence[SeriesStats] = (),
    force: bool = False,
    remedy: str = "",
    lost: Sequence[Absence] = (),
    saved: bool = False,
) -> BaselineState:
    """Write series as the new baseline, unless there is a reason not to.

    Args:
        series: the run's series.
        path: the baseline file.
        metadata: plugin version, creation time, git commit.
        refused: why this run must not become the baseline (failed tests, say).
        shape: what shaped the series, recorded so a run shaped otherwise is caught.
        tests: the run's test ids, with those of the baseline it replaces as `before`:
            those that ran are recorded so coverage can be judged, and a run that left out
            test cases the old baseline holds is refused.
        replaced: the series of the baseline it replaces, when shaped as this run's; a run
            that did not measure some of them although their test cases ran is refused.
        force: write it although refused, saying so (never without spans, nor over a
            file that is no baseline). A baseline at path that cannot be read refuses a
            run that left tests out, and one of a newer pytest-llmobs any run.
        remedy: how to replace the baseline anyway, said after a refusal.
        lost: what the gate judged lost of the baseline being replaced (`Judged.lost`):
            a run that lost a series or metric from some of its test cases is refused,
            as the gate fails it.
        saved: the run is a saved run report (`llmobs baseline update`): a test case of
            the baseline that it does not have may be newer than the report, so dropping
            one is refused too (a run of the plugin collected it not: it is gone).

    Returns:
        The baseline's state: updated, or not-updated with the reason.
    """
    if not series:
        return _not_updated(path, refused, "no spans were captured")
    foreign = baseline_file.foreign(path)
    if foreign is not None:
        return _not_updated(path, foreign)
    # a baseline that cannot be read was not `replaced`: what it holds is unknown
    unreadable, over = _unreadable(path, tests)
    dropped = _dropped(tests)
    unconfirmed = _unconfirmed(tests) if saved else None
    unmeasured = _unmeasured(replaced, series, tests)
    reasons = [r for r in (refused, unreadable, dropped, unconfirmed, unmeasured, _lost(lost)) if r]
    if reasons and not force:
        return _not_updated(path, *reasons, "run them too" if dropped else None, remedy)
    ran = None if tests is None else tests.now
    document = baseline_file.baseline_document(series, metadata, shape, ran)
    size = len(document.encode("utf-8"))
    if size > baseline_file.MAX_FILE_BYTES:  # it could not be read back
        megabytes, limit = size / 2**20, baseline_file.MAX_FILE_BYTES // 2**20
        message = (
            f"{path}: not written: {megabytes:.0f} MB is more than a baseline may be "
            f"({limit} MB); split the suite or group by fewer attributes"
        )
        return BaselineState(path, "error", message)
    try:
        write_atomic(path, document)
    except OSError as exc:
        return BaselineState(path, "error", f"{path}: cannot write the baseline: {exc}")
    count = sum(s.count for s in series)
    message = f"baseline written to {path} ({len(series)} series, {count} spans){over}"
    forced = f", forced although: {'; '.join(reasons)}" if reasons else ""
    return BaselineState(path, "updated", message + forced)


def _not_updated(path: Path, *reasons: str | None) -> BaselineState:
    why = "; ".join(r for r in reasons if r)
    return BaselineState(path, "not-updated", f"baseline not updated: {why}")


def kept_series(
    replaced: baseline_file.SeriesFile, shape: Shape | None, ran: RanTests | None
) -> tuple[SeriesStats, ...]:
    """The series of a baseline that a run replacing it must not drop: none when the run
    is shaped otherwise (other settings reshape its series, as the gate says)."""
    if replaced.settings is None or shape is None:
        return replaced.series
    before, now = (ran.before, ran.now) if ran is not None else (frozenset(), frozenset())
    return () if differences(replaced.settings, shape, before, now) else replaced.series


def replace_hint(report: Path | None, here: Path) -> str:
    """How to replace the baseline anyway once `--llmobs-update-baseline` refused a partial
    run: promote its run report on purpose, which needs one.

    Args:
        report: the run report this run writes (--llmobs-json), if any.
        here: the folder pytest was run from, which the command is shown relative to.
    """
    if report is None:
        return "to replace it anyway: add --llmobs-json=PATH, then " + FORCE.format("PATH")
    shown = report.relative_to(here) if report.is_relative_to(here) else report
    return "to replace it anyway: " + FORCE.format(shown)


def metric_values(
    was: SeriesStats, now: SeriesStats
) -> list[tuple[str, float | None, float | None]]:
    """Every metric of a series in the baseline and in the run that replaces it: the span
    count, latency percentiles, error rate, then the means of quality scores, tokens and
    cost (None where one of them has none).

    Args:
        was: the series in the baseline.
        now: the same series in the run.
    """
    values: list[tuple[str, float | None, float | None]] = [
        ("spans", was.count, now.count),
        *((f"latency.{p}", getattr(was.latency, p), getattr(now.latency, p)) for p in LATENCY),
        ("error_rate", was.error_rate, now.error_rate),
    ]
    metrics = {metric_of(a): a for a in set(was.quality) | set(now.quality)}
    for metric in sorted(metrics, key=lambda m: (m == "cost", m.startswith("tokens"), m)):
        old, new = (s.quality.get(metrics[metric]) for s in (was, now))
        values.append(
            (metric, None if old is None else old.mean, None if new is None else new.mean)
        )
    return values
