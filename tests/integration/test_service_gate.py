"""The gate on a service under test (--llmobs-otlp), end to end: a baseline, an A/A run,
a slowed step and a dropped score inside the service, sent by the official exporter in
protobuf (plain or gzipped, with traceparent or attributed by time) or posted by the test
as OTLP/JSON (plain or gzipped)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.test_dashboard import page_data

REQUESTS = 40  # test cases a run: p50 and quality are tested paired, p95 and p99 are not

# What every transport runs: a request's steps and what they take, set by the environment
# the outer test gives the run (SLOW slows svc.llm, QUALITY scales the score).
PIPELINE = """
import os

SLOW = float(os.environ.get("SLOW", "1"))
QUALITY = float(os.environ.get("QUALITY", "1"))
RETRIEVE_MS = 3

def llm_ms(q):
    return (8 + 2 * (q % 5)) * SLOW  # 8 to 16 ms: each test case its own

def answer_quality(q):
    return QUALITY * (0.8 + (q % 10) / 50)

def tokens(q):
    return {"gen_ai.usage.input_tokens": 200 + q, "gen_ai.usage.output_tokens": 40 + q % 7}
"""

SERVICE = """
import json, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import requests
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import pipeline

exports = []  # each export as sent and answered: what the outer test checks

def seen(response, *args, **kwargs):
    sent = response.request.headers
    exports.append([sent.get("Content-Type"), sent.get("Content-Encoding"), response.status_code])

