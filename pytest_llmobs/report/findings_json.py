"""The analysis' findings in the run report: written as plain JSON, read back checked."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict
from typing import Any

from pytest_llmobs.analysis.distributions import Distribution
from pytest_llmobs.analysis.findings import (
    Alert,
    Attribution,
    Findings,
    RequestDetail,
    SpanPart,
    Structure,
)
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.severity import SEVERITIES


def series_fields(key: SeriesKey) -> dict[str, Any]:
    """How every entry names its series: the full key, the span name, the grouping values."""
    return {"series": key.label, "name": key.name, "group": dict(key.group)}


def findings_to_json(findings: Findings) -> dict[str, Any]:
    """The run report's fields for the findings."""
    return {
        "alerts": [_alert(a) for a in findings.alerts],
        "slowest_requests": [_request(r) for r in findings.slowest],
        "low_quality_requests": [_request(r) for r in findings.lowest],
        "attributions": [_attribution(a) for a in findings.attributions],
        "request_paths": [
            {
                **series_fields(key),
                "children": [series_fields(c) for c in findings.structure.children.get(key, ())],
                "requests": list(findings.structure.requests.get(key, ())),
            }
            for key in sorted({*findings.structure.children, *findings.structure.requests})
        ],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "type": alert.type,
        "severity": alert.severity,
        "message": alert.message,
        "series": [k.label for k in alert.series],
        "cohort": dict(alert.cohort) or None,
        "checks": [{**series_fields(k), "metric": m} for k, m in alert.checks],
        "requests": [{"test": t, "request_id": r} for t, r in alert.requests],
    }


def _request(detail: RequestDetail) -> dict[str, Any]:
    fields = asdict(detail)
    del fields["series"]
    fields["spans"] = [asdict(p) for p in detail.spans]
    fields["attributes"] = {k: list(v) if isinstance(v, tuple) else v
                            for k, v in detail.attributes.items()}  # fmt: skip
    return {**series_fields(detail.series), **fields}


def _attribution(attribution: Attribution) -> dict[str, Any]:
    return {
        **series_fields(attribution.series),
        "metric": "latency.mean",
        "baseline_ms": attribution.baseline_ms,
        "change_ms": attribution.change_ms,
        "self_change_ms": attribution.self_change_ms,
        "cases": attribution.cases,
        "parts": [{**series_fields(k), "change_ms": v} for k, v in attribution.parts],
    }


def findings_from_json(doc: dict[str, Any]) -> Findings:
    """Findings read back from a run report; a report without them gives none.

    Raises:
        ValueError: a field has the wrong type; the message names it.
    """
    children: dict[SeriesKey, tuple[SeriesKey, ...]] = {}
    requests: dict[SeriesKey, tuple[str, ...]] = {}
    for entry in objects(doc, "request_paths"):
        key = key_of(entry)
        if kids := tuple(key_of(c) for c in objects(entry, "children")):
            children[key] = kids
        if names := texts(entry, "requests"):
            requests[key] = names
    return Findings(
        slowest=tuple(_read_request(r) for r in objects(doc, "slowest_requests")),
        lowest=tuple(_read_request(r) for r in objects(doc, "low_quality_requests")),
        attributions=tuple(_read_attribution(a) for a in objects(doc, "attributions")),
        alerts=tuple(_read_alert(a) for a in objects(doc, "alerts")),
        structure=Structure(children, requests),
    )


def _read_alert(entry: dict[str, Any]) -> Alert:
    severity = text(entry, "severity")
    if severity not in SEVERITIES:
        raise ValueError(f"alerts: unknown severity {severity!r}")
    checks = tuple((key_of(c), text(c, "metric")) for c in objects(entry, "checks"))
    cohort = entry.get("cohort") or {}
    if not isinstance(cohort, dict) or not all(isinstance(v, str) for v in cohort.values()):
        raise ValueError("alerts: cohort must be an object of texts or null")
    return Alert(
        text(entry, "type"), severity, text(entry, "message"),
        tuple(dict.fromkeys(k for k, _ in checks)), checks, tuple(sorted(cohort.items())),
        tuple((_optional_text(r, "test"), _optional_text(r, "request_id"))
              for r in objects(entry, "requests")),
    )  # fmt: skip


