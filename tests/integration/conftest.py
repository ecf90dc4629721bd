"""Run real suites in a fresh interpreter: OpenTelemetry's global provider can be set only once."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests.conftest import REMOVED_IN_10, read_report
from tests.integration import phoenix_server
from tests.integration.repo import Repo
from tests.integration.suites import make_suite


def pytest_collection_finish(session: pytest.Session) -> None:
    """When a test needs Phoenix: its venv (a minute of pip on a new machine) is built
    while the tests before it run."""
    if any("phoenix" in getattr(item, "fixturenames", ()) for item in session.items):
        phoenix_server.build_in_background()


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs inside GitHub Actions must not append their summaries to the real job summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(autouse=True)
def _same_warning_filters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suites a test runs see this run's -W filters and the suite's own filter that
    # makes pytest 10's removals errors; pytester drops PYTEST_ADDOPTS, so set it after
    # pytester.
    filters = [
        *(request.config.getoption("pythonwarnings") or []),
        *(f for f in request.config.getini("filterwarnings") if f == REMOVED_IN_10),
    ]
    if not filters:
        return
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
    addopts = (shlex.quote(f"--pythonwarnings={f}") for f in filters)
    monkeypatch.setenv("PYTEST_ADDOPTS", " ".join(addopts))


@pytest.fixture
def run_llmobs(pytester: pytest.Pytester) -> Any:
    """Run the suite in pytester's folder with --llmobs; return the result and the run report."""

    def run(*args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
        result = pytester.runpytest_subprocess(
            "--llmobs", "--llmobs-json", "report.json", "-p", "no:cacheprovider", *args
        )
        return result, read_report(pytester)

    return run


@pytest.fixture
def recorded(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    """The generated suite, with its baseline recorded."""
    make_suite(pytester)
    result, report = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0
    assert report["baseline"]["status"] == "updated"
    assert (pytester.path / ".llmobs" / "baseline.json").is_file()


@pytest.fixture
def repo(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository folder with its own pytest table, the generated suite in suite/."""
    return Repo(pytester, monkeypatch)
