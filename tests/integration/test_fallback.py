"""What the recording fallback does to an app that sets no TracerProvider, and
`--llmobs-no-fallback`, which leaves such an app unconfigured and says what it lost."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import counts

# The app's view of its span, written where the outer test can read it.
SEEN = """
import json
from opentelemetry import trace
from opentelemetry.propagate import inject

tracer = trace.get_tracer("app")  # taken at import, before anything is configured

def test_request():
    with tracer.start_as_current_span("llm_request") as span:
        headers = {}
        inject(headers)  # as an HTTP client instrumentation does for an outgoing request
        seen = {
            "recording": span.is_recording(),
            "headers": headers,
            "trace_id": format(span.get_span_context().trace_id, "032x"),
            "span_id": format(span.get_span_context().span_id, "016x"),
            "proxy": isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider),
            "exactly_proxy": type(trace.get_tracer_provider()) is trace.ProxyTracerProvider,
        }
    with open("seen.json", "w") as fh:
        json.dump(seen, fh)
"""

UNCAPTURED = "1 span(s) were started while the app had no TracerProvider and were not captured"


def _seen(pytester: pytest.Pytester) -> dict[str, Any]:
    seen: dict[str, Any] = json.loads((pytester.path / "seen.json").read_text())
    return seen


def test_the_fallback_makes_spans_record_and_propagate(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    # What the README documents: without a provider, spans are real SDK spans
    pytester.makepyfile(test_app=SEEN)
    result, report = run_llmobs()
    assert result.ret == 0
    seen = _seen(pytester)
    assert seen["recording"] is True
    traceparent = f"00-{seen['trace_id']}-{seen['span_id']}-"
    assert set(seen["headers"]) == {"traceparent"}
    assert re.fullmatch(re.escape(traceparent) + "[0-9a-f]{2}", seen["headers"]["traceparent"])
    assert seen["trace_id"] != "0" * 32
    # still an OpenTelemetry proxy to `isinstance`, though not the proxy itself
    assert seen["proxy"] is True
    assert seen["exactly_proxy"] is False
    assert counts(report) == {"llm_request": 1}
    assert report["warnings"] == []


@pytest.mark.parametrize("source", ["flag", "ini", "pyproject"])
def test_no_fallback_leaves_the_app_unconfigured(
    pytester: pytest.Pytester, run_llmobs: Any, source: str
) -> None:
    pytester.makepyfile(test_app=SEEN)
    args = ["--llmobs-no-fallback"] if source == "flag" else []
    if source == "ini":
        pytester.makeini("[pytest]\nllmobs_no_fallback = true\n")
    if source == "pyproject":
        pytester.makepyprojecttoml("[tool.llmobs]\nno_fallback = true\n")
    result, report = run_llmobs(*args)
    seen = _seen(pytester)
    assert seen["recording"] is False
    assert seen["headers"] == {}
    assert seen["trace_id"] == "0" * 32
    assert seen["exactly_proxy"] is True
    # nothing was captured, and the run says why instead of passing quietly
    assert report["series"] == []
    [warning] = report["warnings"]
    assert warning.startswith(UNCAPTURED)
    assert "--llmobs-no-fallback" in warning
    result.stdout.fnmatch_lines(["no spans were captured", f"warning: {UNCAPTURED}*"])


MANY = """
import pytest
from opentelemetry import trace

@pytest.mark.parametrize("i", range(20))
def test_request(i):
    with trace.get_tracer("app").start_as_current_span("llm_request"):
        pass
