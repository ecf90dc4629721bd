"""The requests a saved run report lists, sent again as spans: the same ids, parents and
times as when they were captured, each span once, and reports older than span ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from pytest_llmobs.analysis.analyze import Options, from_spans
from pytest_llmobs.export.otlp_report import requests_for_export
from pytest_llmobs.export.otlp_spans import RUN_ATTRIBUTES
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.redact import MASK, Redactor
from pytest_llmobs.report.findings_json import findings_to_json
from tests.unit.export.captured import PROMPT, RESOURCE, SCORE, TEST_ID, Captured, capture

LISTS = ("slowest_requests", "low_quality_requests")


@pytest.fixture(scope="module")
def captured() -> Captured:
    return capture()


@pytest.fixture(scope="module")
def report(captured: Captured) -> dict[str, Any]:
    """The findings of the capture as the run report writes them, read back from JSON."""
    table = captured.table
    keys = series_index(table, {}, ())
    series = aggregate(table, [SCORE], series=keys)
    findings = from_spans(table, keys, series, [SCORE], Options(count=1))
    doc: dict[str, Any] = json.loads(json.dumps(findings_to_json(findings)))
    return doc


def test_the_listed_requests_come_back_with_their_captured_ids_times_and_status(
    captured: Captured, report: dict[str, Any]
) -> None:
    listed = [r["name"] for name in LISTS for r in report[name]]
    assert sorted(listed) == sorted([*(s.name for s in captured.made.values()), "llm"])
    found = requests_for_export(report, Redactor(), RESOURCE)
    assert found.skipped == 0
    # each span once, though llm heads two requests and is inside the pipeline's
    assert sorted(s.name for s in found.spans) == sorted(s.name for s in captured.made.values())
    for span in found.spans:
        assert span.context is not None
        made = captured.made[span.context.span_id]
        assert made.context is not None
        assert span.context.trace_id == made.context.trace_id
        parents = [s.parent.span_id if s.parent else None for s in (span, made)]
        assert parents[0] == parents[1]
        assert (span.start_time, span.end_time) == (made.start_time, made.end_time)
        error = span.name == "tool"
        assert span.status.status_code == (StatusCode.ERROR if error else StatusCode.UNSET)
        assert dict(span.resource.attributes) == RESOURCE


def test_a_request_s_own_span_keeps_its_redacted_attributes_and_every_span_its_test(
    report: dict[str, Any],
) -> None:
    spans = {s.name: s for s in requests_for_export(report, Redactor(), RESOURCE).spans}
    llm = dict(spans["llm"].attributes or {})
    # withheld when the report was written, and left so: not withheld again
    assert llm["gen_ai.prompt"] == f"[{len(PROMPT)} characters withheld]"
    assert llm["gen_ai.request.model"] == f"gpt-4o key={MASK}"
    assert (llm[SCORE], llm["test.nodeid"]) == (0.25, TEST_ID)
    # the report keeps the token count as a float (812.0): it goes as the int it was
    tokens = llm["gen_ai.usage.input_tokens"]
    assert (tokens, type(tokens)) == (812, int)
    run = {k: RESOURCE[k] for k in RUN_ATTRIBUTES}  # the run's names, on every span too
    assert spans["vector search"].attributes == {"test.nodeid": TEST_ID, **run}
    assert spans["session teardown"].attributes == run  # no test, nothing kept but the run


def test_a_stricter_redactor_withholds_what_the_report_showed(report: dict[str, Any]) -> None:
    strict = Redactor(allow=())
    [llm] = [s for s in requests_for_export(report, strict, RESOURCE).spans if s.name == "llm"]
    model = f"gpt-4o key={MASK}"
    assert (llm.attributes or {})["gen_ai.request.model"] == f"[{len(model)} characters withheld]"


def test_requests_of_a_report_written_before_span_ids_are_skipped_and_counted(
    report: dict[str, Any],
) -> None:
    older = json.loads(json.dumps(report))
    for request in older["slowest_requests"]:
        del request["start_unix_nano"]
        for span in request["spans"]:
            del span["span_id"], span["parent_id"]
    found = requests_for_export(older, Redactor(), RESOURCE)
    assert found.skipped == len(report["slowest_requests"])
    assert [s.name for s in found.spans] == ["llm"]  # the low-scored request still has ids
    assert requests_for_export({}, Redactor(), RESOURCE).spans == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("span_id", "not hex", "span_id must be up to 16 hex digits"),
        ("span_id", 7, "span_id must be text"),
        ("start_unix_nano", -1, "start_unix_nano must be a whole number"),
    ],
)
def test_a_malformed_request_names_its_field(
    report: dict[str, Any], field: str, value: object, message: str
) -> None:
    bad = json.loads(json.dumps(report))
    request = bad["slowest_requests"][0]
    (request if field == "start_unix_nano" else request["spans"][0])[field] = value
    with pytest.raises(ValueError, match=message):
        requests_for_export(bad, Redactor(), RESOURCE)
