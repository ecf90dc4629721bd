"""Deciding a run's result from what its session captured: the series, the gate's
judgement against the baseline, the analysis, and the run's errors and warnings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmobs.analysis import analyze
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.analysis.findings import Findings
from pytest_llmobs.capture import transport
from pytest_llmobs.config import unmatched
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.config.unmatched import Named
from pytest_llmobs.gate import judge, promotion
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.model import CaptureSummary, Ints, SeriesKey, SeriesStats, SpanTable
from pytest_llmobs.gate.prices import SPAN_COST, costs, unpriced_notes
from pytest_llmobs.gate.rule_config import with_test_rules
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.semconv import COST_ATTRIBUTE, all_names, names_for
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.gate.stored import as_stored
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.run import asked, losses, provenance, shard, xdist

if TYPE_CHECKING:
    from pytest_llmobs.run.session import LlmobsSession


def decide(llmobs: LlmobsSession, session: pytest.Session, interrupted: bool) -> RunResult:
    """The run's result: its series judged, explained, and checked for what was lost.

    Args:
        llmobs: the run's session object, with this process' capture and the workers'.
        session: pytest's session (how many tests failed).
        interrupted: whether the run was cut short before the end of its test loop.

    Returns:
        The result the reports, the terminal summary and the exit status come from.
    """
    llmobs.installer.check_global()
    table = transport.merge([llmobs.recorder.snapshot(), *llmobs.workers.tables])
    llmobs.table = table  # for --llmobs-export-otlp, once the run is judged
    marked = llmobs.marked.merged(llmobs.workers.marked)
    s = llmobs.settings
    keys, spans, numeric, unpriced = _aggregate(s, llmobs.numeric, table, marked)
    failed: list[str] = []  # the analysis explains a verdict: it never costs one
    options = _analysis_options(s)
    findings = _optional(
        failed, Findings(), lambda: analyze.from_spans(table, keys, spans, numeric, options)
    )
    if s.shard:  # judged once combined with the other shards: every sample is kept
        shaped = (_shape(s, marked), _tests(llmobs, marked), marked.rules)
        failed += unpriced_notes(unpriced, any(COST_ATTRIBUTE in x.quality for x in spans))
        return shard.result(llmobs, session, table, spans, findings, shaped, interrupted, failed)
    # judged as the run report keeps them, so `llmobs compare` on it says the same
    series = as_stored(spans)
    metadata = provenance.metadata(llmobs.config.rootpath)
    rules = with_test_rules(s.rules, marked.rules)
    shape, tests = _shape(s, marked), _tests(llmobs, marked)
    judged = judge.judge(series, s.baseline, s.quality_attributes, rules, shape, tests, s.ci)
    comparison, state, stored = judged.comparison, judged.state, judged.stored
    found = findings
    findings = _optional(
        failed, found,
        lambda: analyze.with_comparison(found, comparison, series, stored, rules),
    )  # fmt: skip
    errors = losses.errors(llmobs, table, interrupted)
    warnings = losses.warnings(llmobs) + failed
    if s.update_baseline:  # the notes are about the file being replaced
        # the interruption adds one error of its own: is the capture incomplete besides?
        incomplete = len(errors) > interrupted
        refused = promotion.refusal(incomplete, interrupted, session.testsfailed)
        state = _promote(llmobs, judged, series, metadata, shape, tests, refused)
    else:
        warnings += judged.notes
    warnings += _unmatched(s, table, series, judged.stored, tests, marked)
    costed = any(COST_ATTRIBUTE in x.quality for x in (*series, *judged.stored))
    warnings += unpriced_notes(unpriced, costed)
    return RunResult(
        series, state, comparison, tuple(warnings), metadata, errors,
        tuple(evaluate_slos(series, rules)), s.fail_on_inconclusive,
        CaptureSummary.of(table, s.sample_rate), findings, s.fail_on_alert,
        distributions(series, stored), s.ci, s.ci_source, shape, tests,
        session.testsfailed, interrupted, s.exit_code == 0, marked_rules=marked.rules,
    )  # fmt: skip


def stopped_result(settings: Settings, why: str | None) -> RunResult:
    """The result of a run pytest stopped with a usage error before any test."""
    why = why or "a usage error (see above)"
    state = promotion.BaselineState(settings.baseline, "missing", "not compared")
    errors = (f"pytest stopped the run before any test: {why}",)
    return RunResult((), state, errors=errors, ci=settings.ci, ci_source=settings.ci_source)


def _promote(
    llmobs: LlmobsSession,
    judged: judge.Judged,
    series: tuple[SeriesStats, ...],
    metadata: Mapping[str, Any],
    shape: Shape,
    tests: RanTests,
    refused: str | None,
) -> promotion.BaselineState:
    """The run's series written as the new baseline, unless refused (--llmobs-update-baseline)."""
    s = llmobs.settings
    # the baseline read to judge is the one replaced: its test ids, series and
    # metrics must not be dropped, nor what the gate judges lost; a partial run
    # says how to replace it anyway
    ran = judged.ran or tests
    hint = promotion.replace_hint(s.json, llmobs.config.invocation_params.dir)
    return promotion.promote(series, s.baseline, metadata, refused, shape, ran,
                        judged.stored, remedy="" if refused else hint,
                        lost=judged.lost)  # fmt: skip


