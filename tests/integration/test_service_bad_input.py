"""The OTLP receiver of a running session (--llmobs-otlp) under bad input: the suite's
own tests post to the endpoint the plugin gave them what a broken or hostile client
would, and assert the status they got; the run still finishes (no traceback, no hang),
keeps the good spans and evaluations sent beside them, and counts every refusal: the
exports it lost fail the run closed (its errors), the rest are warnings. Also: the wait
at the run's end for a service with a slow batch delay, and the redaction of what
services send."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import read_report
from tests.integration.service_process import ANSWER_OK, CONFTEST, serve

SERVICE = (
    """
import inspect, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import propagate
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk import _logs as sdk_logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

resource = Resource.create({"service.name": "rag-svc"})
provider = TracerProvider(resource=resource)
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # all from the environment
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
tracer, judge = provider.get_tracer("svc"), logs.get_logger("judge")
NAMED = "event_name" in inspect.signature(LogRecord).parameters  # SDK 1.35+
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the last batches are flushed

def evaluate(span, score):
    context = span.get_span_context()
    attributes = {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": score}
    fields = {"trace_id": context.trace_id, "span_id": context.span_id, "attributes": attributes,
              "trace_flags": context.trace_flags, "timestamp": time.time_ns(),
              "severity_number": SeverityNumber.INFO, "body": "judged"}
    if NAMED:
        judge.emit(LogRecord(event_name="gen_ai.evaluation.result", **fields))
    else:  # before 1.35: the Events API's attribute, on the SDK's record its exporter reads
        attributes["event.name"] = "gen_ai.evaluation.result"
        judge.emit(sdk_logs.LogRecord(resource=resource, **fields))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        question = int(self.path.split("=")[1])
        with tracer.start_as_current_span("svc.handle", context=propagate.extract(self.headers)):
            with tracer.start_as_current_span("svc.llm") as llm:
                time.sleep(0.002)
                evaluate(llm, 0.5 + question / 10)
"""
    + ANSWER_OK
    + serve("provider.shutdown()\nlogs.shutdown()")
)


# What the suite's tests post, and the statuses they assert. The tests run in file order:
# the half-open connection is left last, still open when the session ends.
CLIENT = """
import json, os, socket, time, urllib.error, urllib.request

OPEN = []  # connections left open at the session's end

def post(body, kind="application/json", path="/v1/traces"):
    url = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + path
    request = urllib.request.Request(url, body, {"Content-Type": kind})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()

def span(name, span_id, start=None, end=None, trace_id="5b8efff798038103d269b633813fc60c",
         attributes=()):
    now = time.time_ns()
    return {"traceId": trace_id, "spanId": span_id, "name": name,
            "startTimeUnixNano": str(start or now - 1000), "endTimeUnixNano": str(end or now),
            "attributes": list(attributes)}

def spans(*found):
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(found)}]}]}).encode()

def text(key, value):
    return {"key": key, "value": {"stringValue": value}}
"""

BAD_INPUT = """
import json, os, socket, threading, urllib.request
from collections import Counter

import pytest
from opentelemetry import propagate, trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from client import OPEN, post, span, spans, text

tracer = trace.get_tracer("tests")

