"""The per-run state of `pytest --llmobs`: capture, then the gate, then the reports."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs import unmatched
from pytest_llmobs.analysis import analyze as analysis
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.analysis.findings import Findings
from pytest_llmobs.capture import transport
from pytest_llmobs.capture.logs import LogCaptureInstaller
from pytest_llmobs.capture.providers import CaptureInstaller
from pytest_llmobs.capture.recorder import UNREADABLE, SpanRecorder
from pytest_llmobs.gate import judge as gate
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.model import CaptureSummary, Ints, SeriesKey, SeriesStats, SpanTable
from pytest_llmobs.gate.prices import SPAN_COST, costs, unpriced_notes
from pytest_llmobs.gate.rule_config import marker_rules, with_test_rules
from pytest_llmobs.gate.rules import RuleError
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.semconv import (
    CACHE_ATTRIBUTE,
    COST_ATTRIBUTE,
    REQUEST_ID,
    TOKEN_METRICS,
    all_names,
    names_for,
)
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.gate.stored import as_stored
from pytest_llmobs.report import history, provenance, terminal, text
from pytest_llmobs.report.html import write_html
from pytest_llmobs.report.junit import write_junit_xml
from pytest_llmobs.report.markdown import append_markdown, write_markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import write_run_report
from pytest_llmobs.run import asked, xdist
from pytest_llmobs.settings import Settings
from pytest_llmobs.unmatched import Named


class LlmobsSession:
    """Captures spans during the session and turns them into a verdict at its end."""

    def __init__(
        self, config: pytest.Config, settings: Settings, find_existing: bool = True
    ) -> None:
        self.config = config
        self.settings = settings
        # quality scores and token counts; each is captured under any of its names
        self.numeric = (*settings.quality_attributes, *TOKEN_METRICS.values())
        self.recorder = SpanRecorder(
            sorted(all_names(self.numeric, settings.aliases) | {SPAN_COST}),
            settings.sample_rate,
            all_names((*settings.group_by, CACHE_ATTRIBUTE, REQUEST_ID), settings.aliases),
        )
        self.installer = CaptureInstaller(self.recorder, find_existing, not settings.no_fallback)
        self.log_installer = LogCaptureInstaller(self.recorder, find_existing)
        self.result: RunResult | None = None
        self.report_errors: list[str] = []
        self.written: list[Path] = []
        self.tests_failed = 0  # by the tests themselves, before the gate adds its own
        self.is_worker = xdist.is_worker(config)
        self.workers = xdist.WorkerCollector()
        self.marked = xdist.Marks()
        self.ran: set[str] = set()  # test ids whose body ran (under xdist: every worker's)
        self.started: set[str] = set()  # test ids that reported anything: the selected ones
        self.stopped: str | None = None  # why pytest stopped the run before any test

    def start(self) -> None:
        self.installer.install()
        self.log_installer.install()
        if self.config.pluginmanager.hasplugin("xdist") and not self.is_worker:
            self.config.pluginmanager.register(self.workers, "llmobs-workers")

    def stop(self) -> None:
        self.installer.uninstall()
        self.log_installer.uninstall()
        if self.config.pluginmanager.is_registered(self.workers):
            self.config.pluginmanager.unregister(self.workers)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """After collection: the rules of tests marked @pytest.mark.llmobs(...)."""
        for item in items:
            marker = item.get_closest_marker("llmobs")
            if marker is None:
                continue
            # all parametrized cases of the test function share one series of their own
            name = getattr(item, "originalname", item.name)
            function = item.nodeid[: len(item.nodeid) - len(item.name)] + name
            try:
                self.marked.rules[function] = marker_rules(marker.args, marker.kwargs, function)
            except RuleError as exc:
                self.stopped = str(exc)
                raise pytest.UsageError(f"llmobs: {exc}") from None
            self.marked.tests[item.nodeid] = function

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """After collection and deselection: the tests this run selected."""
        self.marked.collected.update(item.nodeid for item in session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """After collecting a file: one skipped whole (allow_module_level) was not judged."""
        if report.skipped:
            self.marked.skipped_files.add(report.nodeid.partition("::")[0])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Before each test: spans that start from now on belong to it."""
        self.installer.check_global()
        self.log_installer.check_global()
        self.recorder.mark_test(nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self) -> None:
        """After each test's teardown: later spans belong to no test."""
        self.recorder.mark_test(None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """After each test phase: remember the tests whose body ran (not skipped before)."""
        self.started.add(report.nodeid)
        if report.when == "call" and (not report.skipped or hasattr(report, "wasxfail")):
            self.ran.add(report.nodeid)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """When -k, -m, --deselect or --lf leave tests out: they were not asked for."""
        self.marked.deselected.update(item.nodeid for item in items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Around the test loop: when it ends normally, decide, and fail the run on a regression."""
        outcome = yield
        if self.is_worker or _runs_no_test(self.config):
            return outcome
        self.result = self._decide(session, interrupted=False)
        self.tests_failed = session.testsfailed
        if self.result.verdict != "pass":
            session.testsfailed += 1
        return outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """At the very end, even after Ctrl-C or a crash of the loop: write the run report."""
        if self.is_worker:
            self.installer.check_global()
            notes = [*self.installer.warnings, *self.recorder.notes()]
            xdist.publish(self.config, self.recorder, notes, self.marked, self.installer.uncaptured)
            return
        if _runs_no_test(self.config):  # nothing to judge
            return
        interrupted = self.result is None
        if self.result is None and session.exitstatus == pytest.ExitCode.USAGE_ERROR:
            self.result = self._stopped()  # a bad marker or -k: nothing to judge or show
        if self.result is None:
            self.result = self._decide(session, interrupted=True)
        if self.recorder.late:  # e.g. from threads the tests left running
            late = f"{self.recorder.late} span(s) ended after the run was judged: not counted"
            self.result = replace(self.result, warnings=(*self.result.warnings, late))
        runs = self._history(self.result, keep=not interrupted)
        self._write_reports(self.result, runs)
        gate_only = self.result.verdict != "pass" and self.tests_failed == 0
        if gate_only and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = self.settings.exit_code  # pytest.exit(returncode=0) too

    def _history(self, result: RunResult, keep: bool) -> list[history.Run]:
        """Append this run to the history (unless interrupted); the runs for the dashboard."""
        path = self.settings.history
        if path is None:
            return []
        try:
            if keep and result.series:
                meta = result.metadata
                history.append(
                    path, str(meta.get("created_at", "")), meta.get("git_commit"),
                    result.verdict, result.series,
                )  # fmt: skip
                self.written.append(path)
            # the runs are read back only for the dashboard's trends
            return history.load(path) if self.settings.html is not None else []
        except FileNotFoundError:
            return []
        except history.HistoryError as exc:
            self.report_errors.append(str(exc))
            return []

    def _write_reports(self, result: RunResult, runs: list[history.Run]) -> None:
        outputs: list[tuple[Path | None, str, Callable[[Path, RunResult], None]]] = [
            (self.settings.json, "run report", write_run_report),
            (self.settings.junitxml, "JUnit XML", write_junit_xml),
            (self.settings.markdown, "Markdown summary", write_markdown),
            (self.settings.html, "dashboard", partial(write_html, history=runs)),
        ]
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            outputs.append((Path(summary), "GitHub job summary", append_markdown))
        for path, what, write in outputs:
            if path is None:
                continue
            try:
                write(path, result)
            except OSError as exc:
                self.report_errors.append(f"{path}: cannot write the {what}: {exc}")
            else:
                self.written.append(path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """After pytest's own summary: the llmobs table and verdict."""
        if self.result is None:
            return
        red = self.result.verdict != "pass"
        terminalreporter.write_sep("=", text.title(self.result), red=red, green=not red)
        # every check with pytest's -v or --llmobs-verbose; the width pytest writes to
        verbose = self.settings.verbose or self.config.get_verbosity() > 0
        width = self.config.get_terminal_writer().fullwidth
        for line in terminal.summary_lines(self.result, width, verbose):
            terminalreporter.write_line(line)
        if self.written:
            terminalreporter.write_line("reports: " + ", ".join(map(str, self.written)))
        for error in self.report_errors:
            terminalreporter.write_line(f"error: {error}", red=True)

    def _decide(self, session: pytest.Session, interrupted: bool) -> RunResult:
        self.installer.check_global()
        table = transport.merge([self.recorder.snapshot(), *self.workers.tables])
        marked = self.marked.merged(self.workers.marked)
        keys, spans, numeric, unpriced = self._aggregate(table, marked)
        failed: list[str] = []  # the analysis explains a verdict: it never costs one
        options = self._analysis_options()
        findings = _optional(
            failed, Findings(), lambda: analysis.from_spans(table, keys, spans, numeric, options)
        )
        # judged as the run report keeps them, so `llmobs compare` on it says the same
        series = as_stored(spans)
        s = self.settings
        metadata = provenance.metadata(self.config.rootpath)
        rules = with_test_rules(s.rules, marked.rules)
        shape, tests = self._shape(marked), self._tests(marked)
        judged = gate.judge(series, s.baseline, s.quality_attributes, rules, shape, tests, s.ci)
        comparison, state, stored = judged.comparison, judged.state, judged.stored
        found = findings
        findings = _optional(
            failed, found,
            lambda: analysis.with_comparison(found, comparison, series, stored, rules),
        )  # fmt: skip
        # Never judge or record partial data: a worker's missing spans fail the gate, and
        # so does a run cut short (what it did not run was not judged)
        errors = tuple(f"incomplete capture: {e}" for e in self.workers.errors)
        errors += self._unreadable() + self._nothing_captured(table)
        if interrupted:
            errors += ("the session was interrupted: the tests it did not run were not judged",)
        warnings = self._warnings() + failed
        if s.update_baseline:  # the notes are about the file being replaced
            # the interruption adds one error of its own: is the capture incomplete besides?
            incomplete = len(errors) > interrupted
            refused = gate.refusal(incomplete, interrupted, session.testsfailed)
            # the baseline read to judge is the one replaced: its test ids, series and
            # metrics must not be dropped, nor what the gate judges lost; a partial run
            # says how to replace it anyway
            ran = judged.ran or tests
            hint = gate.replace_hint(s.json, self.config.invocation_params.dir)
            state = gate.promote(series, s.baseline, metadata, refused, shape, ran,
                                 judged.stored, remedy="" if refused else hint,
                                 lost=judged.lost)  # fmt: skip
        else:
            warnings += judged.notes
        warnings += self._unmatched(table, series, judged.stored, tests, marked)
        costed = any(COST_ATTRIBUTE in x.quality for x in (*series, *judged.stored))
        warnings += unpriced_notes(unpriced, costed)
        return RunResult(
            series, state, comparison, tuple(warnings), metadata, errors,
            tuple(evaluate_slos(series, rules)), s.fail_on_inconclusive,
            CaptureSummary.of(table, s.sample_rate), findings, s.fail_on_alert,
            distributions(series, stored), s.ci, s.ci_source, shape, tests,
            session.testsfailed, interrupted, s.exit_code == 0,
        )  # fmt: skip

    def _stopped(self) -> RunResult:
        """The result of a run pytest stopped with a usage error before any test."""
        why = self.stopped or "a usage error (see above)"
        state = gate.BaselineState(self.settings.baseline, "missing", "not compared")
        errors = (f"pytest stopped the run before any test: {why}",)
        return RunResult((), state, errors=errors, ci=self.settings.ci,
                              ci_source=self.settings.ci_source)  # fmt: skip

    def _aggregate(
        self, table: SpanTable, marked: xdist.Marks
    ) -> tuple[
        tuple[list[SeriesKey], Ints], tuple[SeriesStats, ...], tuple[str, ...], Mapping[str, int]
    ]:
        """Each span's series, the series, the numeric attributes they average, and the
        models without a price (spans of each)."""
        aliases, group_by = self.settings.aliases, self.settings.group_by
        known = all_names(self.numeric, aliases) | {SPAN_COST}
        scored = sorted(table.numeric.keys() - known)  # llmobs.score(), evaluation results
        numeric = (*self.numeric, *scored)
        priced = costs(table, self.settings.prices, aliases)
        cost = {COST_ATTRIBUTE: (priced.rows, priced.values)}
        keys = series_index(table, marked.tests, group_by, aliases)
        series = aggregate(table, numeric, marked.tests, group_by, aliases, cost, keys)
        return keys, tuple(series), numeric, priced.unpriced

    def _unmatched(
        self,
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
        named = [*self.settings.named]
        for test, specs in marked.rules.items():
            named += [Named("metric", (m,), f"@pytest.mark.llmobs on {test}: {m}") for m in specs]
        seen = unmatched.measured((*series, *stored), unmatched.attributes_of(table))
        return unmatched.warnings(named, seen)

    def _warnings(self) -> list[str]:
        """What could not be captured, from this process and the workers, and what
        about the configuration deserves a word."""
        skipped = self._skipped()
        warnings = [*self.settings.notes, *self.installer.warnings, *self.recorder.notes()]
        warnings += self.workers.warnings
        return warnings + [f"{n} span(s) skipped: {why}" for why, n in sorted(skipped.items())]

    def _skipped(self) -> Counter[str]:
        return self.recorder.skipped + Counter(self.workers.skipped)

    def _unreadable(self) -> tuple[str, ...]:
        """Spans ended but could not be read: their series would be judged on the rest,
        or reported missing and pass, so the gate fails closed."""
        lost = {why: n for why, n in self._skipped().items() if why.startswith(UNREADABLE)}
        if not lost:
            return ()
        why = "; ".join(f"{n} {what}" for what, n in sorted(lost.items()))
        return (
            f"{sum(lost.values())} span(s) could not be read ({why}): the series they "
            "belong to cannot be judged",
        )

    def _nothing_captured(self, table: SpanTable) -> tuple[str, ...]:
        """Tests ran and started spans, but no span was captured, because there was no
        fallback to capture them: a pass would be by accident. Tests that start no span
        at all (an app that set its own provider, tests of other parts) pass as ever."""
        lost = self.installer.uncaptured + self.workers.uncaptured
        if not self.settings.no_fallback or len(table) or not self.ran or not lost:
            return ()
        return (
            f"no span was captured: with --llmobs-no-fallback, the {lost} span(s) your app "
            "started before it set a TracerProvider were not recorded; set one before the "
            "tests start spans, or drop the option",
        )

    def _tests(self, marked: xdist.Marks) -> RanTests:
        """This run's test ids: whose body ran, selected but not run, deselected."""
        return asked.ran_tests(self.config, self.ran, self.started, marked)

    def _shape(self, marked: xdist.Marks) -> Shape:
        """What shapes this run's series, as the baseline records it."""
        s = self.settings
        return Shape(
            s.quality_attributes,
            s.group_by,
            {a: names_for(a, s.aliases) for a in s.group_by},
            s.request_spans,
            tuple(sorted(marked.rules)),
        )

    def _analysis_options(self) -> analysis.Options:
        s = self.settings
        return analysis.Options(
            s.slowest, s.quality_threshold, s.request_spans, s.redact, dict(s.aliases)
        )


# The options (by dest) of runs that run no test body yet hold a session: --collect-only,
# --setup-only and --setup-plan (which sets setuponly), --fixtures, --fixtures-per-test
# and --cache-show (run through pytest's wrap_session). --markers, --help and -VV hold
# none, so they never reach the gate.
_NO_TEST_OPTIONS = (
    "collectonly",
    "setuponly",
    "showfixtures",
    "show_fixtures_per_test",
    "cacheshow",
)


def _runs_no_test(config: pytest.Config) -> bool:
    """Whether the run runs no test body: then there is nothing to judge or record, and
    no gate."""
    return any(config.getoption(dest, None) for dest in _NO_TEST_OPTIONS)


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