def _aggregate(
    settings: Settings, measured: tuple[str, ...], table: SpanTable, marked: xdist.Marks
) -> tuple[
    tuple[list[SeriesKey], Ints], tuple[SeriesStats, ...], tuple[str, ...], Mapping[str, int]
]:
    """Each span's series, the series, the numeric attributes they average, and the
    models without a price (spans of each)."""
    aliases, group_by = settings.aliases, settings.group_by
    known = all_names(measured, aliases) | {SPAN_COST}
    scored = sorted(table.numeric.keys() - known)  # llmobs.score(), evaluation results
    numeric = (*measured, *scored)
    priced = costs(table, settings.prices, aliases)
    cost = {COST_ATTRIBUTE: (priced.rows, priced.values)}
    keys = series_index(table, marked.tests, group_by, aliases)
    series = aggregate(table, numeric, marked.tests, group_by, aliases, cost, keys)
    return keys, tuple(series), numeric, priced.unpriced


def _unmatched(
    settings: Settings,
    table: SpanTable,
    series: tuple[SeriesStats, ...],
    stored: tuple[SeriesStats, ...],
    tests: RanTests,
    marked: xdist.Marks,
) -> list[str]:
    """A warning for each configured name that matched nothing the run (or its
    baseline) measured: a typo, most likely. Not when the run measured nothing, nor
    when it left tests out with no baseline to say what those would have measured."""
    left_out = tests.deselected or tests.narrowed or tests.skipped or tests.partial
    if not series or (left_out and not stored):
        return []
    named = [*settings.named]
    for test, specs in marked.rules.items():
        named += [Named("metric", (m,), f"@pytest.mark.llmobs on {test}: {m}") for m in specs]
    seen = unmatched.measured((*series, *stored), unmatched.attributes_of(table))
    return unmatched.warnings(named, seen)


def _tests(llmobs: LlmobsSession, marked: xdist.Marks) -> RanTests:
    """This run's test ids: whose body ran, selected but not run, deselected."""
    return asked.ran_tests(llmobs.config, llmobs.ran, llmobs.started, marked)


def _shape(settings: Settings, marked: xdist.Marks) -> Shape:
    """What shapes this run's series, as the baseline records it."""
    s = settings
    return Shape(
        s.quality_attributes,
        s.group_by,
        {a: names_for(a, s.aliases) for a in s.group_by},
        s.request_spans,
        tuple(sorted(marked.rules)),
    )


def _analysis_options(settings: Settings) -> analyze.Options:
    s = settings
    return analyze.Options(
        s.slowest, s.quality_threshold, s.request_spans, s.redact, dict(s.aliases), s.shard
    )


def _optional(failed: list[str], fallback: Findings, run: Callable[[], Findings]) -> Findings:
    """The analysis' findings, or the fallback with a warning when it fails on odd spans:
    the verdict and the reports must never be lost to it."""
    try:
        return run()
    except Exception as exc:
        failed.append(
            f"the analysis failed and is left out of this run: {type(exc).__name__}: {exc}"
        )
        return fallback
