"""The gate on a service under test (--llmobs-otlp), end to end: a baseline, an A/A run,
a slowed step and a dropped score inside the service, sent by the official exporter in
protobuf (plain or gzipped, with traceparent or attributed by time) or posted by the test
as OTLP/JSON (plain or gzipped)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.service_process import ANSWER_OK, CONFTEST, serve
from tests.integration.test_dashboard import page_data

REQUESTS = 40  # test cases a run: p50 and quality are tested paired, p95 and p99 are not

# What every transport runs: a request's steps and what they take, set by the environment
# the outer test gives the run (SLOW slows svc.llm, QUALITY scales the score). Nothing
# sleeps: a span timed by the wall clock around a sleep lasts what the scheduler makes it
# (see suites.py), so every span, the test's client.ask too, is stamped on the request's
# own timeline, and a step takes exactly what it says here.
PIPELINE = """
import os, time

SLOW = float(os.environ.get("SLOW", "1"))
QUALITY = float(os.environ.get("QUALITY", "1"))
RETRIEVE_MS = 3
WIRE_MS = 0.5  # the request on its way to the service, and so the answer on its way back

def llm_ms(q):
    return (8 + 2 * (q % 5)) * SLOW  # 8 to 16 ms: each test case its own

def answer_quality(q):
    return QUALITY * (0.8 + (q % 10) / 50)

def tokens(q):
    return {"gen_ai.usage.input_tokens": 200 + q, "gen_ai.usage.output_tokens": 40 + q % 7}

def finish(span, end):
    # a test's own span ends within its test, as a real one does: the wall clock is let
    # reach the span's end first (the attribution trusts a calling span in one test)
    time.sleep(max(0, end - time.time_ns()) / 1e9)
    span.end(end_time=end)

def timeline(t0, q):
    # each span's (start, end) in ns for request q, sent at t0 (ns, the wall clock): from
    # there the clock moves only by what each step takes
    handle = t0 + round(WIRE_MS * 1e6)
    llm = handle + round(RETRIEVE_MS * 1e6)
    done = llm + round(llm_ms(q) * 1e6)
    return {
        "client.ask": (t0, done + round(WIRE_MS * 1e6)),
        "svc.handle": (handle, done),
        "svc.retrieve": (handle, llm),
        "svc.llm": (llm, done),
    }
"""

# when stopped: the last batch, then what the outer test checks of every export
SHUTDOWN = """
provider.shutdown()
with open("exports.json", "w") as out:
    json.dump(exports, out)
"""
SERVICE = (
    """
import json, signal, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import requests
from opentelemetry import propagate, trace
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

def serve(q, at, context):
    # the request's steps, each span stamped on its timeline `at`
    handle = tracer.start_span("svc.handle", context, start_time=at["svc.handle"][0])
    handle.set_attribute("request_id", f"q-{q}")
    inside = trace.set_span_in_context(handle)
    for name, attributes in (("svc.retrieve", {}), ("svc.llm", pipeline.tokens(q))):
        step = tracer.start_span(name, inside, attributes=attributes, start_time=at[name][0])
        step.end(end_time=at[name][1])
    handle.set_attribute("answer_quality", pipeline.answer_quality(q))
    handle.end(end_time=at["svc.handle"][1])

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        q, t0 = int(query["q"][0]), int(query["t0"][0])
        at = pipeline.timeline(t0, q)
        serve(q, at, propagate.extract(self.headers))
        # answer once the wall clock has passed the last span's start (svc.llm's, 3.5 ms
        # in), so each span starts while the test that asked still runs (by-time runs)
        last = max(start for start, _ in at.values())
        time.sleep(max(0, last - time.time_ns()) / 1e9)
"""
    + ANSWER_OK
    + serve(SHUTDOWN)
)


CALLS = """
import time, urllib.request
import pytest
from opentelemetry import propagate, trace

import pipeline

tracer = trace.get_tracer("tests")

@pytest.mark.parametrize("q", range({requests}))
def test_ask(service, q):
    t0 = time.time_ns()  # the request's timeline starts now, in this test
    with tracer.start_as_current_span("client.ask", start_time=t0, end_on_exit=False) as mine:
        headers = {{}}
        {propagate}
        request = urllib.request.Request(f"{{service}}/?q={{q}}&t0={{t0}}", headers=headers)
        assert urllib.request.urlopen(request, timeout=10).read() == b"ok"
    pipeline.finish(mine, pipeline.timeline(t0, q)["client.ask"][1])
