"""The alert rules as Prometheus's own promtool reads and evaluates them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.export.alert_rules import rules_yaml
from pytest_llmobs.gate.rule_config import rules_from_config
from pytest_llmobs.gate.rules import Slo

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed"
)
RUN = {"job": "llmobs", "suite": "unit", "branch": "main"}
ODD = 'a"b{{c}}'  # a quality attribute that is a PromQL, YAML and Go template hazard at once
CONFIGURED = {
    "error_rate": {"warn": "5%", "fail": "10%"},
    "latency": {
        "p50": {"warn": "200ms"}, "p95": {"warn": "500ms", "fail": "1s"}, "p99": {"fail": "2s"},
    },
    "quality": {
        "answer.relevance": {"warn": 0.7, "fail": 0.6},
        ODD: {"fail": 0.6},
        "qualité": {"warn": 0.5},
    },
    "tokens": {"input": {"warn": 800}, "output": {"fail": 400}},
    "cost": {"warn": 0.01, "fail": 0.02},
}  # fmt: skip


def slos(table: Mapping[str, Any]) -> Mapping[str, Slo]:
    """SLOs as pyproject.toml's [tool.llmobs.slo] gives them, through the real parser."""
    return rules_from_config({"slo": table}, "pyproject.toml").slos


def series(name: str, /, **labels: str) -> str:
    """A series in promtool's notation, labelled as a Pushgateway of one run has it."""
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in {**labels, **RUN}.items())
    return f"{name}{{{shown}}}"


def alert(severity: str, summary: str, description: str, **labels: str) -> dict[str, Any]:
    return {
        "exp_labels": {**labels, **RUN, "severity": severity},
        "exp_annotations": {"summary": summary, "description": description},
    }


def promtool(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )


