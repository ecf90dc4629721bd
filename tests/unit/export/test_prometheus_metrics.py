"""A run's Prometheus gauges: each family's values, the group labels' names, and the text
exposition read back by prometheus_client's own parser, whatever the names hold."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.prometheus import exposition, push, write_textfile
from pytest_llmobs.export.urls import masked
from pytest_llmobs.gate.compare import Check, Comparison
from pytest_llmobs.gate.model import LatencySummary, SeriesKey, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.slos import SloResult
from pytest_llmobs.report.prometheus_metrics import (
    MetricFamily,
    constant_labels,
    group_label_names,
    run_metrics,
)
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json, write_run_report
from tests.conftest import make_series

MODEL = "gen_ai.request.model"
METADATA = {
    "created_at": "2026-01-02T03:04:05+00:00",
    "git_commit": "abc123",
    "git_branch": "main",
    "suite": "rag",
}
LOADED = BaselineState(Path("baseline.json"), "loaded")
KEY = SeriesKey('chat "llm"', ((MODEL, "gpt-4o"),))


def series(name: str, group: dict[str, str] | None = None, **kwargs: Any) -> SeriesStats:
    made = make_series(name, **kwargs)
    return dataclasses.replace(made, key=SeriesKey(name, tuple(sorted((group or {}).items()))))


def chat(model: str = "gpt-4o", test: str | None = None) -> SeriesStats:
    """Four spans of 250 ms, one failed, scored 0.5 and 0.7, with tokens and cost."""
    group = {MODEL: model, **({"test": test} if test else {})}
    quality = {
        "overall_score": [0.5, 0.7],
        "gen_ai.usage.input_tokens": [100, 101, 102, 103],
        "gen_ai.usage.output_tokens": [7.5, 7.5, 7.5, 7.5],
        "llmobs.cost_usd": [0.001, 0.002, 0.003, 0.004],
    }
    return series('chat "llm"', group, latencies=[250.0] * 4, errors=1, quality=quality)


def by_labels(families: tuple[MetricFamily, ...], name: str) -> dict[frozenset[Any], float]:
    [family] = [f for f in families if f.name == name]
    return {frozenset(labels): value for labels, value in family.samples}


def result_of(*stats: SeriesStats, **kwargs: Any) -> RunResult:
    return RunResult(stats, LOADED, **{"metadata": METADATA, **kwargs})


def test_the_families_of_series_hold_their_values() -> None:
    lone = series("retrieve", latencies=[10.0, 30.0])  # no model: an empty model label
    families = run_metrics(result_of(chat(), lone))
    own = {("series", 'chat "llm"'), ("gen_ai_request_model", "gpt-4o")}
    latency = by_labels(families, "llmobs_span_latency_seconds")
    assert latency[frozenset({*own, ("quantile", "0.95")})] == 0.25  # 250 ms
    assert {q for k in latency for n, q in k if n == "quantile"} == {"0.5", "0.9", "0.95", "0.99"}
    assert by_labels(families, "llmobs_span_error_ratio") == {
        frozenset(own): 0.25,
        frozenset({("series", "retrieve"), ("gen_ai_request_model", "")}): 0.0,
    }
    assert by_labels(families, "llmobs_quality_score") == {
        frozenset({*own, ("attribute", "overall_score")}): pytest.approx(0.6)
    }  # tokens and cost are no quality
    assert by_labels(families, "llmobs_span_tokens") == {
        frozenset({*own, ("direction", "input")}): 406.0,  # the sum, not the mean
        frozenset({*own, ("direction", "output")}): 30.0,
    }
    assert by_labels(families, "llmobs_span_cost_usd") == {frozenset(own): pytest.approx(0.01)}
    assert by_labels(families, "llmobs_spans")[frozenset(own)] == 4.0


def test_the_families_of_the_run_hold_checks_verdict_and_time() -> None:
    checks = (Check(KEY, "latency.p50", "regression"), *[Check(KEY, "error_rate", "pass")] * 2)
    families = run_metrics(result_of(chat(), comparison=Comparison(checks)))
    assert [(f.name, f.unit) for f in families] == [
        ("llmobs_span_latency_seconds", "seconds"), ("llmobs_span_error_ratio", ""),
        ("llmobs_quality_score", ""), ("llmobs_span_tokens", ""),
        ("llmobs_span_cost_usd", "usd"), ("llmobs_spans", ""), ("llmobs_checks", ""),
        ("llmobs_slo_breach", ""), ("llmobs_run_info", ""), ("llmobs_run_tests_failed", ""),
        ("llmobs_run_timestamp_seconds", "seconds"),
    ]  # fmt: skip
    assert by_labels(families, "llmobs_checks") == {
        frozenset({("verdict", v)}): n
        for v, n in {"regression": 1.0, "pass": 2.0, "inconclusive": 0.0,
                     "improvement": 0.0, "new": 0.0, "missing": 0.0}.items()
    }  # fmt: skip
    assert by_labels(families, "llmobs_run_info") == {
        frozenset({("verdict", "regression"), ("commit", "abc123"), ("branch", "main")}): 1.0
    }
    assert by_labels(families, "llmobs_run_timestamp_seconds") == {frozenset(): 1767323045.0}
    assert by_labels(families, "llmobs_run_tests_failed") == {frozenset(): 0.0}
    failed = run_metrics(dataclasses.replace(result_of(chat()), tests_failed=3))
    assert by_labels(failed, "llmobs_run_tests_failed") == {frozenset(): 3.0}


@pytest.mark.parametrize(
    ("status", "warn", "fail", "breached"),
    [
        ("fail", 100.0, 200.0, {"warn": 1.0, "fail": 1.0}),  # beyond fail is beyond warn
        ("warn", 100.0, 200.0, {"warn": 1.0, "fail": 0.0}),
        ("ok", 100.0, 200.0, {"warn": 0.0, "fail": 0.0}),
        ("fail", None, 200.0, {"fail": 1.0}),  # one sample per level the SLO sets
    ],
)
def test_slo_breach_per_level(
    status: Any, warn: float | None, fail: float | None, breached: dict[str, float]
) -> None:
    slo = SloResult(KEY, "latency.p95", 250.0, warn, fail, status)
    found = by_labels(run_metrics(result_of(chat(), slos=(slo,))), "llmobs_slo_breach")
    assert {dict(k)["level"]: v for k, v in found.items()} == breached
    assert all(dict(k)["metric"] == "latency.p95" for k in found)


def test_without_a_comparison_every_verdict_counts_zero_and_unknowns_are_empty() -> None:
    result = RunResult((chat(),), BaselineState(Path("b"), "missing"), metadata={})
    families = run_metrics(result)
    assert set(by_labels(families, "llmobs_checks").values()) == {0.0}
    assert len(by_labels(families, "llmobs_checks")) == 6
    assert by_labels(families, "llmobs_run_info") == {
        frozenset({("verdict", "pass"), ("commit", ""), ("branch", "")}): 1.0
    }
    assert by_labels(families, "llmobs_run_timestamp_seconds") == {}
    assert constant_labels(result) == (("suite", ""), ("branch", ""))


@pytest.mark.parametrize(
    "created",
    ["2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05",
     "2026-01-02T04:04:05+01:00"],
)  # fmt: skip
def test_the_timestamp_is_unix_seconds_utc(created: str) -> None:
    result = result_of(chat(), metadata={"created_at": created})
    assert by_labels(run_metrics(result), "llmobs_run_timestamp_seconds") == {
        frozenset(): 1767323045.0
    }


@pytest.mark.parametrize(
    ("attributes", "labels"),
    [
        (["gen_ai.request.model"], ["gen_ai_request_model"]),
        (["user-tier", "1st", "série", ""], ["_", "_1st", "s_rie", "user_tier"]),
        (["series", "job", "le", "quantile", "branch", "suite"],
         ["group_branch", "group_job", "group_le", "group_quantile", "group_series",
          "group_suite"]),
        (["__meta", "_ok", "test"], ["group___meta", "_ok", "test"]),
        (["a_b", "a.b", "a-b"], ["a_b", "a_b_2", "a_b_3"]),  # sorted: a-b, a.b, a_b
        (["series", "group_series"], ["group_series", "group_series_2"]),
    ],
)  # fmt: skip
def test_group_label_names(attributes: list[str], labels: list[str]) -> None:
    names = group_label_names(attributes)
    assert [names[a] for a in sorted(attributes)] == labels
    assert names == group_label_names(reversed(attributes))  # whatever the order given


def test_every_sample_of_a_family_has_the_runs_group_labels() -> None:
    marked = chat("gpt-4o", test="test_rag.py::test_marked")  # a marked test's own series
    families = run_metrics(result_of(chat("small"), marked, series("retrieve", latencies=[1.0])))
    for family in families[:6]:
        names = {tuple(n for n, _ in labels[:3]) for labels, _ in family.samples}
        assert names == {("series", "gen_ai_request_model", "test")}, family.name
    spans = by_labels(families, "llmobs_spans")
    assert frozenset(
        {("series", 'chat "llm"'), ("gen_ai_request_model", "gpt-4o"),
         ("test", "test_rag.py::test_marked")}
    ) in spans  # fmt: skip
    assert frozenset({("series", "retrieve"), ("gen_ai_request_model", ""), ("test", "")}) in spans


ODD = ['say "hi"', "back\\slash", "two\nlines", "ünïcødé ✓", "{a=b}", 'x="}\\n']


@pytest.mark.parametrize("name", ODD)
def test_odd_names_round_trip_through_the_parser(name: str) -> None:
    stats = series(name, {"odd key": name}, latencies=[5.0], quality={"q\n": [0.5]})
    result = result_of(stats, metadata={**METADATA, "git_branch": name})
    text = exposition(run_metrics(result), constant_labels(result))
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    [spans] = parsed["llmobs_spans"].samples
    assert spans.labels == {"series": name, "odd_key": name, "suite": "rag", "branch": name}
    assert spans.value == 1.0
    [score] = parsed["llmobs_quality_score"].samples
    assert score.labels["attribute"] == "q\n"
    [info] = parsed["llmobs_run_info"].samples  # its own branch, not a second one
    assert info.labels == {"verdict": "pass", "commit": "abc123", "branch": name, "suite": "rag"}


def test_values_that_are_not_finite_are_left_out() -> None:
    nan, scores = math.nan, ("overall_score", "llmobs.cost_usd", "gen_ai.usage.input_tokens")
    cached = series("cached", latencies=[1.0], quality={k: [math.inf, nan] for k in scores})
    broken = dataclasses.replace(cached, latency=LatencySummary(*[nan] * 6))  # cache hits only
    families = run_metrics(result_of(broken, metadata={"created_at": "not a time"}))
    assert {f.name for f in families if f.samples} == {
        "llmobs_span_error_ratio", "llmobs_spans", "llmobs_checks", "llmobs_run_info",
        "llmobs_run_tests_failed",
    }  # fmt: skip
    text = exposition(families)
    assert "NaN" not in text
    assert "Inf" not in text
    assert len(list(text_string_to_metric_families(text))) == 11


def test_series_prometheus_cannot_tell_apart_become_one_sample() -> None:
    empty = series("chat", {MODEL: ""}, latencies=[9.0])  # "" reads as no label at all
    families = run_metrics(result_of(series("chat", latencies=[1.0]), empty))
    latency = by_labels(families, "llmobs_span_latency_seconds")
    assert set(latency.values()) == {0.001}  # the first by key
    parsed = {f.name: f for f in text_string_to_metric_families(exposition(families))}
    assert len(parsed["llmobs_span_latency_seconds"].samples) == 4


def test_samples_are_sorted() -> None:
    stats = [chat(m) for m in ("b", "a", "c")]
    for family in run_metrics(result_of(*stats)):
        assert list(family.samples) == sorted(family.samples)
    assert run_metrics(result_of(*stats)) == run_metrics(result_of(*reversed(stats)))


def test_a_saved_run_report_gives_the_same_metrics(tmp_path: Path) -> None:
    result = result_of(chat(), comparison=Comparison((Check(KEY, "latency.p50", "pass"),)))
    write_run_report(tmp_path / "run.json", result)
    again = result_from_json(tmp_path / "run.json")
    assert run_metrics(again) == run_metrics(result)
    doc = json.loads((tmp_path / "run.json").read_text())
    del doc["metadata"]["git_branch"], doc["metadata"]["suite"]  # as older reports are
    (tmp_path / "old.json").write_text(json.dumps(doc))
    older = result_from_json(tmp_path / "old.json")
    assert constant_labels(older) == (("suite", ""), ("branch", ""))
    assert by_labels(run_metrics(older), "llmobs_run_info") == {
        frozenset({("verdict", "pass"), ("commit", "abc123"), ("branch", "")}): 1.0
    }


def test_the_textfile_is_written_whole_and_parses(tmp_path: Path) -> None:
    result = result_of(chat())
    path = tmp_path / "llmobs.prom"
    path.write_text("old\n")
    write_textfile(path, run_metrics(result), constant_labels(result))
    assert [p.name for p in tmp_path.iterdir()] == ["llmobs.prom"]  # no temporary file left
    parsed = list(text_string_to_metric_families(path.read_text(encoding="utf-8")))
    assert len(parsed) == 11
    assert all(s.labels["suite"] == "rag" for f in parsed for s in f.samples)
    (tmp_path / "folder.prom").mkdir()
    with pytest.raises(IsADirectoryError):  # the caller reports it
        write_textfile(tmp_path / "folder.prom", run_metrics(result), ())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.prom", "llmobs.prom"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://host:9091", "scheme ftp:// (use http:// or https://)"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://host:port", "Port could not be cast to integer value as 'port'"),
        ("http://host:99999", "Port out of range 0-65535"),
        ("http://", "no host"),
        ("http://host:9091/?x=1", "a Pushgateway URL has no ?query or #fragment"),
        ("http://host :9091", "it contains spaces or control characters"),
    ],
)
def test_a_malformed_url_fails_before_any_connection(url: str, why: str) -> None:
    with pytest.raises(ExportError) as caught:
        push(url, "llmobs", {}, [], timeout=1)
    assert str(caught.value) == f"metrics to {url}: malformed URL: {why}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@gw.example:9091/x", "https://***@gw.example:9091/x"),
        ("user:pa55@gw.example:9091", "***@gw.example:9091"),
        ("http://u:p@ss@gw.example", "http://***@gw.example"),
        ("http://gw.example/path@x", "http://gw.example/path@x"),
        ("localhost:9091", "localhost:9091"),
    ],
)
def test_mask_hides_credentials(url: str, shown: str) -> None:
    assert masked(url) == shown
