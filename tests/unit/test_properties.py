"""Property-based tests: any input loads, or yields the documented error, never another one.

The examples are derandomized (the same on every run, so CI is stable); set
HYPOTHESIS_PROFILE=explore to search with fresh random examples.
"""

from __future__ import annotations

import copy
import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmobs.analysis.alerts import find_alerts
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.analysis.findings import (
    Attribution,
    Findings,
    RequestDetail,
    SpanPart,
    Structure,
)
from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.config.settings import ConfigError, Source, resolve
from pytest_llmobs.gate import baseline
from pytest_llmobs.gate.compare import Comparison, compare
from pytest_llmobs.gate.jsonfile import dumps
from pytest_llmobs.gate.model import CaptureSummary, Received, SeriesKey, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.redact import MASK, redactor
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import RuleError, parse_slo_value, parse_tolerance
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.report import terminal
from pytest_llmobs.report.html import html
from pytest_llmobs.report.junit import junit_xml
from pytest_llmobs.report.markdown import markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json, run_report
from tests.conftest import make_series

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
markup = st.sampled_from("|<>&\"'\\`*_[]\n\r\x00\x1b")
odd_text = st.text(st.characters(codec="utf-8") | markup, min_size=1, max_size=30)


def valid_baseline() -> dict[str, Any]:
    cases = [f"t.py::test[{i}]" for i in range(12)]
    series = [
        make_series("llm", [10.0 + i for i in range(12)], errors=1, cases=cases,
                    quality={"score": [0.5 + i / 100 for i in range(12)],
                             "gen_ai.usage.input_tokens": [float(40 + i) for i in range(12)],
                             "llmobs.cost_usd": [2.2e-6 * (1 + i) for i in range(12)]}),
        make_series("tool", [1.0] * 12, cases=cases),
    ]  # fmt: skip
    doc: dict[str, Any] = json.loads(baseline.baseline_document(series, {"created_at": "x"}))
    return doc


VALID = valid_baseline()


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """The document with one value somewhere inside it replaced by any JSON value."""
    doc = copy.deepcopy(document)
    node: Any = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, (dict, list)) or draw(st.booleans()):
            node[key] = draw(json_values)
            break
        node = child
    return doc


def dump(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True)  # writes NaN and Infinity as Python's json reads them


@given(st.binary(max_size=300))
def test_any_bytes_load_or_fail_with_a_baseline_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "baseline.json"
    path.write_bytes(raw)
    try:
        baseline.load(path)
    except baseline.BaselineError as exc:
        assert str(exc).startswith(f"{path}: ")


@given(mutated(VALID))
def test_any_changed_baseline_loads_or_fails_with_a_baseline_error(
    tmp_path: Path, doc: dict[str, Any]
) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(dump(doc))
    try:
        loaded = baseline.load(path)
    except baseline.BaselineError as exc:
        assert str(exc).startswith(f"{path}: ")
        assert "\n" not in str(exc)
        return
    for series in loaded.series:  # what loads is usable: finite, non-negative samples
        assert np.all(np.isfinite(series.latency_samples))
        assert np.all(series.latency_samples >= 0)
        compare(loaded.series, loaded.series)


def regressed_result(
    names: tuple[str, str] = ("llm", "tool"), group: tuple[tuple[str, str], ...] = ()
) -> RunResult:
    """Two series slower, less good and failing more than in their baseline."""
    cases = [f"t.py::test[{i}]" for i in range(12)]

    def series(name: str, start: float, errors: int, score: float) -> SeriesStats:
        made = make_series(name, [start + i for i in range(12)], errors=errors, cases=cases,
                           quality={"score": [score] * 12})  # fmt: skip
        return replace(made, key=SeriesKey(name, group))

    base = [series(n, 10.0, 0, 0.8) for n in names]
    now = [series(n, 15.0, 2, 0.6) for n in names]
    rules = rules_from_config({"slo": {"latency.p95": {"warn": "1ms"}}}, "test")
    comparison = compare(now, base, ("score",), rules)
    return RunResult(
        tuple(now), BaselineState(Path("b.json"), "loaded", "compared"),
        comparison, ("a warning",), slos=tuple(evaluate_slos(now, rules)),
        findings=findings(now[0].key, now[1].key, comparison), fail_on_alert="high",
        distributions=distributions(now, base),
        capture=CaptureSummary(40, 20, 20, 1.0, Received(10, 3, 1)),
    )  # fmt: skip