def promtool_test(
    tmp_path: Path,
    rules: str,
    inputs: Mapping[str, str],
    expected: Mapping[str, Sequence[Mapping[str, Any]]],
    at: str = "62m",
    exprs: Sequence[Mapping[str, Any]] = (),
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on these rules: the input series (one sample a minute), the
    alerts expected to fire at `at` (every other alert of those names must not), and
    PromQL expressions with their expected samples."""
    (tmp_path / "rules.yml").write_text(rules, encoding="utf-8")
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in inputs.items()],
                "alert_rule_test": [
                    {"eval_time": at, "alertname": name, "exp_alerts": list(alerts)}
                    for name, alerts in expected.items()
                ],
                "promql_expr_test": [{"eval_time": at, **e} for e in exprs],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(json.dumps(test), encoding="utf-8")  # JSON is YAML
    return promtool(tmp_path, "test", "rules", "test.yml")


@needs_promtool
@pytest.mark.parametrize("group_by", [(), ("gen_ai.request.model", "user.tier")])
@pytest.mark.parametrize("table", [{}, CONFIGURED], ids=["defaults", "configured"])
def test_promtool_accepts_the_rules(
    tmp_path: Path, table: Mapping[str, Any], group_by: Sequence[str]
) -> None:
    text = rules_yaml(slos(table), group_by)
    (tmp_path / "rules.yml").write_text(text, encoding="utf-8")
    done = promtool(tmp_path, "check", "rules", "rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {text.count('- alert:')} rules found" in done.stdout


def test_each_slo_level_is_a_rule_with_its_severity() -> None:
    text = rules_yaml(slos(CONFIGURED), ["gen_ai.request.model"])
    rules = re.findall(r'alert: "(\w+)"\n\s+expr: "(.*)"\n.*\n.*\n\s+severity: "(\w+)"', text)
    found = {(name, severity): expr for name, expr, severity in rules}
    assert found[("LlmobsErrorRate", "warning")] == "llmobs_span_error_ratio > 0.05"
    assert found[("LlmobsErrorRate", "critical")] == "llmobs_span_error_ratio > 0.1"
    p95 = 'llmobs_span_latency_seconds{quantile=\\"0.95\\"}'
    assert found[("LlmobsLatencyP95", "critical")] == f"{p95} > 1.0"
    assert found[("LlmobsLatencyP50", "warning")] == p95.replace("0.95", "0.5") + " > 0.2"
    assert ("LlmobsLatencyP50", "critical") not in found  # no fail level configured
    relevance = 'llmobs_quality_score{attribute=\\"answer.relevance\\"}'
    assert found[("LlmobsQualityAnswerRelevance", "critical")] == f"{relevance} < 0.6"
    assert found[("LlmobsQualityQualit", "warning")].endswith('\\"qualité\\"} < 0.5')
    cost = found[("LlmobsCost", "critical")]
    assert cost == 'llmobs_slo_breach{metric=\\"cost\\", level=\\"fail\\"} == 1'
    assert "llmobs_quality_score < " not in text  # configured attributes replace the default


@needs_promtool
def test_a_breached_slo_fires_warning_and_critical_and_an_unbreached_series_neither(
    tmp_path: Path,
) -> None:
    rules = rules_yaml(slos({"error_rate": {"warn": "5%", "fail": "10%"}}))
    inputs = {
        series("llmobs_span_error_ratio", series="chat"): "0.2x70",
        series("llmobs_span_error_ratio", series="embed"): "0.01x70",
    }
    described = "SLO from [tool.llmobs.slo]: error_rate warn 5%, fail 10%"
    expected = [
        alert(level, f"chat: error rate 20% is above the SLO's {name} level {limit}", described,
              alertname="LlmobsErrorRate", series="chat", slo="error_rate", threshold="slo")
        for level, name, limit in (("warning", "warn", "5%"), ("critical", "fail", "10%"))
    ]  # fmt: skip
    done = promtool_test(tmp_path, rules, inputs, {"LlmobsErrorRate": expected})
    assert done.returncode == 0, done.stdout + done.stderr
    # the same test fails when it expects nothing: the expectations are checked
    done = promtool_test(tmp_path, rules, inputs, {"LlmobsErrorRate": expected[:1]})
    assert done.returncode == 1
    assert "LlmobsErrorRate" in done.stdout + done.stderr


def chat_score(attribute: str, model: str) -> str:
    return series("llmobs_quality_score", series="chat", attribute=attribute,
                  gen_ai_request_model=model)  # fmt: skip


@needs_promtool
def test_a_quality_slo_of_a_dotted_and_an_odd_attribute_fires_on_its_cohort(
    tmp_path: Path,
) -> None:
    table = {"quality": {"answer.relevance": {"warn": 0.7, "fail": 0.6}, ODD: {"fail": 0.6}}}
    rules = rules_yaml(slos(table), ["gen_ai.request.model"])
    inputs = {
        chat_score("answer.relevance", "a"): "0.65x70",
        chat_score("answer.relevance", "b"): "0.9x70",
        chat_score(ODD, "a"): "0.5x70",
        chat_score(ODD, "b"): "0.5x70",
    }
    relevance = {"series": "chat", "gen_ai_request_model": "a", "attribute": "answer.relevance",
                 "slo": "quality.answer.relevance", "threshold": "slo"}  # fmt: skip
    where, source = "chat (gen_ai_request_model=a)", "SLO from [tool.llmobs.slo]"
    levels = f"{source}: quality.answer.relevance warn 0.7, fail 0.6"
    expected = {
        "LlmobsQualityAnswerRelevance": [
            alert("warning", f"{where}: quality answer.relevance 0.650 is below the SLO's warn "
                  "level 0.7", levels, alertname="LlmobsQualityAnswerRelevance", **relevance),
        ],
        "LlmobsQualityABC": [
            alert("critical", f"chat (gen_ai_request_model={m}): quality {ODD} 0.500 is below "
                  f"the SLO's fail level 0.6", f"{source}: quality.{ODD} fail 0.6",
                  alertname="LlmobsQualityABC", series="chat", gen_ai_request_model=m,
                  attribute=ODD, slo=f"quality.{ODD}", threshold="slo")
            for m in ("a", "b")
        ],
        # both cohorts of the odd attribute are down: no cohort dropped alone
        "LlmobsCohortQualityDrop": [
            alert("warning", f"{where}: quality answer.relevance 0.650 dropped below 0.7 in this "
                  "cohort alone; the others of the series hold",
                  f"quality.answer.relevance below 0.7 in one cohort of the series; {levels}",
                  alertname="LlmobsCohortQualityDrop", pattern="cohort_quality_drop", **relevance),
        ],
    }  # fmt: skip
    done = promtool_test(tmp_path, rules, inputs, expected)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_a_latency_spike_with_a_quality_drop_fires_on_its_series_alone(tmp_path: Path) -> None:
    rules = rules_yaml(slos({}))  # the article's defaults: quality warns below 0.7
    p95, score = "llmobs_span_latency_seconds", "llmobs_quality_score"
    inputs = {
        series(p95, series="chat", quantile="0.95"): "0.2x60 0.9x10",
        series(score, series="chat", attribute="relevance"): "0.9x60 0.5x10",
        # as slow, as bad, but always so: no spike
        series(p95, series="steady", quantile="0.95"): "0.9x70",
        series(score, series="steady", attribute="relevance"): "0.5x70",
        # as sudden a spike, with quality holding
        series(p95, series="fine", quantile="0.95"): "0.2x60 0.9x10",
        series(score, series="fine", attribute="relevance"): "0.9x70",
    }
    spike = alert(
        "critical",
        "chat: p95 latency 900ms is above 1.5x its 7d average while quality is below 0.7",
        "p95 latency spike with quality.* below 0.7; default threshold (no SLO configured): "
        "quality.* warn 0.7, fail 0.6",
        alertname="LlmobsLatencySpikeWithQualityDrop",
        series="chat",
        quantile="0.95",
        pattern="latency_spike_quality_drop",
        slo="quality.*",
        threshold="default",
    )
    done = promtool_test(tmp_path, rules, inputs, {"LlmobsLatencySpikeWithQualityDrop": [spike]})
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_an_error_spike_without_a_latency_change_fires_and_one_with_it_does_not(
    tmp_path: Path,
) -> None:
    rules = rules_yaml(slos({}))
    errors, p95 = "llmobs_span_error_ratio", "llmobs_span_latency_seconds"
    inputs = {
        series(errors, series="chat"): "0x60 0.2x10",
        series(p95, series="chat", quantile="0.95"): "0.2x70",
        series(errors, series="slow"): "0x60 0.2x10",  # its errors are timeouts
        series(p95, series="slow", quantile="0.95"): "0.2x60 0.9x10",
        series(errors, series="always"): "0.2x70",  # always this bad: no spike
        series(p95, series="always", quantile="0.95"): "0.2x70",
    }
    fast = alert(
        "warning",
        "chat: error rate 20% spiked while p95 latency held: failing fast, not timing out",
        "error rate above 5% and 1.5x its 7d average, p95 latency within 20% of its 7d average; "
        "default threshold (no SLO configured): error_rate warn 5%, fail 10%",
        alertname="LlmobsErrorSpikeWithoutLatencyChange",
        series="chat",
        pattern="error_spike_without_latency_change",
        threshold="default",
    )
    expected = {"LlmobsErrorSpikeWithoutLatencyChange": [fast]}
    done = promtool_test(tmp_path, rules, inputs, expected)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_a_run_that_did_not_pass_fires_until_a_passing_run_replaces_it(tmp_path: Path) -> None:
    info = "llmobs_run_info"
    inputs = {
        series(info, verdict="regression", commit="abc123"): "1x30",
        series(info, verdict="pass", commit="def456"): "_x30 1x40",
    }
    failed = alert(
        "critical",
        "pytest-llmobs gate: regression on branch main (commit abc123)",
        "the last run the Pushgateway holds for this suite and branch did not pass",
        alertname="LlmobsRunFailed",
        verdict="regression",
        commit="abc123",
    )
    rules = rules_yaml(slos({}))
    for at, alerts in (("20m", [failed]), ("62m", [])):
        done = promtool_test(tmp_path, rules, inputs, {"LlmobsRunFailed": alerts}, at=at)
        assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_a_tokens_slo_fires_at_the_level_the_gate_found_breached(tmp_path: Path) -> None:
    rules = rules_yaml(slos({"tokens": {"input": {"warn": 800, "fail": 1600}}}))
    breach = "llmobs_slo_breach"
    inputs = {
        series(breach, series="chat", metric="tokens.input", level="warn"): "1x70",
        series(breach, series="chat", metric="tokens.input", level="fail"): "0x70",
        series(breach, series="embed", metric="tokens.input", level="warn"): "0x70",
        series(breach, series="chat", metric="error_rate", level="warn"): "1x70",  # not tokens
    }
    warned = alert(
        "warning",
        "chat: input tokens per span is beyond the SLO's warn level 800, as the gate measured",
        "SLO from [tool.llmobs.slo]: tokens.input warn 800, fail 1600",
        alertname="LlmobsTokensInput",
        series="chat",
        metric="tokens.input",
        level="warn",
        slo="tokens.input",
        threshold="slo",
    )
    done = promtool_test(tmp_path, rules, inputs, {"LlmobsTokensInput": [warned]})
    assert done.returncode == 0, done.stdout + done.stderr


def test_cohorts_are_named_as_the_exporter_names_their_labels() -> None:
    text = rules_yaml({}, ["gen_ai.request.model", "suite", "1st.tier", "gen_ai.request.model"])
    join = "on(job, suite, branch, series, test, gen_ai_request_model, group_suite, _1st_tier)"
    assert join in text


def parsed(text: str) -> dict[str, list[dict[str, str]]]:
    """Each rule of a rules file by alert name: its keys (labels and annotations among
    them) and their values."""
    found: dict[str, list[dict[str, str]]] = {}
    for block in text.split("\n      - alert: ")[1:]:
        rule = dict(re.findall(r'^\s*(\w+): (".*")$', "alert: " + block, re.MULTILINE))
        values = {key: json.loads(value) for key, value in rule.items()}
        found.setdefault(values["alert"], []).append(values)
    return found


def test_each_rule_says_whether_its_level_is_an_slo_or_the_default() -> None:
    table = {"latency": {"p50": {"warn": "200ms"}}, "quality": {"relevance": {"fail": 0.5}}}
    rules = parsed(rules_yaml(slos(table), ["gen_ai.request.model"]))
    kinds = {name: {r["threshold"] for r in found} for name, found in rules.items() if
             name != "LlmobsRunFailed"}  # fmt: skip
    assert kinds == {
        "LlmobsErrorRate": {"default"},
        "LlmobsLatencyP50": {"slo"},
        "LlmobsLatencyP95": {"default"},
        "LlmobsQualityRelevance": {"slo"},  # no default quality rule beside it
        "LlmobsErrorSpikeWithoutLatencyChange": {"default"},
        "LlmobsLatencySpikeWithQualityDrop": {"slo"},
        "LlmobsCohortQualityDrop": {"slo"},
    }
    assert "threshold" not in rules["LlmobsRunFailed"][0]  # the gate's verdict, no level
    p50, p95 = rules["LlmobsLatencyP50"][0], rules["LlmobsLatencyP95"][0]
    assert p50["description"] == "SLO from [tool.llmobs.slo]: latency.p50 warn 200 ms"
    assert p95["description"] == (
        "default threshold (no SLO configured): latency.p95 warn 500 ms, fail 1000 ms"
    )
    spike = rules["LlmobsErrorSpikeWithoutLatencyChange"][0]["description"]
    assert spike.endswith("; default threshold (no SLO configured): error_rate warn 5%, fail 10%")


@needs_promtool
def test_the_patterns_match_each_marked_tests_series_with_its_own_samples(
    tmp_path: Path,
) -> None:
    """A marked test's series carries `test`: the same span name of another test (or of
    no test) neither stands in for its latency nor for its quality."""
    rules = rules_yaml(slos({}), ["gen_ai.request.model"])
    marked = "tests/test_chat.py::test_long"
    errors, p95, score = (
        "llmobs_span_error_ratio",
        "llmobs_span_latency_seconds",
        "llmobs_quality_score",
    )

    def of(name: str, span: str, test: str = "", **labels: str) -> str:
        return series(name, series=span, gen_ai_request_model="a", test=test, **labels)

    inputs = {
        # the marked test's errors come with its own latency spike: timeouts, no alert,
        # though the unmarked series of the same span name holds its latency
        of(errors, "chat", marked): "0x60 0.2x10",
        of(p95, "chat", marked, quantile="0.95"): "0.2x60 0.9x10",
        of(p95, "chat", quantile="0.95"): "0.2x70",
        # its quality holds; the unmarked series' quality is down (and its only cohort)
        of(score, "chat", marked, attribute="relevance"): "0.9x70",
        of(score, "chat", attribute="relevance"): "0.5x70",
        # failing fast in the marked test alone, whatever the unmarked series' latency
        of(errors, "embed", marked): "0x60 0.2x10",
        of(p95, "embed", marked, quantile="0.95"): "0.2x70",
        of(p95, "embed", quantile="0.95"): "0.2x60 0.9x10",
    }
    fast = alert(
        "warning",
        f"embed[test={marked}] (gen_ai_request_model=a): error rate 20% spiked while p95 "
        "latency held: failing fast, not timing out",
        "error rate above 5% and 1.5x its 7d average, p95 latency within 20% of its 7d average; "
        "default threshold (no SLO configured): error_rate warn 5%, fail 10%",
        alertname="LlmobsErrorSpikeWithoutLatencyChange", series="embed", test=marked,
        gen_ai_request_model="a", pattern="error_spike_without_latency_change",
        threshold="default",
    )  # fmt: skip
    expected = {
        "LlmobsErrorSpikeWithoutLatencyChange": [fast],
        "LlmobsLatencySpikeWithQualityDrop": [],
        "LlmobsCohortQualityDrop": [],
    }
    done = promtool_test(tmp_path, rules, inputs, expected)
    assert done.returncode == 0, done.stdout + done.stderr