@pytest.mark.parametrize("question", range(6))
def test_ask(service, question):
    with tracer.start_as_current_span("client.ask"):
        headers = {}
        propagate.inject(headers)
        request = urllib.request.Request(f"{service}/?q={question}", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"ok"

def test_truncated_protobuf():
    request = ExportTraceServiceRequest()
    found = request.resource_spans.add().scope_spans.add().spans.add(name="cut")
    found.trace_id, found.span_id = b"\\x01" * 16, b"\\x02" * 8
    assert post(request.SerializeToString()[:-3], "application/x-protobuf")[0] == 400

def test_malformed_json():
    assert post(b'{"resourceSpans": [{"scopeSpans"')[0] == 400

def test_json_of_the_wrong_shape():
    assert post(b'{"resourceSpans": {"scopeSpans": 1}}')[0] == 400

def test_spans_without_ids_or_ending_before_they_start():
    status, answer = post(spans(span("no ids", ""), span("backwards", "00000000000000aa", 20, 10)))
    assert (status, json.loads(answer)["partialSuccess"]["rejectedSpans"]) == (200, "2")

def test_an_attribute_of_several_megabytes():
    huge = span("huge", "00000000000000bb", attributes=[text("prompt", "x" * 5_000_000)])
    status, answer = post(spans(huge))
    partial = json.loads(answer)["partialSuccess"]
    assert (status, partial["rejectedSpans"]) == (200, "0")
    assert "cut" in partial["errorMessage"]

def test_a_body_over_the_limit():
    assert post(b" " * (16 * 1024 * 1024 + 1))[0] == 413

def test_a_wrong_content_type():
    assert post(b"{}", "text/plain")[0] == 415

def test_metrics_are_taken_and_dropped():
    assert post(b"{}", path="/v1/metrics") == (200, b"{}")

def test_an_evaluation_record_without_ids():
    record = {"eventName": "gen_ai.evaluation.result", "attributes": [
        text("gen_ai.evaluation.name", "relevance")]}
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]})
    status, answer = post(body.encode(), path="/v1/logs")
    assert (status, json.loads(answer)["partialSuccess"]["rejectedLogRecords"]) == (200, "1")