def _read_request(entry: dict[str, Any]) -> RequestDetail:
    parts = tuple(
        SpanPart(
            text(p, "name"),
            count(p, "depth"),
            number(p, "offset_ms"),
            number(p, "duration_ms"),
            number(p, "self_ms"),
            flag(p, "critical"),
            flag(p, "error"),
            _optional_text(p, "span_id"),
            _optional_text(p, "parent_id"),
        )
        for p in objects(entry, "spans")
    )
    attributes = entry.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ValueError("attributes must be an object")
    return RequestDetail(
        series=key_of(entry), test=_optional_text(entry, "test"),
        request_id=_optional_text(entry, "request_id"), trace_id=text(entry, "trace_id"),
        span_id=text(entry, "span_id"), duration_ms=number(entry, "duration_ms"),
        request=text(entry, "request"), request_ms=number(entry, "request_ms"), spans=parts,
        step=_optional_text(entry, "step"),
        baseline_case_ms=optional_number(entry, "baseline_case_ms"),
        metric=_optional_text(entry, "metric"), score=optional_number(entry, "score"),
        input_tokens=optional_number(entry, "input_tokens"),
        output_tokens=optional_number(entry, "output_tokens"),
        prompt_chars=_optional_count(entry, "prompt_chars"),
        output_chars=_optional_count(entry, "output_chars"),
        attributes={str(k): _attribute(v) for k, v in attributes.items()},
        start_unix_nano=_optional_count(entry, "start_unix_nano"),
    )  # fmt: skip


def _read_attribution(entry: dict[str, Any]) -> Attribution:
    return Attribution(
        key_of(entry), number(entry, "baseline_ms"), number(entry, "change_ms"),
        tuple((key_of(p), number(p, "change_ms")) for p in objects(entry, "parts")),
        number(entry, "self_change_ms"), count(entry, "cases"),
    )  # fmt: skip


# Readers of plain fields: each raises ValueError naming the field.


def key_of(entry: dict[str, Any]) -> SeriesKey:
    group = entry.get("group", {})
    if not isinstance(group, dict) or not all(isinstance(v, str) for v in group.values()):
        raise ValueError(f"group must be an object of texts, got {group!r:.40}")
    return SeriesKey(text(entry, "name"), tuple(sorted(group.items())))


def objects(entry: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = entry.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{name} must be a list of objects")
    return items


def text(entry: dict[str, Any], name: str, default: str | None = None) -> str:
    value = entry.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r:.40}")
    return value


def _optional_text(entry: dict[str, Any], name: str) -> str | None:
    return None if entry.get(name) is None else text(entry, name)


def texts(entry: dict[str, Any], name: str) -> tuple[str, ...]:
    items = entry.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{name} must be a list of texts")
    return tuple(items)


def flag(entry: dict[str, Any], name: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r:.40}")
    return value


def optional_number(entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number or null, got {value!r:.40}")
    return float(value)


def number(entry: dict[str, Any], name: str) -> float:
    value = optional_number(entry, name)
    if value is None:
        raise ValueError(f"{name} must be a finite number")
    return value


def count(entry: dict[str, Any], name: str) -> int:
    value = entry.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r:.40}")
    return value


def _optional_count(entry: dict[str, Any], name: str) -> int | None:
    return None if entry.get(name) is None else count(entry, name)


def _attribute(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return tuple(value)
    raise ValueError(f"attributes: {value!r:.40} is not an attribute value")


def distributions_to_json(found: tuple[Distribution, ...]) -> list[dict[str, Any]]:
    return [
        {**series_fields(d.series), "metric": d.metric, "edges": list(d.edges),
         "current": list(d.current), "baseline": list(d.baseline)}
        for d in found
    ]  # fmt: skip


def distributions_from_json(doc: dict[str, Any]) -> tuple[Distribution, ...]:
    """Histograms read back; each must have one more edge than counts, in order."""
    found = []
    for entry in objects(doc, "distributions"):
        edges = _numbers(entry, "edges")
        current, baseline = _counts(entry, "current"), _counts(entry, "baseline")
        if not len(edges) == len(current) + 1 == len(baseline) + 1:
            raise ValueError("distributions: edges must be one more than the counts")
        if any(b < a for a, b in itertools.pairwise(edges)):
            raise ValueError("distributions: edges must be in order")
        found.append(Distribution(key_of(entry), text(entry, "metric"), edges, current, baseline))
    return tuple(found)


def _numbers(entry: dict[str, Any], name: str) -> tuple[float, ...]:
    values = entry.get(name)
    if not isinstance(values, list):
        raise ValueError(f"{name} must be a list of numbers")
    return tuple(number({name: v}, name) for v in values)


def _counts(entry: dict[str, Any], name: str) -> tuple[int, ...]:
    values = entry.get(name)
    if not isinstance(values, list):
        raise ValueError(f"{name} must be a list of counts")
    return tuple(count({name: v}, name) for v in values)
