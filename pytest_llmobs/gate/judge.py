"""The gate's decision for a run: compare with the baseline, or promote the run to baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_llmobs import __version__
from pytest_llmobs.gate import baseline as baseline_file
from pytest_llmobs.gate import shape as shapes
from pytest_llmobs.gate.compare import Comparison, compare
from pytest_llmobs.gate.coverage import Absence
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.rules import Rules
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.shape import Shape


@dataclass(frozen=True)
class Judged:
    """What `judge` found: the comparison (None without a usable baseline), the baseline's
    state, its series (none without a usable baseline), notes for the warnings, and the
    run's test ids with the baseline's (`before`) when the baseline was read."""

    comparison: Comparison | None
    state: BaselineState
    stored: tuple[SeriesStats, ...] = ()
    notes: tuple[str, ...] = ()
    ran: RanTests | None = None

    @property
    def lost(self) -> tuple[Absence, ...]:
        """The baseline's series and metrics this run lost, which fail the gate: an update
        from this run is refused for them too."""
        return self.comparison.lost if self.comparison is not None else ()


def judge(
    series: Sequence[SeriesStats],
    path: Path,
    quality_attributes: Sequence[str] = (),
    rules: Rules | None = None,
    shape: Shape | None = None,
    tests: RanTests | None = None,
    ci: bool = False,
) -> Judged:
    """Compare series with the baseline at path, failing closed on a bad file or on a
    baseline recorded with settings that shape series otherwise.

    SLOs need no baseline: `compare.evaluate_slos` judges them.

    Args:
        series: this run's series.
        path: the baseline file.
        quality_attributes: quality attributes to check.
        rules: tolerances and alpha.
        shape: what shaped this run's series, checked against the baseline's record.
        tests: this run's test ids (`before` is filled from the baseline); with them, what
            the baseline holds and this run did not measure is judged too.
        ci: CI mode, which words a missing baseline as the failure it then is.
    """
    try:
        stored = baseline_file.load(path, schemas=(baseline_file.BASELINE_SCHEMA,))
    except FileNotFoundError:
        return Judged(None, BaselineState(path, "missing", _no_baseline(path, ci)))
    except baseline_file.BaselineError as exc:
        return Judged(None, BaselineState(path, "error", str(exc)))
    return against(stored, series, quality_attributes, rules, shape, tests)


def against(
    stored: baseline_file.SeriesFile,
    series: Sequence[SeriesStats],
    quality_attributes: Sequence[str] = (),
    rules: Rules | None = None,
    shape: Shape | None = None,
    tests: RanTests | None = None,
) -> Judged:
    """Judge series against a loaded baseline (see `judge`)."""
    path = stored.path
    ran = replace(tests, before=tests_of(stored)) if tests is not None else None
    notes = _notes(stored, shape is not None)
    # with no test in common, that is what to say; the settings may differ for that reason
    if shape is not None and stored.settings is not None and not (ran and ran.failures()):
        before, now = (ran.before, ran.now) if ran is not None else (frozenset(), frozenset())
        differ = shapes.differences(stored.settings, shape, before, now)
        if differ:
            message = f"{path}: " + "; ".join(differ) + f": {shapes.REMEDY}"
            return Judged(None, BaselineState(path, "error", message), (), notes, ran)
    checks = compare(series, stored.series, quality_attributes, rules, tests=ran)
    state = BaselineState(path, "loaded", f"compared with {path}")
    return Judged(checks, state, stored.series, notes, ran)


def tests_of(stored: baseline_file.SeriesFile) -> frozenset[str]:
    """The test ids that ran when a baseline or run report was recorded (in older files:
    those that made spans)."""
    if stored.tests is not None:
        return stored.tests
    return frozenset(c for s in stored.series for c in s.cases) - {""}


def _no_baseline(path: Path, ci: bool) -> str:
    # a path of another name is given somewhere: the command that records it names it
    named = "" if path.parts[-2:] == (".llmobs", "baseline.json") else f" --llmobs-baseline={path}"
    record = f"record one with `pytest --llmobs --llmobs-update-baseline{named}` and commit it"
    if ci:
        return (
            f"no baseline at {path}, and CI mode fails without one: {record} "
            "(on a known-good commit), or point --llmobs-baseline=PATH at it"
        )
    return f"no baseline at {path}: {record}"


def _notes(stored: baseline_file.SeriesFile, shaped: bool) -> tuple[str, ...]:
    notes = []
    if shaped and stored.settings is None:
        notes.append(
            f"{stored.path} does not record the settings that shaped it (written by an older "
            "pytest-llmobs): a change of quality_attributes or group_by cannot be caught; "
            "re-record it with --llmobs-update-baseline"
        )
    version = stored.metadata.get("plugin_version")
    if isinstance(version, str) and version != __version__:
        notes.append(
            f"{stored.path} was recorded with pytest-llmobs {version}, this is {__version__}"
        )
    return tuple(notes)