session = requests.Session()
session.hooks["response"].append(seen)  # only watches: the rest is from the environment
provider = TracerProvider(resource=Resource.create({"service.name": "rag-svc"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(session=session)))
tracer = provider.get_tracer("svc")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the last batch is flushed

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        q = int(parse_qs(urlparse(self.path).query)["q"][0])
        context = propagate.extract(self.headers)
        with tracer.start_as_current_span("svc.handle", context=context) as handle:
            handle.set_attribute("request_id", f"q-{q}")
            with tracer.start_as_current_span("svc.retrieve"):
                time.sleep(pipeline.RETRIEVE_MS / 1000)
            with tracer.start_as_current_span("svc.llm") as llm:
                time.sleep(pipeline.llm_ms(q) / 1000)
                llm.set_attributes(pipeline.tokens(q))
            handle.set_attribute("answer_quality", pipeline.answer_quality(q))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
try:
    server.serve_forever()
finally:
    provider.shutdown()
    with open("exports.json", "w") as out:
        json.dump(exports, out)
"""

CONFTEST = """
import subprocess, sys
import pytest

@pytest.fixture(scope="session")
def service():
    proc = subprocess.Popen([sys.executable, "service.py"], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    assert proc.wait(timeout=30) == 0
"""

CALLS = """
import urllib.request
import pytest
from opentelemetry import propagate, trace

tracer = trace.get_tracer("tests")

@pytest.mark.parametrize("q", range({requests}))
def test_ask(service, q):
    with tracer.start_as_current_span("client.ask"):
        headers = {{}}
        {propagate}
        request = urllib.request.Request(f"{{service}}/?q={{q}}", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"ok"
"""

# The test itself is the service: it times the same steps and posts them as OTLP/JSON,
# children of its own span, to the receiver the run points OTEL_EXPORTER_OTLP_ENDPOINT at.
POSTS = """
import gzip, json, os, time, urllib.request
import pytest
from opentelemetry import trace

import pipeline

tracer = trace.get_tracer("tests")
GZIP = {gzip}

def values(attributes):
    kinds = {{bool: "boolValue", int: "intValue", float: "doubleValue", str: "stringValue"}}
    return [{{"key": k, "value": {{kinds[type(v)]: str(v) if type(v) is int else v}}}}
            for k, v in attributes.items()]

def span(name, trace_id, parent_id, start, attributes, span_id=None):
    return {{"traceId": trace_id, "spanId": span_id or os.urandom(8).hex(),
             "parentSpanId": parent_id, "name": name, "kind": 1,
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(time.time_ns()),
             "attributes": values(attributes), "status": {{}}}}

def step(name, trace_id, parent_id, ms, attributes):
    start = time.time_ns()
    time.sleep(ms / 1000)
    return span(name, trace_id, parent_id, start, attributes)

def handle(trace_id, parent_id, q):
    handle_id, start = os.urandom(8).hex(), time.time_ns()
    spans = [step("svc.retrieve", trace_id, handle_id, pipeline.RETRIEVE_MS, {{}}),
             step("svc.llm", trace_id, handle_id, pipeline.llm_ms(q), pipeline.tokens(q))]
    attributes = {{"request_id": f"q-{{q}}", "answer_quality": pipeline.answer_quality(q)}}
    return [*spans, span("svc.handle", trace_id, parent_id, start, attributes, handle_id)]

def post(spans):
    resource = {{"attributes": values({{"service.name": "rag-svc"}})}}
    scope = {{"scope": {{"name": "svc"}}, "spans": spans}}
    body = json.dumps({{"resourceSpans": [{{"resource": resource, "scopeSpans": [scope]}}]}})
    headers = {{"Content-Type": "application/json"}}
    data = body.encode()
    if GZIP:
        data, headers["Content-Encoding"] = gzip.compress(data), "gzip"
    url = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        assert json.loads(answer.read()) == {{}}  # no partialSuccess: every span kept

@pytest.mark.parametrize("q", range({requests}))
def test_ask(q):
    with tracer.start_as_current_span("client.ask") as mine:
        context = mine.get_span_context()
        post(handle(format(context.trace_id, "032x"), format(context.span_id, "016x"), q))
"""


TESTS = [f"test_ask.py::test_ask[{q}]" for q in range(REQUESTS)]
SERVICE_SERIES = ("svc.handle", "svc.retrieve", "svc.llm")
SPANS = REQUESTS * len(SERVICE_SERIES)  # spans each run receives from the service
INJECT = "propagate.inject(headers)  # traceparent: the service's spans join this trace"
CLEARED = (
    "SLOW",
    "QUALITY",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
)


@dataclass(frozen=True)
class Transport:
    """How the service's spans reach the run."""

    tests: str  # the test module's source
    environment: Mapping[str, str] = field(default_factory=dict)
    traced: bool = True  # they carry the test's trace (else: given their test by time)
    exporter: bool = True  # the service's OTLP exporter sends them (else: the test posts)


TRANSPORTS = {
    "protobuf": Transport(CALLS.format(requests=REQUESTS, propagate=INJECT)),
    "protobuf-gzip": Transport(
        CALLS.format(requests=REQUESTS, propagate=INJECT),
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
    ),
    "by-time": Transport(CALLS.format(requests=REQUESTS, propagate="pass"), traced=False),
    "json": Transport(POSTS.format(requests=REQUESTS, gzip=False), exporter=False),
    "json-gzip": Transport(POSTS.format(requests=REQUESTS, gzip=True), exporter=False),
}


def write_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str) -> Transport:
    """The suite of one transport in pytester's folder, with its environment."""
    transport = TRANSPORTS[name]
    for variable in CLEARED:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in transport.environment.items():
        monkeypatch.setenv(variable, value)
    pytester.makepyfile(pipeline=PIPELINE, test_ask=transport.tests)
    if transport.exporter:
        pytester.makepyfile(service=SERVICE, conftest=CONFTEST)
    pytester.makeini("[pytest]\nllmobs_quality_attributes = answer_quality\n")
    return transport


def series_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in report["series"]}


def case_of(test: str) -> int:
    """The request number of a test id: test_ask.py::test_ask[7] -> 7."""
    return int(test.rsplit("[", 1)[1].rstrip("]"))


def assert_under_their_tests(report: dict[str, Any], transport: Transport) -> None:
    """Each test case holds its own request's service spans, known by what only that
    request has (its tokens, its score, its request_id), and the checks pair them."""
    received = report["capture"]["received"]
    way = "by_trace_id" if transport.traced else "by_time"
    assert received == {"by_trace_id": 0, "by_time": 0, "no_test": 0, way: SPANS}
    found = series_of(report)
    for name in SERVICE_SERIES:
        assert (found[name]["count"], sorted(found[name]["cases"])) == (REQUESTS, sorted(TESTS))
    for test, case in found["svc.llm"]["cases"].items():
        assert case["tokens"]["input"] == [200 + case_of(test)], test  # as PIPELINE sets
    for test, case in found["svc.handle"]["cases"].items():
        score = 0.8 + case_of(test) % 10 / 50
        assert case["quality"]["answer_quality"] == [pytest.approx(score)], test
    # client.ask's (traced): the id the service set on its own span, below the test's
    named = {"svc.llm", "client.ask"} if transport.traced else {"svc.llm"}
    slowest = [r for r in report["slowest_requests"] if r["name"] in named]
    assert {r["name"] for r in slowest} == named
    for request in slowest:
        assert request["request_id"] == f"q-{case_of(request['test'])}"
    paired = {(c["series"], c["metric"]): c["paired"] for c in report["checks"]}
    for name in SERVICE_SERIES:
        assert paired[(name, "latency.p50")], name
    assert paired[("svc.handle", "quality.answer_quality")]
    assert paired[("svc.llm", "tokens.input")]


def assert_waterfalls(page: dict[str, Any], report: dict[str, Any], traced: bool) -> None:
    """The dashboard draws the slowest requests under the test that made them: the test's
    own client.ask with the service's spans inside (or, by time, the service's own
    request), each svc.llm bar the very span its test case holds."""
    expected = ["client.ask", "  svc.handle", "    svc.retrieve", "    svc.llm"]
    if not traced:  # the service's spans are a trace of their own
        expected = ["svc.handle", "  svc.retrieve", "  svc.llm"]
    llm_cases = series_of(report)["svc.llm"]["cases"]
    assert page["waterfalls"]
    for waterfall in page["waterfalls"]:
        assert waterfall["series"] == expected[0]
        assert waterfall["test"] in TESTS
        bars = {bar["name"].strip(): bar for bar in waterfall["spans"]}
        assert [bar["name"] for bar in waterfall["spans"]] == expected
        llm = bars["svc.llm"]
        assert llm["critical"]
        [latency] = llm_cases[waterfall["test"]]["latency_ms"]
        assert llm["end"] - llm["start"] == pytest.approx(latency, rel=1e-5)
        if traced:  # the service's request lies within the test's own span
            assert (
                0
                <= bars["svc.handle"]["start"]
                <= bars["svc.handle"]["end"]
                <= waterfall["duration_ms"]
            )


def assert_exports(pytester: pytest.Pytester, transport: Transport) -> None:
    """The service's exporter sent protobuf, compressed as its environment says, and the
    receiver took every export."""
    exports = json.loads((pytester.path / "exports.json").read_text())
    encoding = transport.environment.get("OTEL_EXPORTER_OTLP_COMPRESSION")
    assert exports
    assert {tuple(e) for e in exports} == {("application/x-protobuf", encoding, 200)}


def assert_slow_llm_fails(result: pytest.RunResult, report: dict[str, Any], traced: bool) -> None:
    """svc.llm's latency regressed, and the requests around it; the explanation says the
    time went to svc.llm."""
    assert result.ret == 1, result.stdout.str()
    result.assert_outcomes(passed=REQUESTS)  # every test passed, the gate failed
    assert report["verdict"] == "regression"
    regressed = {
        (c["series"], c["metric"]) for c in report["checks"] if c["verdict"] == "regression"
    }
    assert regressed == {(name, "latency.p50") for name in ("client.ask", "svc.handle", "svc.llm")}
    [llm] = [
        c for c in report["checks"] if (c["series"], c["metric"]) == ("svc.llm", "latency.p50")
    ]
    assert llm["paired"]
    assert 0.4 < llm["relative_change"] < 0.8  # 1.6x asked: a typical test case's ratio
    why = {a["series"]: a for a in report["attributions"]}
    parts = {p["name"]: p["change_ms"] for p in why["svc.handle"]["parts"]}
    assert parts["svc.llm"] > 0.8 * why["svc.handle"]["change_ms"] > 0
    if traced:
        assert [p["name"] for p in why["client.ask"]["parts"]] == ["svc.handle"]
    else:
        assert "client.ask" not in why  # nothing of the service is inside it
    result.stdout.fnmatch_lines(
        [
            "*llmobs: REGRESSION in *",
            "svc.llm*latency.p50*REGRESSION*",
        ]
    )
    result.stdout.fnmatch_lines(["why: svc.handle +*% (*), of which svc.llm +*% (*"])


@pytest.mark.parametrize("name", list(TRANSPORTS))
def test_a_service_is_gated_on_its_baseline_and_a_slowed_step_in_it_fails(
    name: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_llmobs: Any
) -> None:
    transport = write_suite(pytester, monkeypatch, name)
    result, report = run_llmobs("--llmobs-otlp", "--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    assert report["baseline"]["status"] == "updated"
    # A/A: the same service again passes, its spans under their tests, paired
    result, report = run_llmobs("--llmobs-otlp", "--llmobs-html=dashboard.html")
    assert result.ret == 0, result.stdout.str()
    assert report["verdict"] == "pass"
    assert not [c for c in report["checks"] if c["verdict"] == "regression"]
    assert report["warnings"] == []
    assert_under_their_tests(report, transport)
    assert_waterfalls(page_data(pytester.path / "dashboard.html"), report, transport.traced)
    if transport.exporter:
        assert_exports(pytester, transport)
    # svc.llm 1.6 times slower inside the service: the gate fails on it and says so
    monkeypatch.setenv("SLOW", "1.6")
    result, report = run_llmobs("--llmobs-otlp")
    assert_slow_llm_fails(result, report, transport.traced)


def test_a_lower_score_set_in_the_service_fails_on_that_score_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, run_llmobs: Any
) -> None:
    write_suite(pytester, monkeypatch, "protobuf")
    result, _ = run_llmobs("--llmobs-otlp", "--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    monkeypatch.setenv("QUALITY", "0.7")  # every answer_quality 30% lower
    result, report = run_llmobs("--llmobs-otlp")
    assert result.ret == 1, result.stdout.str()
    assert report["verdict"] == "regression"
    regressed = [c for c in report["checks"] if c["verdict"] == "regression"]
    assert [(c["series"], c["metric"], c["paired"]) for c in regressed] == [
        ("svc.handle", "quality.answer_quality", True)
    ]
    result.stdout.fnmatch_lines(["svc.handle*quality.answer_quality*REGRESSION*"])
    # the lowest scores, under the threshold 0.6, name their own tests and requests
    lowest = [r for r in report["low_quality_requests"] if r["series"] == "svc.handle"]
    assert lowest
    for request in lowest:
        q = case_of(request["test"])
        assert request["request_id"] == f"q-{q}"
        assert request["score"] == pytest.approx(0.7 * (0.8 + q % 10 / 50))
        assert request["score"] < 0.6