def findings(first: SeriesKey, second: SeriesKey, comparison: Comparison) -> Findings:
    """One of everything the analysis finds, naming the given series."""
    part = SpanPart(first.name, 0, 0.0, 20.0, 5.0, True, False)
    slow = RequestDetail(
        first, "t.py::test[1]", "req-1", "ab" * 16, "cd" * 8, 20.0, first.name, 20.0,
        (part, replace(part, name=second.name, depth=1, error=True)), second.name, 12.0,
        attributes={"gen_ai.prompt": "[5 characters withheld]", "tags": ("a", "b")},
    )  # fmt: skip
    low = replace(slow, metric="quality.score", score=0.3, output_tokens=40.0, output_chars=9)
    attribution = Attribution(first, 10.0, 5.0, ((second, 4.0),), 1.0, 12)
    structure = Structure({first: (second,)}, {first: (first.name,), second: (first.name,)})
    alerts = find_alerts(comparison, structure, (slow,), (low,))
    return Findings((slow,), (low,), (attribution,), alerts, structure)


def render(result: RunResult) -> tuple[list[str], str, str]:
    lines = terminal.summary_lines(result)
    page = html(result)
    # span text stays inside the page's JSON: it never ends the script element it is in
    assert page.count("</script>") == 4
    return lines, markdown(result), junit_xml(result)


REPORT: dict[str, Any] = json.loads(dumps(run_report(regressed_result())))


@given(st.data())
def test_any_changed_run_report_field_renders_or_fails_with_a_baseline_error(
    tmp_path: Path, data: st.DataObject
) -> None:
    doc = data.draw(mutated(REPORT))
    target = tmp_path / "run.json"
    target.write_text(dump(doc))
    try:
        result = result_from_json(target)
    except baseline.BaselineError as exc:
        assert str(exc).startswith(f"{target}: ")
        return
    render(result)


def test_the_findings_survive_a_run_report(tmp_path: Path) -> None:
    result = regressed_result()
    assert result.findings.alerts  # the regressions raise some: the report holds them
    target = tmp_path / "run.json"
    target.write_text(dumps(run_report(result)))
    assert result_from_json(target).findings == result.findings


def test_the_capture_summary_and_its_received_counts_survive_a_run_report(
    tmp_path: Path,
) -> None:
    target = tmp_path / "run.json"
    target.write_text(dumps(run_report(regressed_result())))
    assert result_from_json(target).capture == CaptureSummary(40, 20, 20, 1.0, Received(10, 3, 1))
    lines = terminal.summary_lines(result_from_json(target))
    assert (
        "received from services: 14 span(s), 10 by trace id, 3 by start time, 1 in no test" in lines
    )
    older = json.loads(target.read_text())
    del older["capture"]["received"]  # a report from before spans were received
    target.write_text(json.dumps(older))
    assert result_from_json(target).capture == CaptureSummary(40, 20, 20, 1.0)


@given(odd_text, odd_text, odd_text)
def test_renderers_escape_any_span_name_and_group_value(name: str, attr: str, value: str) -> None:
    lines, md, xml = render(regressed_result((name, name + "2"), ((attr, value),)))
    for line in lines:
        assert line.isprintable()
    root = ET.fromstring(xml)  # well-formed whatever the name holds
    assert root.findall(".//testcase")
    tables: list[list[str]] = [[]]
    for row in md.splitlines():
        assert row.isprintable()
        if row.startswith("| "):
            tables[-1].append(row)
        elif tables[-1]:
            tables.append([])
    assert len(tables) >= 3  # the regressions, the alerts, the requests behind them
    for rows in tables[:-1]:
        # every row keeps its header's columns: each | in span text is escaped
        assert {row.replace("\\|", "").count("|") for row in rows} == {rows[0].count("|")}


METRICS = ["latency.p50", "latency.p95", "error_rate", "quality.score", "tokens.output", "cost"]


@given(st.sampled_from(METRICS), st.text(max_size=20))
def test_any_rule_text_parses_or_fails_with_a_value_error(metric: str, spec: str) -> None:
    try:
        parse_tolerance(metric, spec)
    except ValueError as exc:
        assert str(exc)


@given(st.sampled_from(METRICS), json_values)
def test_any_slo_value_parses_or_fails_with_a_value_error(metric: str, value: Any) -> None:
    try:
        threshold = parse_slo_value(metric, value)
    except ValueError as exc:
        assert str(exc)
    else:
        assert np.isfinite(threshold)


