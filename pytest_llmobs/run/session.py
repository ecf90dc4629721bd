"""The per-run state and hooks of `pytest --llmobs`: capture, then the gate, then the reports."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import pytest

from pytest_llmobs.capture.logs import LogCaptureInstaller
from pytest_llmobs.capture.providers import CaptureInstaller
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.export.stack import Sent, missing
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.gate.prices import SPAN_COST
from pytest_llmobs.gate.rule_config import marker_rules
from pytest_llmobs.gate.rules import RuleError
from pytest_llmobs.gate.semconv import CACHE_ATTRIBUTE, REQUEST_ID, TOKEN_METRICS, all_names
from pytest_llmobs.report import terminal, text
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.run import xdist
from pytest_llmobs.run.decide import decide, stopped_result
from pytest_llmobs.run.export import export, targets
from pytest_llmobs.run.otlp import Intake
from pytest_llmobs.run.outputs import Outputs


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
        self.table: SpanTable | None = None  # every span of the run, once it is judged
        self.sent = Sent()  # what went to the team's live stack, and what could not
        self.outputs = Outputs(settings)  # the report files and the history
        self.tests_failed = 0  # by the tests themselves, before the gate adds its own
        self.is_worker = xdist.is_worker(config)
        self.workers = xdist.WorkerCollector()
        self.marked = xdist.Marks()
        self.ran: set[str] = set()  # test ids whose body ran (under xdist: every worker's)
        self.started: set[str] = set()  # test ids that reported anything: the selected ones
        self.stopped: str | None = None  # why pytest stopped the run before any test
        self.settled = False  # services waited for before the last test's teardown
        if settings.otlp and _controller(config) and settings.otlp_endpoint[1]:
            host, port = settings.otlp_endpoint
            self._refuse(
                f"--llmobs-otlp-endpoint={host}:{port}: under pytest-xdist each worker "
                f"receives on a port of its own: give port 0 ({host}:0) or run without -n"
            )
        # services export to this process's receiver; under xdist, to each worker's own
        self.intake = (
            Intake(self.recorder, settings) if settings.otlp and not _controller(config) else None
        )

    def start(self) -> None:
        lacking = None if self.is_worker else missing(targets(self.settings))
        if lacking:  # before the tests, not after them
            self._refuse(lacking)
        if self.intake is not None:  # first: a receiver that cannot start stops the run
            try:
                self.intake.start()
            except pytest.UsageError as exc:
                self._refuse(str(exc).removeprefix("llmobs: "))
        self.installer.install()
        self.log_installer.install()
        if self.config.pluginmanager.hasplugin("xdist") and not self.is_worker:
            self.config.pluginmanager.register(self.workers, "llmobs-workers")

    def _refuse(self, message: str) -> None:
        """Stop the run before any test, its run report saying why (as a bad setting's)."""
        if self.settings.json is not None and not self.is_worker:
            from pytest_llmobs.report.run import write_error_report

            write_error_report(self.settings.json, message)
        raise pytest.UsageError(f"llmobs: {message}")

    def stop(self) -> None:
        self.installer.uninstall()
        self.log_installer.uninstall()
        if self.intake is not None:
            self.intake.stop()
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

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        """Before the last test's teardown ends the session fixtures' services: their
        last batches, which a service killed without shutting down would lose."""
        if nextitem is None and self.intake is not None:
            self.intake.settle()
            self.settled = True
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Around the test loop: when it ends normally, decide, and fail the run on a regression."""
        outcome = yield
        if self.intake is not None:  # the services' last batches, before the capture ends
            self.intake.settle(batches=not self.settled)
        if self.is_worker or _runs_no_test(self.config):
            return outcome
        self.result = decide(self, session, interrupted=False)
        self.tests_failed = session.testsfailed
        if self.result.failed:
            session.testsfailed += 1
        return outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """At the very end, even after Ctrl-C or a crash of the loop: write the run report."""
        if self.is_worker:
            self.installer.check_global()
            notes = [*self.installer.warnings, *self.recorder.notes()]
            heard, lost = None, None
            if self.intake is not None:
                notes, heard = notes + self.intake.warnings(), self.intake.heard()
                lost = self.intake.errors()
            uncaptured, service = self.installer.uncaptured, self.installer.service_name
            xdist.publish(
                self.config, self.recorder, notes, self.marked, uncaptured, heard, lost, service
            )
            return
        if _runs_no_test(self.config):  # nothing to judge
            return
        interrupted = self.result is None
        if self.result is None and session.exitstatus == pytest.ExitCode.USAGE_ERROR:
            # a bad marker or -k: nothing to judge or show
            self.result = stopped_result(self.settings, self.stopped)
        if self.result is None:
            self.result = decide(self, session, interrupted=True)
        self.result = replace(self.result, warnings=(*self.result.warnings, *self._late()))
        self.outputs.write(self.result, keep=not interrupted)
        if targets(self.settings).wanted:  # after the reports: a backend costs them nothing
            service = self.installer.service_name or self.workers.service_name
            self.sent = export(self.settings, self.result, self.table, service)
        gate_only = self.result.failed and self.tests_failed == 0
        if gate_only and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = self.settings.exit_code  # pytest.exit(returncode=0) too
        unwritten = self.result.shard is not None and self.settings.json not in self.outputs.written
        if unwritten and session.exitstatus == pytest.ExitCode.OK:  # a shard is its report
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _late(self) -> list[str]:
        """What arrived after the run was judged (from threads the tests left running, or
        services still exporting), which no check counted."""
        late, records = self.recorder.late, self.recorder.late_evaluations
        said = [f"{late} span(s) ended after the run was judged: not counted"] if late else []
        if records:
            said.append(
                f"{records} evaluation result(s) arrived after the run was judged: not counted"
            )
        return said

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """After pytest's own summary: the llmobs table and verdict."""
        if self.result is None:
            return
        red = self.result.failed
        terminalreporter.write_sep("=", text.title(self.result), red=red, green=not red)
        # every check with pytest's -v or --llmobs-verbose; the width pytest writes to
        verbose = self.settings.verbose or self.config.get_verbosity() > 0
        width = self.config.get_terminal_writer().fullwidth
        for line in terminal.summary_lines(self.result, width, verbose):
            terminalreporter.write_line(line)
        if self.outputs.written:
            terminalreporter.write_line("reports: " + ", ".join(map(str, self.outputs.written)))
        for error in self.outputs.errors:
            terminalreporter.write_line(f"error: {error}", red=True)
        if self.sent.done:
            terminalreporter.write_line("exported: " + "; ".join(self.sent.done))
        for failure in self.sent.failed:
            terminalreporter.write_line(f"export failed: {failure}", yellow=True)
        if self.sent.withheld:
            terminalreporter.write_line(f"not exported: {self.sent.withheld}", yellow=True)


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


def _controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to xdist workers (which receive instead)."""
    workers = getattr(config.option, "numprocesses", None)
    return (
        bool(workers)
        and getattr(config.option, "dist", "no") != "no"
        and not xdist.is_worker(config)
    )
