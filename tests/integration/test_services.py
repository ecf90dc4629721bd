"""Services under test (--llmobs-otlp): a real second process with the OpenTelemetry SDK,
its BatchSpanProcessor and the official OTLP/HTTP exporter, configured by nothing but
the environment the plugin sets; the tests call it with traceparent injected."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.conftest import read_report
from tests.integration.service_process import ANSWER_OK, CONFTEST, serve

SERVICE = (
    """
import os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "rag-svc"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # all from the environment
tracer = provider.get_tracer("svc")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the last batch is flushed

def work(context):
    with tracer.start_as_current_span("svc.handle", context=context):
        with tracer.start_as_current_span("svc.llm") as llm:
            time.sleep(0.002)
            llm.set_attribute("gen_ai.usage.output_tokens", 10)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        context = propagate.extract(self.headers)  # case-insensitive: urllib sends Traceparent
        if "later" in self.path:  # a queue: answer now, work when the tests have moved on
            threading.Timer(0.3, work, (context,)).start()
        else:
            work(context)
"""
    + ANSWER_OK
    + serve("provider.shutdown()")
)


TESTS = """
import urllib.request
import pytest
from opentelemetry import propagate, trace

tracer = trace.get_tracer("tests")

@pytest.mark.parametrize("question", range(6))
def test_ask(service, question):
    with tracer.start_as_current_span("client.ask"):
        headers = {}
        propagate.inject(headers)  # traceparent: the service's spans join this trace
        request = urllib.request.Request(f"{service}/?q={question}", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"ok"
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(service=SERVICE, conftest=CONFTEST, test_ask=TESTS)


def series(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in report["series"]}


def test_the_spans_of_a_service_the_tests_start_are_captured_under_their_tests(
    suite: None, run_llmobs: Any
) -> None:
    result, report = run_llmobs("--llmobs-otlp", "--llmobs-group-by", "service.name")
    assert result.ret == 0, result.stdout.str()
    found = series(report)
    assert {"svc.handle[service.name=rag-svc]", "svc.llm[service.name=rag-svc]"} <= set(found)
    llm = found["svc.llm[service.name=rag-svc]"]
    assert llm["count"] == 6
    tests = {f"test_ask.py::test_ask[{q}]" for q in range(6)}
    assert set(llm["cases"]) == tests  # each test's own spans: paired statistics work
    # traceparent made them children of the test's own span, in its requests
    paths = {p["series"]: p for p in report["request_paths"]}
    handle = "svc.handle[service.name=rag-svc]"
    assert handle in [c["series"] for c in paths["client.ask"]["children"]]
    assert paths[handle]["requests"] == ["client.ask"]
    assert not [w for w in report["warnings"] if "OTLP" in w], report["warnings"]
    assert report["capture"]["received"] == {"by_trace_id": 12, "by_time": 0, "no_test": 0}
    result.stdout.fnmatch_lines(["received from services: 12 span(s), 12 by trace id, *"])


# a span over the whole session, as pytest-opentelemetry makes: every test shares its trace
SESSION_SPAN = """
from opentelemetry import trace

@pytest.fixture(scope="session", autouse=True)
def session_span():
    with trace.get_tracer("session").start_as_current_span("session"):
        yield
"""


@pytest.mark.parametrize("shared", [False, True], ids=["trace-per-test", "session-trace"])
def test_a_service_span_made_after_its_test_ended_still_joins_that_test_by_trace_id(
    pytester: pytest.Pytester, run_llmobs: Any, shared: bool
) -> None:
    """The service answers at once and works 0.3 s later, when a later test (or none) is
    running: the context its test's request carried says whose work it was, even when
    every test's spans share one trace under a session span."""
    queued = TESTS.replace("?q={question}", "later?q={question}").replace(
        '== b"ok"', '== b"ok"\n    time.sleep(0.1)'
    )
    last = "\ndef test_the_last():\n    time.sleep(1)  # the queue's work is done meanwhile\n"
    conftest = CONFTEST + (SESSION_SPAN if shared else "")
    pytester.makepyfile(
        service=SERVICE, conftest=conftest, test_ask="import time\n" + queued + last
    )
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 0, result.stdout.str()
    llm = series(report)["svc.llm"]
    tests = [f"test_ask.py::test_ask[{q}]" for q in range(6)]
    assert llm["count"] == 6
    assert sorted(llm["cases"]) == tests
    assert all(len(llm["cases"][t]["latency_ms"]) == 1 for t in tests), llm["cases"]
    assert report["capture"]["received"] == {"by_trace_id": 12, "by_time": 0, "no_test": 0}


def test_without_traceparent_a_service_span_belongs_to_the_test_running_when_it_started(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    untraced = TESTS.replace("propagate.inject(headers)", "pass")
    pytester.makepyfile(service=SERVICE, conftest=CONFTEST, test_ask=untraced)
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 0, result.stdout.str()
    llm = series(report)["svc.llm"]
    assert set(llm["cases"]) == {f"test_ask.py::test_ask[{q}]" for q in range(6)}
    paths = {p["series"]: p for p in report["request_paths"]}
    assert paths["svc.handle"]["requests"] == ["svc.handle"]  # a trace of its own
    assert report["capture"]["received"] == {"by_trace_id": 0, "by_time": 12, "no_test": 0}


def test_an_a_a_run_of_a_service_passes_on_its_baseline(suite: None, run_llmobs: Any) -> None:
    result, _ = run_llmobs("--llmobs-otlp", "--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    assert "svc.llm" in series(report)


def test_without_the_option_the_service_exports_nowhere_and_nothing_is_captured(
    suite: None, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # nobody there
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert "svc.llm" not in series(report)


def test_a_variable_the_user_set_is_left_alone_and_said_so(
    suite: None, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 0, result.stdout.str()
    [note] = [w for w in report["warnings"] if "--llmobs-otlp left" in w]
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in note
    assert "svc.llm" in series(report)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("nonsense", "expected HOST:PORT"),
        ("127.0.0.1:99999", "expected HOST:PORT"),
        ("http://127.0.0.1:4318", "without a scheme"),
    ],
)
def test_a_bad_endpoint_is_a_config_error_naming_it(
    pytester: pytest.Pytester, value: str, said: str
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-otlp", f"--llmobs-otlp-endpoint={value}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--llmobs-otlp-endpoint*{said}*"])


def test_an_endpoint_already_in_use_stops_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pytester.makepyfile("def test_nothing():\n    pass\n")
        result = pytester.runpytest_subprocess(
            "--llmobs", "--llmobs-otlp", f"--llmobs-otlp-endpoint=127.0.0.1:{port}",
            "--llmobs-json", "report.json",
        )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = f"--llmobs-otlp-endpoint=127.0.0.1:{port}: cannot listen there"
    result.stderr.fnmatch_lines([f"ERROR: llmobs: {said}*"])
    assert "Traceback" not in result.stderr.str()
    report = read_report(pytester)  # the run report says why no test ran, as for a bad value
    assert report["verdict"] == "error"
    assert report["errors"][0].startswith(said)


def test_serial_and_two_workers_capture_the_same_service_spans(
    suite: None, run_llmobs: Any
) -> None:
    """Each worker has its own receiver, and the services its fixtures start export to it."""
    counts = []
    for args in ((), ("-n", "2")):
        result, report = run_llmobs("--llmobs-otlp", *args)
        assert result.ret == 0, result.stdout.str()
        found = {k: (s["count"], sorted(s["cases"])) for k, s in series(report).items()}
        counts.append((found, report["capture"]["received"], report["verdict"]))
    assert counts[0] == counts[1]
    assert counts[0][1] == {"by_trace_id": 12, "by_time": 0, "no_test": 0}
    assert counts[0][0]["svc.llm"][0] == 6


def test_a_fixed_port_under_xdist_stops_the_run_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-otlp", "--llmobs-otlp-endpoint=127.0.0.1:4599", "-n", "2",
        "--llmobs-json=report.json",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*under pytest-xdist each worker receives on a port of its own*"])
    assert read_report(pytester)["verdict"] == "error"
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_run_whose_receiver_got_nothing_says_so(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    _, report = run_llmobs("--llmobs-otlp", "--llmobs-otlp-wait=0")
    assert [w for w in report["warnings"] if "--llmobs-otlp received no span" in w]
    _, report = run_llmobs("--llmobs-otlp", "--llmobs-otlp-wait=0", "-n", "2")
    [said] = [w for w in report["warnings"] if "received no span" in w]  # once, not a worker's
    assert said.startswith("--llmobs-otlp received no span on 127.0.0.1:")
    assert said.count("127.0.0.1:") == 2  # both workers' receivers


def test_a_worker_whose_tests_start_no_service_does_not_warn(
    suite: None, pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result, report = run_llmobs("--llmobs-otlp", "-n", "2", "--dist", "loadfile")
    assert result.ret == 0, result.stdout.str()
    assert series(report)["svc.llm"]["count"] == 6
    assert not [w for w in report["warnings"] if "received no span" in w], report["warnings"]


def test_a_traces_endpoint_the_user_set_is_named_as_sending_elsewhere(
    suite: None, run_llmobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    result, report = run_llmobs("--llmobs-otlp", "--llmobs-otlp-wait=1")
    assert result.ret == 0, result.stdout.str()
    [note] = [w for w in report["warnings"] if "--llmobs-otlp left" in w]
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in note
    assert "not gated" in note
    assert "svc.llm" not in series(report)


def test_receiver_options_without_the_receiver_stop_the_run_or_are_warned_about(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result, report = run_llmobs("--llmobs-otlp-wait", "3")  # typed, as separate words
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    wanted = "--llmobs-otlp-wait=3 (command line) does nothing without --llmobs-otlp"
    result.stderr.fnmatch_lines([f"ERROR: llmobs: {wanted}: add --llmobs-otlp to this run"])
    assert report["verdict"] == "error"
    pytester.makeini("[pytest]\nllmobs_otlp_wait = 3\n")  # for the runs that turn it on
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    wanted = 'llmobs_otlp_wait = "3" (ini file'
    assert [w for w in report["warnings"] if w.startswith(wanted)], report["warnings"]


def test_a_service_stopped_without_shutting_down_still_sends_its_last_batch(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    """Python's default SIGTERM skips the SDK's final flush: the run waits for the
    service's batch delay before the last test's teardown stops it."""
    abrupt = SERVICE.replace(
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))", "pass  # the default: no flush"
    )
    many = TESTS.replace("range(6)", "range(30)")
    pytester.makepyfile(service=abrupt, conftest=CONFTEST, test_ask=many)
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 0, result.stdout.str()
    assert series(report)["svc.llm"]["count"] == 30