rule_tables = st.fixed_dictionaries(
    {},
    optional={
        "rules": st.dictionaries(st.sampled_from([*METRICS, "latency.*", "x"]),
                                 st.text(max_size=8) | json_values, max_size=3),
        "overrides": json_values,
        "slo": json_values,
    },
)  # fmt: skip


@given(rule_tables)
def test_any_rules_table_gives_rules_or_a_rule_error(table: dict[str, Any]) -> None:
    try:
        rules_from_config(table, "[tool.llmobs] in p")
    except RuleError as exc:
        assert "([tool.llmobs] in p)" in str(exc)


@given(st.dictionaries(st.sampled_from([o.name for o in OPTIONS]), json_values, max_size=4))
def test_any_setting_values_resolve_or_fail_with_a_config_error(values: dict[str, Any]) -> None:
    try:
        resolve([Source("[tool.llmobs] in p", values, Path("/p"))], Path("/p"))
    except ConfigError as exc:
        assert "[tool.llmobs] in p" in str(exc)


@given(st.text(max_size=40), st.emails(), st.text(max_size=40))
def test_no_email_survives_redaction(before: str, email: str, after: str) -> None:
    shown = redactor(allow=["note"]).value("note", f"{before} {email} {after}")
    assert isinstance(shown, str)
    assert email not in shown
    assert MASK in shown


@pytest.mark.parametrize("secret", ["sk-proj-" + "a1" * 12, "AKIA" + "B" * 16])
@given(prefix=st.text(max_size=30), suffix=st.text(max_size=30))
def test_no_key_survives_redaction(secret: str, prefix: str, suffix: str) -> None:
    shown = redactor(allow=["note"]).text(f"{prefix} {secret} {suffix}")
    assert secret not in shown


@st.composite
def run_pairs(draw: st.DrawFn) -> tuple[SeriesStats, SeriesStats]:
    """A series in two runs: per-case latencies (paired when enough cases), scores, errors."""
    cases = draw(st.integers(1, 40))
    per_case = draw(st.integers(1, 4))
    names = [f"t.py::test[{i}]" for i in range(cases) for _ in range(per_case)]
    size = len(names)
    latency = st.floats(0.001, 5_000, allow_nan=False)
    score = st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-1, 1, allow_nan=False)  # ties too

    def series() -> SeriesStats:
        return make_series(
            "s", draw(st.lists(latency, min_size=size, max_size=size)),
            errors=draw(st.integers(0, size)),
            quality={"q": draw(st.lists(score, min_size=size, max_size=size))},
            cases=names,
        )  # fmt: skip

    return series(), series()


@given(run_pairs(), st.booleans())
def test_every_estimate_lies_within_its_interval_and_agrees_with_its_test(
    pair: tuple[SeriesStats, SeriesStats], paired: bool
) -> None:
    current, before = pair
    if not paired:  # the same numbers without case ids: unpaired tests
        current, before = (
            make_series("s", list(s.latency_samples), s.errors, {"q": list(s.quality_samples["q"])})
            for s in pair
        )
    for check in compare([current], [before], ["q"]).checks:
        if check.ci_low is None or check.ci_high is None:
            continue
        estimate = check.relative if check.metric.startswith("latency") else check.change
        assert estimate is not None
        assert check.ci_low <= estimate <= check.ci_high, check
        if check.paired:  # the plain change of the statistic is kept beside, labelled
            assert check.current is not None
            assert check.baseline is not None
            assert check.pooled_change == pytest.approx(check.current - check.baseline)
        if check.test in ("quantile-z", "welch-t", "paired-t") and check.p_raw is not None:
            # the interval leaves out the tolerance's bound, on the side the estimate moved,
            # just when the test of that bound rejects (5%, two-sided)
            if estimate == 0 or check.baseline is None:
                continue
            bound = _bound(check.metric, check.baseline) * (1 if estimate > 0 else -1)
            excludes = check.ci_low > bound if estimate > 0 else check.ci_high < bound
            if abs(check.p_raw - 0.025) > 1e-6 and abs(estimate - bound) > 1e-9:
                assert excludes == (check.p_raw < 0.025), check


def _bound(metric: str, baseline: float) -> float:
    """The default tolerance's bound on the scale a check's interval is on."""
    if metric.startswith("latency"):  # +10% and +1 ms: the larger of them, relative
        return max(0.1, 1 / baseline) if baseline > 0 else math.inf
    return 0.02 if metric == "error_rate" else 0.05