"""

# The test itself is the service: it stamps the same steps on the same timeline and posts
# them as OTLP/JSON, children of its own span, to the receiver the run points
# OTEL_EXPORTER_OTLP_ENDPOINT at.
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

def span(name, trace_id, parent_id, at, attributes, span_id=None):
    start, end = at[name]
    return {{"traceId": trace_id, "spanId": span_id or os.urandom(8).hex(),
             "parentSpanId": parent_id, "name": name, "kind": 1,
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
             "attributes": values(attributes), "status": {{}}}}

def handle(trace_id, parent_id, q, at):
    handle_id = os.urandom(8).hex()
    attributes = {{"request_id": f"q-{{q}}", "answer_quality": pipeline.answer_quality(q)}}
    return [span("svc.retrieve", trace_id, handle_id, at, {{}}),
            span("svc.llm", trace_id, handle_id, at, pipeline.tokens(q)),
            span("svc.handle", trace_id, parent_id, at, attributes, handle_id)]

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
    t0 = time.time_ns()  # the request's timeline starts now, in this test
    at = pipeline.timeline(t0, q)
    with tracer.start_as_current_span("client.ask", start_time=t0, end_on_exit=False) as mine:
        context = mine.get_span_context()
        post(handle(format(context.trace_id, "032x"), format(context.span_id, "016x"), q, at))
    pipeline.finish(mine, at["client.ask"][1])
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
SLOW = 1.6  # how much slower svc.llm gets in the slowed run
RETRIEVE_MS, WIRE_MS = 3, 0.5  # as PIPELINE sets


def timeline_ms(q: int, slow: float = 1.0) -> dict[str, tuple[float, float]]:
    """Each span's (start, end) in ms after the test sent request q, as PIPELINE's
    timeline stamps them."""
    llm = WIRE_MS + RETRIEVE_MS
    done = llm + (8 + 2 * (q % 5)) * slow
    return {
        "client.ask": (0, done + WIRE_MS),
        "svc.handle": (WIRE_MS, done),
        "svc.retrieve": (WIRE_MS, llm),
        "svc.llm": (llm, done),
    }


def latency_ms(name: str, q: int, slow: float = 1.0) -> float:
    start, end = timeline_ms(q, slow)[name]
    return end - start


def median_ms(name: str, slow: float = 1.0) -> float:
    return statistics.median(latency_ms(name, q, slow) for q in range(REQUESTS))


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


def p50_checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["series"]: c for c in report["checks"] if c["metric"] == "latency.p50"}


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
    for name in ("client.ask", *SERVICE_SERIES):  # each span just as long as its step
        for test, case in found[name]["cases"].items():
            expected = latency_ms(name, case_of(test))
            assert case["latency_ms"] == [pytest.approx(expected)], (name, test)
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


def assert_unchanged(report: dict[str, Any]) -> None:
    """An A/A run passes with nothing changed at all: every step took just what it did
    in the baseline, what PIPELINE says."""
    assert report["verdict"] == "pass"
    assert report["warnings"] == []
    checks = report["checks"]
    assert [c for c in checks if c["change"] != 0 or c["verdict"] == "regression"] == []
    measured = {name: (c["baseline"], c["current"]) for name, c in p50_checks(report).items()}
    assert measured == {
        name: (pytest.approx(median_ms(name)),) * 2 for name in ("client.ask", *SERVICE_SERIES)
    }


def assert_waterfalls(page: dict[str, Any], report: dict[str, Any], traced: bool) -> None:
    """The dashboard draws the slowest requests under the test that made them: the test's
    own client.ask with the service's spans inside (or, by time, the service's own
    request), each svc.llm bar the very span its test case holds."""
    names = ["client.ask", "  svc.handle", "    svc.retrieve", "    svc.llm"]
    if not traced:  # the service's spans are a trace of their own
        names = ["svc.handle", "  svc.retrieve", "  svc.llm"]
    root = names[0]
    slowest = max(latency_ms(root, q) for q in range(REQUESTS))
    llm_cases = series_of(report)["svc.llm"]["cases"]
    assert page["waterfalls"]
    for waterfall in page["waterfalls"]:
        assert waterfall["series"] == root
        assert waterfall["test"] in TESTS
        q = case_of(waterfall["test"])
        assert latency_ms(root, q) == slowest  # the slowest requests, as the panel says
        # bars from the root's start: by trace, the service's request lies within the
        # test's own span, a wire's time from either end
        timeline = timeline_ms(q)
        origin = timeline[root][0]
        assert [(bar["name"], bar["start"], bar["end"]) for bar in waterfall["spans"]] == [
            (name, *(pytest.approx(t - origin) for t in timeline[name.strip()])) for name in names
        ]
        assert waterfall["duration_ms"] == pytest.approx(latency_ms(root, q))
        [llm] = [bar for bar in waterfall["spans"] if bar["name"].strip() == "svc.llm"]
        assert llm["critical"]
        assert llm_cases[waterfall["test"]]["latency_ms"] == [
            pytest.approx(llm["end"] - llm["start"])
        ]


def assert_exports(pytester: pytest.Pytester, transport: Transport) -> None:
    """The service's exporter sent protobuf, compressed as its environment says, and the
    receiver took every export."""
    exports = json.loads((pytester.path / "exports.json").read_text())
    encoding = transport.environment.get("OTEL_EXPORTER_OTLP_COMPRESSION")
    assert exports
    assert {tuple(e) for e in exports} == {("application/x-protobuf", encoding, 200)}


def assert_slow_llm_fails(result: pytest.RunResult, report: dict[str, Any], traced: bool) -> None:
    """svc.llm's latency regressed, and the requests around it, each by what PIPELINE
    makes of SLOW; the explanation says the time went to svc.llm, all of it."""
    assert result.ret == 1, result.stdout.str()
    result.assert_outcomes(passed=REQUESTS)  # every test passed, the gate failed
    assert report["verdict"] == "regression"
    assert report["warnings"] == []
    regressed = {
        (c["series"], c["metric"]) for c in report["checks"] if c["verdict"] == "regression"
    }
    assert regressed == {(name, "latency.p50") for name in ("client.ask", "svc.handle", "svc.llm")}
    p50 = p50_checks(report)
    for name, check in p50.items():
        medians = (median_ms(name), median_ms(name, SLOW))
        assert (check["baseline"], check["current"]) == pytest.approx(medians), name
        assert check["paired"], name
    assert p50["svc.llm"]["relative_change"] == pytest.approx(SLOW - 1)  # every case's
    for name in ("svc.handle", "client.ask"):  # less: the slowed step is part of the time
        ratios = [latency_ms(name, q, SLOW) / latency_ms(name, q) for q in range(REQUESTS)]
        assert min(ratios) - 1 < p50[name]["relative_change"] < max(ratios) - 1, name
    assert_went_to_llm(report, traced)
    result.stdout.fnmatch_lines(
        [
            "*llmobs: REGRESSION in *",
            "svc.llm*latency.p50*REGRESSION*",
        ]
    )
    result.stdout.fnmatch_lines(["why: svc.handle +*% (*), of which svc.llm +*% (*"])


def assert_went_to_llm(report: dict[str, Any], traced: bool) -> None:
    """The attributions: svc.handle's time grew by just what svc.llm's did, and client.ask's
    (traced) by svc.handle's, nothing by their own time."""
    grew = statistics.fmean(
        latency_ms("svc.llm", q, SLOW) - latency_ms("svc.llm", q) for q in range(REQUESTS)
    )
    expected = {"svc.handle": {"svc.llm": grew, "svc.retrieve": 0}}
    if traced:  # else nothing of the service is inside client.ask
        expected["client.ask"] = {"svc.handle": grew}
    why = {a["series"]: a for a in report["attributions"]}
    parts = {s: {p["name"]: p["change_ms"] for p in a["parts"]} for s, a in why.items()}
    assert parts == {s: pytest.approx(p) for s, p in expected.items()}
    for found in why.values():
        assert (found["change_ms"], found["self_change_ms"]) == pytest.approx((grew, 0))


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
    assert_unchanged(report)
    assert_under_their_tests(report, transport)
    assert_waterfalls(page_data(pytester.path / "dashboard.html"), report, transport.traced)
    if transport.exporter:
        assert_exports(pytester, transport)
    # svc.llm SLOW times slower inside the service: the gate fails on it and says so
    monkeypatch.setenv("SLOW", str(SLOW))
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
