"""A shard's result: the run recorded, not judged, with what `llmobs combine` needs to
judge it with the other shards as one run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_llmobs.analysis.findings import Findings
from pytest_llmobs.gate import baseline
from pytest_llmobs.gate.model import CaptureSummary, SeriesStats, SpanTable
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.report.result import RunResult, Shard
from pytest_llmobs.run import losses, provenance

if TYPE_CHECKING:
    from pytest_llmobs.run.session import LlmobsSession


def result(
    llmobs: LlmobsSession,
    session: pytest.Session,
    table: SpanTable,
    series: tuple[SeriesStats, ...],
    findings: Findings,
    shaped: tuple[Shape, RanTests, Mapping[str, Mapping[str, str]]],
    interrupted: bool,
    failed: list[str],
) -> RunResult:
    """The shard's result: its series with every sample, its requests, the shape of its
    series, its tests, and the digest of the baseline the combined run is judged against.

    Args:
        llmobs: the run's session object.
        session: pytest's session (how many tests failed).
        table: every span captured.
        series: the series as aggregated, every sample kept.
        findings: its slowest and lowest-scored requests, and its structure.
        shaped: what shaped its series, its test ids, and its marked tests' rules.
        interrupted: whether the run was cut short.
        failed: warnings of the analysis, if it failed.
    """
    s = llmobs.settings
    combine = f"llmobs combine {s.json} OTHER-SHARD.json... -o RUN.json"
    state = BaselineState(s.baseline, "not-compared", f"not judged alone: {combine}")
    shape, tests, marked = shaped
    return RunResult(
        series, state, warnings=(*losses.warnings(llmobs), *failed),
        metadata=provenance.metadata(llmobs.config.rootpath),
        errors=losses.errors(llmobs, table, interrupted),
        capture=CaptureSummary.of(table, s.sample_rate), findings=findings,
        ci=s.ci, ci_source=s.ci_source, settings=shape, ran=tests,
        tests_failed=session.testsfailed, interrupted=interrupted,
        shard=Shard(
            baseline.digest(s.baseline), s.slowest, s.quality_threshold,
            *_config(s.pyproject),
            s.rules.alpha, s.fail_on_inconclusive, s.fail_on_alert, s.exit_code == 0,
        ),
        marked_rules=marked,
    )  # fmt: skip


def _config(pyproject: Path | None) -> tuple[str | None, str | None]:
    """The pyproject.toml whose rules the shard read, and the sha256 of its bytes."""
    if pyproject is None or not pyproject.is_file():
        return None, None
    return str(pyproject), baseline.digest(pyproject)
