"""Shared helpers: span factories for unit tests and a runner for pytester suites."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from pytest_llmobs.gate.aggregate import summarize_latency
from pytest_llmobs.gate.model import QualitySummary, SeriesKey, SeriesStats

# What pytest 10 removes is an error in this suite, and in the suites its tests run
# (tests/integration/conftest.py passes the filter on): the plugin must use no API that
# pytest deprecates. pytest before 9 has no such warning class.
REMOVED_IN_10 = "error::pytest.PytestRemovedIn10Warning"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(pytest, "PytestRemovedIn10Warning"):
        config.addinivalue_line("filterwarnings", REMOVED_IN_10)


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI mode defaults to on where CI is set: runs here pin it off, tests of CI mode set it
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under `pytest -n`, the suites a test runs in subprocesses would inherit the worker's
    # variables and take themselves for xdist workers (pytest-benchmark, where installed,
    # then warns, which -W error turns into an internal error)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


def make_series(
    name: str,
    latencies: Sequence[float],
    errors: int = 0,
    quality: Mapping[str, Sequence[float]] | None = None,
    cases: Sequence[str] | None = None,
) -> SeriesStats:
    """A SeriesStats built from raw samples, as aggregate() would build it.

    `cases` names the test case of each sample (latency and quality alike).
    """
    samples = np.asarray(latencies, dtype=np.float64)
    scores = {k: np.asarray(v, dtype=np.float64) for k, v in (quality or {}).items()}
    case_info: dict[str, Any] = {}
    if cases is not None:
        names = tuple(dict.fromkeys(cases))
        index = np.array([names.index(c) for c in cases], dtype=np.int64)
        case_info = {
            "cases": names,
            "latency_case": index,
            "quality_case": dict.fromkeys(scores, index),
        }
    return SeriesStats(
        key=SeriesKey(name),
        count=len(samples),
        errors=errors,
        latency=summarize_latency(samples),
        quality={k: QualitySummary(len(v), float(np.mean(v))) for k, v in scores.items()},
        latency_samples=samples,
        quality_samples=scores,
        **case_info,
    )


def read_report(pytester: pytest.Pytester, name: str = "report.json") -> dict[str, Any]:
    """The run report a pytester run wrote to its working folder."""
    with (pytester.path / name).open(encoding="utf-8") as fh:
        report: dict[str, Any] = json.load(fh)
    return report


def counts(report: dict[str, Any]) -> dict[str, int]:
    """Span count per series name in a run report."""
    return {s["name"]: s["count"] for s in report["series"]}


def verdicts(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Verdict per (series, metric) in a run report."""
    return {(c["series"], c["metric"]): c["verdict"] for c in report["checks"]}
