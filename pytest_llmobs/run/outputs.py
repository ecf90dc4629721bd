"""Writing a run's outputs: its reports (run report, JUnit XML, Markdown, dashboard, the
GitHub job summary) and its line in the history."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pytest_llmobs.config.settings import Settings
from pytest_llmobs.report import history
from pytest_llmobs.report.html import write_html
from pytest_llmobs.report.junit import write_junit_xml
from pytest_llmobs.report.markdown import append_markdown, write_markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import write_run_report


class Outputs:
    """The files a run writes: those written, and why others could not be."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written: list[Path] = []
        self.errors: list[str] = []

    def write(self, result: RunResult, keep: bool) -> None:
        """Record the run in the history (unless `keep` is false), then write its reports.

        Args:
            result: the run's result.
            keep: whether the run goes into the history (an interrupted one does not).
        """
        runs = self._history(result, keep)
        self._reports(result, runs)

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
            self.errors.append(str(exc))
            return []

    def _reports(self, result: RunResult, runs: list[history.Run]) -> None:
        outputs: list[tuple[Path | None, str, Callable[[Path, RunResult], None]]] = [
            (self.settings.json, "run report", write_run_report),
            (self.settings.junitxml, "JUnit XML", write_junit_xml),
            (self.settings.markdown, "Markdown summary", write_markdown),
            (self.settings.html, "dashboard", partial(write_html, history=runs)),
        ]
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and result.shard is None:  # a shard's verdict comes once combined
            outputs.append((Path(summary), "GitHub job summary", append_markdown))
        for path, what, write in outputs:
            if path is None:
                continue
            try:
                write(path, result)
            except OSError as exc:
                self.errors.append(f"{path}: cannot write the {what}: {exc}")
            else:
                self.written.append(path)
