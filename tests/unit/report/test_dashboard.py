"""The data each dashboard panel receives, the run history and the page around them."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_llmobs.analysis.analyze import with_comparison
from pytest_llmobs.analysis.distributions import BINS, distributions
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.model import SeriesKey
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.report import history
from pytest_llmobs.report.dashboard import panels
from pytest_llmobs.report.html import PANELS, html
from pytest_llmobs.report.result import RunResult
from tests.conftest import make_series
from tests.unit.analysis.test_breakdown import findings_for, run

CASES = [f"t.py::test[{i}]" for i in range(20)]


def grouped(tier: str, start: float, score: float) -> object:
    tokens = [100.0 + i for i in range(20)]
    quality = {"score": [score] * 20, "gen_ai.usage.output_tokens": tokens}
    series = make_series("judge", [start + i for i in range(20)], 1, quality, CASES)
    return replace(series, key=SeriesKey("judge", (("tier", tier),)))


def result_of(slo: str | None = None) -> RunResult:
    before = [grouped("free", 10, 0.8), grouped("pro", 10, 0.8)]
    now = [grouped("free", 10, 0.8), grouped("pro", 14, 0.6)]
    rules = rules_from_config({"slo": {"latency.p95": {"warn": slo}}} if slo else {}, "t")
    return RunResult(
        tuple(now), BaselineState(Path("b.json"), "loaded", "compared with b.json"),  # type: ignore[arg-type]
        compare(now, before, ["score"], rules), slos=tuple(evaluate_slos(now, rules)),  # type: ignore[arg-type]
        metadata={"created_at": "2026-11-27T00:00:00+00:00", "git_commit": "abc123"},
        distributions=distributions(now, before),  # type: ignore[arg-type]
    )  # fmt: skip


def test_histograms_share_edges_with_the_baseline() -> None:
    before = [make_series("llm", [10.0] * 5 + [20.0] * 5)]
    now = [make_series("llm", [30.0] * 10, quality={"score": [0.5] * 10})]
    [latency, score] = distributions(now, before)
    assert (latency.metric, score.metric) == ("latency", "quality.score")
    assert len(latency.edges) == BINS + 1
    assert (latency.edges[0], latency.edges[-1]) == (10.0, 30.0)
    assert sum(latency.current) == 10
    assert sum(latency.baseline) == 10
    assert latency.current[-1] == 10  # all in the top bin
    assert latency.baseline[0] == 5
    assert sum(score.baseline) == 0  # the baseline had no scores
    assert score.edges[0] < 0.5 < score.edges[-1]  # one value: a bin around it


def test_health_tiles_are_coloured_by_their_slos() -> None:
    tiles = {t["metric"]: t for t in panels(result_of())["health"]}
    assert set(tiles) == {"error_rate", "latency.p95", "quality.score"}
    assert tiles["error_rate"]["value"] == pytest.approx(2 / 40)
    assert tiles["error_rate"]["text"] == "5.0%"
    assert tiles["quality.score"]["value"] == pytest.approx(0.7)
    assert all(t["status"] == "none" for t in tiles.values())  # no SLO: neutral
    warned = {t["metric"]: t["status"] for t in panels(result_of(slo="1ms"))["health"]}
    assert warned["latency.p95"] == "warn"
    assert warned["error_rate"] == "none"


def test_distribution_comparison_and_cohort_panels() -> None:
    data = panels(result_of())
    assert {h["series"] for h in data["latency_histograms"]} == {
        "judge[tier=free]", "judge[tier=pro]",
    }  # fmt: skip
    assert [h["metric"] for h in data["quality_histograms"]] == ["quality.score"] * 2
    assert [h["metric"] for h in data["output_histograms"]] == ["tokens.output"] * 2
    pro = {c["metric"]: c for c in data["comparison"] if c["series"] == "judge[tier=pro]"}
    assert pro["latency.p50"]["relative"] is True
    assert pro["latency.p50"]["ci_low"] <= pro["latency.p50"]["change"] > 0
    assert pro["quality.score"]["change"] == pytest.approx(-0.2)
    assert pro["quality.score"]["verdict"] == "regression"
    assert data["cohorts"] == {
        "columns": ["tier=free", "tier=pro"],
        "rows": [{"label": "judge quality.score",
                  "cells": {"tier=free": pytest.approx(0.8), "tier=pro": pytest.approx(0.6)}}],
    }  # fmt: skip
    assert [r["series"] for r in data["latency_by_series"]] == [
        "judge[tier=free]",
        "judge[tier=pro]",
    ]
    assert data["trends"] is None
    ungrouped = replace(result_of(), series=(make_series("llm", [1.0]),))
    assert panels(ungrouped)["cohorts"] is None


def test_waterfalls_and_alerts_come_from_the_findings() -> None:
    before, _ = findings_for(run([10.0] * 40, [0.9] * 40))
    now, found = findings_for(run([10.0] * 37 + [60.0, 90.0, 80.0], [0.9] * 40))
    comparison = compare(now, before, ["score"])
    found = with_comparison(found, comparison, now, before)
    result = RunResult(tuple(now), BaselineState(Path("b"), "loaded"), comparison, findings=found)
    [first, second] = panels(result)["waterfalls"]  # the main (root) series' slowest two
    assert first["series"] == "request"
    assert first["duration_ms"] == 110.0
    assert [s["name"].strip() for s in first["spans"]] == ["request", "retrieve", "llm", "judge"]
    llm = first["spans"][2]
    assert (llm["start"], llm["end"], llm["critical"]) == (12.0, 102.0, True)
    assert first["spans"][1]["name"] == "  retrieve"  # indented by depth
    assert second["duration_ms"] == 100.0


def test_trends_follow_the_history_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    for i, start in enumerate((10.0, 12.0, 15.0)):
        series = (
            make_series("llm", [start] * 10, errors=i, quality={"score": [0.9 - i / 10] * 10}),
        )
        history.append(path, f"2026-11-2{i}", f"commit{i}", "pass", series)
    runs = history.load(path)
    assert [r.git_commit for r in runs] == ["commit0", "commit1", "commit2"]
    assert [r.git_commit for r in history.load(path, last=2)] == ["commit1", "commit2"]
    trends = panels(result_of(), runs)["trends"]
    assert [r["created_at"] for r in trends["runs"]] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    llm = trends["series"]["llm"]
    assert llm["p50"] == [10.0, 12.0, 15.0]
    assert llm["error_rate"] == pytest.approx([0.0, 0.1, 0.2])
    assert llm["count"] == [10, 10, 10]
    assert llm["quality"]["score"] == pytest.approx([0.9, 0.8, 0.7])
    assert list(llm["quality"]) == ["score"]  # token counts are not quality


def test_a_broken_history_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(history.HistoryError, match=f"^{re.escape(str(path))}: "):
        history.load(path)
    with pytest.raises(FileNotFoundError):
        history.load(tmp_path / "none.sqlite")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE runs (something TEXT)")
    with pytest.raises(history.HistoryError, match="not a usable history file"):
        history.append(other, "now", None, "pass", (make_series("llm", [1.0]),))


def test_the_page_is_self_contained_and_escapes_span_text() -> None:
    hostile = "</script><script>alert(1)</script>"
    result = result_of()
    series = tuple(replace(s, key=SeriesKey(hostile, s.key.group)) for s in result.series)
    page = html(replace(result, series=series))
    assert "<script>alert(1)" not in page  # the name stays inside the data, as \u003c...
    data = page.split('<script id="llmobs-data" type="application/json">')[1].split("</script>")[0]
    names = {h["series"].split("[")[0] for h in json.loads(data)["latency_by_series"]}
    assert names == {hostile}
    for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page):
        assert "src=" not in tag  # nothing is fetched
        assert "href=" not in tag
    assert "window.Chart=" in page  # Chart.js is inlined
    assert "sourceMappingURL" not in page
    assert len(page.encode()) < 3 * 2**20
    for panel in PANELS:
        assert f'id="{panel}"' in page


def test_a_run_without_baseline_still_draws_its_requests() -> None:
    now, found = findings_for(run([10.0] * 20, [0.9] * 20))
    data = panels(RunResult(tuple(now), BaselineState(Path("b"), "missing"), findings=found))
    assert data["alerts"] == []
    assert data["comparison"] == []
    assert {w["series"] for w in data["waterfalls"]} == {"request"}
    assert all(sum(h["baseline"]) == 0 for h in data["latency_histograms"])