"""


@pytest.mark.parametrize("judged_on", ["baseline", "CI mode", "no baseline", "a 1-case baseline"])
def test_no_fallback_run_with_nothing_captured_does_not_pass(
    pytester: pytest.Pytester, run_llmobs: Any, judged_on: str
) -> None:
    pytester.makepyfile(test_app=MANY)
    if judged_on in ("baseline", "a 1-case baseline"):
        only = ["-k", "test_request[0]"] if judged_on == "a 1-case baseline" else []
        _, report = run_llmobs("--llmobs-update-baseline", *only)
        assert report["baseline"]["status"] == "updated"
    ci = ["--llmobs-ci"] if judged_on == "CI mode" else []
    result, report = run_llmobs("--llmobs-no-fallback", *ci)
    assert result.ret == 1
    assert report["verdict"] == "error"
    assert report["series"] == []
    assert report["errors"][0].startswith("no span was captured: with --llmobs-no-fallback")
    assert any(w.startswith(UNCAPTURED.replace("1 span", "20 span")) for w in report["warnings"])


APP_SETS_ITS_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

tracer = trace.get_tracer(__name__)

def test_before_the_app_configures():
    with tracer.start_as_current_span("early") as span:
        assert not span.is_recording()

def test_after_the_app_configures():
    trace.set_tracer_provider(TracerProvider())  # in a test module: never on the controller
    for _ in range(3):
        with tracer.start_as_current_span("late") as span:
            assert span.is_recording()
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadfile"]])
def test_no_fallback_still_captures_the_apps_own_provider(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    pytester.makepyfile(test_app=APP_SETS_ITS_PROVIDER)
    result, report = run_llmobs("--llmobs-no-fallback", *workers)
    result.assert_outcomes(passed=2)
    assert counts(report) == {"late": 3}
    # the one span before the app configured is counted, once, where it was started
    [warning] = report["warnings"]
    assert UNCAPTURED in warning
    assert re.match(r"gw\d: " if workers else re.escape(UNCAPTURED), warning)


# An app that configures OpenTelemetry itself, before any test: nothing is lost to the
# no-op tracer, whatever the tests do.
APP_CONFIGURED_FIRST = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
"""

NO_SPANS = """
import pytest

@pytest.mark.parametrize("i", range(4))
def test_parsing(i):
    assert int(str(i)) == i
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_no_fallback_passes_tests_that_start_no_span(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    # the error is for spans lost to the no-op tracer, not for a run that made none
    pytester.makeconftest(APP_CONFIGURED_FIRST)
    pytester.makepyfile(test_app=MANY, test_other=NO_SPANS)
    result, report = run_llmobs("--llmobs-no-fallback", "-k", "parsing", *workers)
    result.assert_outcomes(passed=4)
    assert result.ret == 0, result.outlines
    assert report["verdict"] == "pass"
    assert (report["errors"], report["warnings"]) == ([], [])


@pytest.mark.parametrize("workers", [[], ["-n", "2"]])
def test_no_fallback_fails_on_spans_lost_in_any_process(
    pytester: pytest.Pytester, run_llmobs: Any, workers: list[str]
) -> None:
    # the app sets no provider: the workers' lost spans reach the controller's verdict
    pytester.makepyfile(test_app=MANY, test_other=NO_SPANS)
    result, report = run_llmobs("--llmobs-no-fallback", *workers)
    assert result.ret == 1
    assert report["verdict"] == "error"
    assert report["errors"] == [
        "no span was captured: with --llmobs-no-fallback, the 20 span(s) your app started "
        "before it set a TracerProvider were not recorded; set one before the tests start "
        "spans, or drop the option"
    ]


# Only start_as_current_span, as a context manager and as a decorator: before API 1.40
# the no-op tracer yields its span without going through start_span.
CURRENT_SPANS_ONLY = """
import asyncio
from opentelemetry import trace

tracer = trace.get_tracer("app")

@tracer.start_as_current_span("llm_request")
def ask():
    with tracer.start_as_current_span("llm_inference") as span:
        assert not span.is_recording()
        return 42

@tracer.start_as_current_span("llm_async_request")
async def ask_async():
    return 43

def test_ask():
    assert ask() == 42
    assert ask() == 42
    assert asyncio.run(ask_async()) == 43
"""


def test_no_fallback_counts_spans_started_as_current_once(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_app=CURRENT_SPANS_ONLY)
    result, report = run_llmobs("--llmobs-no-fallback")
    result.assert_outcomes(passed=1)
    [warning] = report["warnings"]
    assert warning.startswith(UNCAPTURED.replace("1 span", "5 span"))
    assert report["errors"][0].startswith("no span was captured: with --llmobs-no-fallback, the 5")
