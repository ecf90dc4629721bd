"""The gate's checks as JUnit XML: a suite per series, a case per check.

Written with the junit-xml package (1.9), around its quirks: properties exist on suites
only, so each series' metric values go on its suite; a case's `time` is left out when
it is 0, so every case gets a nominal time; `add_failure_info()` without a message is
ignored, so every failure and skip carries one.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from pytest_llmobs.analysis.findings import Findings, fails
from pytest_llmobs.gate import units
from pytest_llmobs.gate.compare import Check, Comparison
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.report import text
from pytest_llmobs.report.result import RunResult

_CASE_TIME = 0.001  # seconds: a check takes no time of its own, but CI tools want one


def junit_xml(result: RunResult) -> str:
    """The run's checks, SLOs and fail-closed errors as one JUnit XML document."""
    checks = result.comparison.checks if result.comparison is not None else ()
    suites = [
        _series_suite(label, list(group), result.findings)
        for label, group in groupby(sorted(checks, key=_label), key=_label)
    ]
    if result.slos:
        suites.append(_slo_suite(result))
    if result.findings.alerts:
        suites.append(_alert_suite(result))
    comparison = result.comparison
    if comparison is not None and (comparison.failures or (result.ci and comparison.unjudged)):
        suites.append(_coverage_suite(comparison, result.ci))
    gate_errors = [*result.errors]
    if result.baseline.status == "error" or (result.ci and result.baseline.status == "missing"):
        gate_errors.insert(0, result.baseline.message)
    if gate_errors:
        case = TestCase("gate", classname="llmobs", elapsed_sec=_CASE_TIME)
        case.add_error_info(message="; ".join(gate_errors), error_type="llmobs.gate")
        suites.append(TestSuite("llmobs gate", [case]))
    return str(to_xml_report_string(suites, prettyprint=True))


def write_junit_xml(path: Path, result: RunResult) -> None:
    """Write the JUnit XML atomically."""
    write_atomic(path, junit_xml(result))


def _label(check: Check) -> str:
    return check.series.label


def _series_suite(label: str, checks: list[Check], why: Findings) -> TestSuite:
    cases, properties = [], {}
    for check in checks:
        case = TestCase(
            f"{label} {check.metric}", classname=f"llmobs.{label}", elapsed_sec=_CASE_TIME
        )
        if check.verdict == "regression":
            case.add_failure_info(message=_failure(check), output=_why(check, why))
        elif check.verdict == "inconclusive":
            case.add_skipped_info(message=check.reason or "inconclusive")
        cases.append(case)
        for name, value in (
            ("baseline", check.baseline),
            ("current", check.current),
            ("change", check.change),
            ("p_value", check.p_value),
        ):
            if value is not None:
                properties[f"{check.metric}.{name}"] = f"{value:.6g}"
        properties[f"{check.metric}.verdict"] = check.verdict
    return TestSuite(f"llmobs {label}", cases, properties=properties)


def _why(check: Check, found: Findings) -> str:
    """The check's statistics, then where the time went and the requests behind it."""
    lines = [text.detail(check)]
    if check.metric.startswith("latency"):
        lines += [text.attribution(a) for a in found.attributions if a.series == check.series]
        lines += [f"slowest: {text.request(d)}" for d in found.slowest if d.series == check.series]
    else:
        lines += [
            f"lowest: {text.request(d)}"
            for d in found.lowest
            if d.series == check.series and d.metric == check.metric
        ]
    return "\n".join(lines)


def _alert_suite(result: RunResult) -> TestSuite:
    """A case per alert: a failure when its severity fails the gate, else its message."""
    cases = []
    for alert in result.findings.alerts:
        labels = ", ".join(k.label for k in alert.series)
        case = TestCase(
            f"{alert.type} {labels}", classname="llmobs.alerts", elapsed_sec=_CASE_TIME,
            stdout=text.alert(alert),
        )  # fmt: skip
        if fails(alert, result.fail_on_alert):
            case.add_failure_info(message=text.alert(alert), failure_type=alert.type)
        cases.append(case)
    return TestSuite("llmobs alerts", cases)


def _coverage_suite(comparison: Comparison, ci: bool) -> TestSuite:
    """A failing case per thing the baseline holds that this run did not measure (in CI
    mode, also what it could not judge)."""
    failures = [("test cases", sentence) for sentence in comparison.selection]
    if ci:
        failures += [("test cases not judged", sentence) for sentence in comparison.unjudged]
    failures += [(f"{a.subject} coverage", f"{a.subject}: {a.reason}") for a in comparison.lost]
    cases = []
    for name, message in failures:
        case = TestCase(name, classname="llmobs.coverage", elapsed_sec=_CASE_TIME)
        case.add_failure_info(message=message, failure_type="llmobs.not_measured")
        cases.append(case)
    return TestSuite("llmobs coverage", cases)


def _failure(check: Check) -> str:
    before = units.value(check.metric, check.baseline)
    now = units.value(check.metric, check.current)
    change = units.change(check)
    if text.overall(check):
        change += f" per test case ({text.overall(check)})"
    return (
        f"{check.metric} regressed: baseline {before}, current {now}, "
        f"change {change}, p {text.p_text(check.p_value)}"
    )


def _slo_suite(result: RunResult) -> TestSuite:
    cases = []
    for slo in result.slos:
        value = units.value(slo.metric, slo.value)
        case = TestCase(
            f"{slo.series.label} slo {slo.metric}", classname="llmobs.slo", elapsed_sec=_CASE_TIME
        )
        if slo.status == "fail":
            threshold = units.value(slo.metric, slo.fail)
            case.add_failure_info(
                message=f"{slo.metric} = {value} breaches its fail level {threshold}"
            )
        cases.append(case)
    return TestSuite("llmobs slo", cases)