def test_a_flood():
    statuses = []
    def send(i):
        statuses.append(post(spans(span("flood", f"{0xf000 + i:016x}")))[0])
    threads = [threading.Thread(target=send, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    found = Counter(statuses)
    with open("flood.json", "w") as fh:
        json.dump(found, fh)
    assert set(found) <= {200, 503} and sum(found.values()) == 200

def test_a_connection_left_half_open():
    host, port = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(b"POST /v1/traces HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 100\\r\\n\\r\\n{")
    OPEN.append(client)
"""


# the errors of the bad-input run: what the receiver refused for good, and the connection
# left half open (still arriving after the wait before the last teardown; the wait at the
# loop's end, with no request since, does not wait for it again), lost spans
JUDGED = "the series they belong to cannot be judged"
LOST = [
    *(f"OTLP receiver: 1 export(s) refused ({reason}): their spans are missing, {JUDGED}"
      for reason in ("400: the protobuf body is not an ExportTraceServiceRequest",
                     "400: the JSON body cannot be parsed",
                     "400: the JSON body is not a valid OTLP request",
                     "413: the body is over 16777216 bytes",
                     "415: unsupported Content-Type")),
    "OTLP receiver: 1 export(s) still arriving when the run was judged, after "
    f"--llmobs-otlp-wait=3: their spans or evaluations are missing, {JUDGED}",
]  # fmt: skip


def outcome(result: pytest.RunResult) -> str:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text, text
    return text


def series(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in report["series"]}


def test_bad_input_is_answered_and_counted_and_the_good_input_kept_but_the_run_fails_closed(
    pytester: pytest.Pytester,
) -> None:
    """The tests pass, but exports the receiver refused for good (and one still arriving
    when the run was judged) held spans the run never saw: its verdict is an error."""
    pytester.makepyfile(service=SERVICE, conftest=CONFTEST, client=CLIENT, test_bad_input=BAD_INPUT)
    began = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json", "report.json", "-p", "no:cacheprovider",
        "--llmobs-otlp", "--llmobs-otlp-wait=3", timeout=180,
    )  # fmt: skip
    text = outcome(result)
    assert time.monotonic() - began < 120
    result.assert_outcomes(passed=17)
    assert result.ret == 1, text
    report = read_report(pytester)
    assert report["verdict"] == "error"
    found = series(report)
    assert found["svc.llm"]["count"] == 6  # the service's spans, beside all of it
    assert found["svc.llm"]["quality"]["relevance"] == {"count": 6, "mean": 0.75}
    assert found["huge"]["count"] == 1
    flood = json.loads((pytester.path / "flood.json").read_text())
    assert found["flood"]["count"] == flood.get("200", 0)
    errors = [e[e.index("OTLP receiver: ") :] for e in report["errors"] if "OTLP receiver: " in e]
    assert sorted(errors) == sorted(LOST)
    busy = flood.get("503", 0)  # exporters retry a 503: a warning
    refused = [f"OTLP receiver: {busy} request(s) refused (503: too many requests at once)"]
    otlp = [w for w in report["warnings"] if w.startswith("OTLP receiver")]
    assert sorted(otlp) == sorted([
        *(refused if busy else []),
        "OTLP receiver: 1 span(s) not kept: span ending before it started",
        "OTLP receiver: 1 span(s) not kept: span without a valid trace or span id",
        "OTLP receiver: 1 log record(s) not kept: evaluation record without a valid trace "
        "or span id",
        "OTLP receiver: 1 attribute value(s) over 65536 characters cut",
    ])  # fmt: skip


SLOW_SERVICE_CONFTEST = """
import subprocess, sys
import pytest

PROCS = []

@pytest.fixture(scope="session")
def service():
    proc = subprocess.Popen([sys.executable, "service.py"], stdout=subprocess.PIPE, text=True)
    PROCS.append(proc)
    return f"http://127.0.0.1:{int(proc.stdout.readline())}"

def pytest_unconfigure(config):
    for proc in PROCS:  # killed after the run was judged: only the batch timer exported
        proc.kill()
        proc.wait(timeout=30)
"""

SLOW_TESTS = """
import urllib.request

def test_ask(service):
    for question in range(3):
        assert urllib.request.urlopen(f"{service}/?q={question}", timeout=10).read() == b"ok"
"""


def test_the_run_waits_out_a_batch_delay_the_user_set_but_not_the_whole_wait(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service exports 2 s after its spans end, and never again: the run must wait
    for that, and not for the 60 s it may."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "2000")
    pytester.makepyfile(service=SERVICE, conftest=SLOW_SERVICE_CONFTEST, test_ask=SLOW_TESTS)
    began = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json", "report.json", "-p", "no:cacheprovider",
        "--llmobs-otlp", "--llmobs-otlp-wait=60", timeout=120,
    )  # fmt: skip
    text = outcome(result)
    assert result.ret == 0, text
    assert time.monotonic() - began < 40
    report = read_report(pytester)
    assert series(report)["svc.llm"]["count"] == 3
    assert series(report)["svc.llm"]["quality"]["relevance"]["count"] == 3
    [note] = [w for w in report["warnings"] if "--llmobs-otlp left" in w]
    assert "OTEL_BSP_SCHEDULE_DELAY" in note


def test_a_batch_delay_longer_than_the_wait_is_told(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "10000")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json", "report.json", "-p", "no:cacheprovider",
        "--llmobs-otlp", "--llmobs-otlp-wait=1", timeout=120,
    )  # fmt: skip
    outcome(result)
    warnings = read_report(pytester)["warnings"]
    assert any(
        "up to 10 s (OTEL_BLRP_SCHEDULE_DELAY)" in w and "--llmobs-otlp-wait=1" in w
        for w in warnings
    ), warnings


SECRETS = """
from client import post, span, spans, text

KEY = "sk-proj-" + "Zx81Qw" * 6
MAIL = "jane.doe@example.com"

def test_post_a_span_with_secrets():
    found = span("llm.secret", "00000000000000cc", attributes=[
        text("api_key", KEY),
        text("gen_ai.request.model", f"gpt-4o key {KEY} owner {MAIL}"),
        text("gen_ai.prompt", f"my key is {KEY}"),
    ])
    assert post(spans(found))[0] == 200
"""


def test_what_services_send_is_redacted_in_every_report_as_in_process_spans_are(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(client=CLIENT, test_secrets=SECRETS)
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-json", "report.json", "--llmobs-html", "report.html",
        "--llmobs-markdown", "report.md", "-p", "no:cacheprovider", "--llmobs-otlp",
        timeout=120,
    )  # fmt: skip
    text = outcome(result)
    assert result.ret == 0, text
    key = "sk-proj-" + "Zx81Qw" * 6
    for name in ("report.json", "report.html", "report.md"):
        written = (pytester.path / name).read_text(encoding="utf-8")
        assert key not in written, name
        assert "jane.doe@example.com" not in written, name
    report = read_report(pytester)
    [shown] = [r for r in report["slowest_requests"] if r["request"] == "llm.secret"]
    attributes = shown["attributes"]
    assert attributes["api_key"] == f"[{len(key)} characters withheld]"
    assert attributes["gen_ai.request.model"] == "gpt-4o key [redacted] owner [redacted]"
    assert attributes["gen_ai.prompt"].endswith("characters withheld]")
    assert key not in text
