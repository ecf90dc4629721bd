"""Words and numbers shared by every report: headline, values, changes, p, explanations."""

from __future__ import annotations

from pytest_llmobs.analysis.findings import Alert, Attribution, RequestDetail
from pytest_llmobs.gate.compare import Check
from pytest_llmobs.gate.model import Received
from pytest_llmobs.gate.selection import listed
from pytest_llmobs.gate.units import pct, signed, value
from pytest_llmobs.report import attention
from pytest_llmobs.report.result import RunResult


def title(result: RunResult) -> str:
    """The summary's headline, verdict first, and what put it in CI mode."""
    mode = f" [CI mode: {result.ci_source}]" if result.ci else ""
    if result.shard is not None:
        tests = len(result.ran.now) if result.ran is not None else 0
        return f"llmobs: SHARD recorded, not judged: {tests} tests (judged once combined)"
    if result.advisory and result.verdict != "pass":
        mode += " [advisory: the run does not fail]"
    if result.comparison is None:
        return f"llmobs: {result.verdict.upper()}{mode}"
    checks = result.comparison.checks
    failed = sum(s.status == "fail" for s in result.slos)
    slos = f"; {failed} SLO{'s' if failed > 1 else ''} failed" if failed else ""
    bad = len(result.comparison.regressions)
    if bad:
        return f"llmobs: REGRESSION in {bad} of {len(checks)} checks{slos}{mode}"
    if checks and len(attention.not_run(result.comparison)) == len(checks):
        judged = f"nothing judged: the test cases of its {len(checks)} checks did not run"
        return f"llmobs: {result.verdict.upper()} ({judged}{slos}){mode}"
    return f"llmobs: {result.verdict.upper()} ({len(checks)} checks{slos}){mode}"


def coverage(result: RunResult) -> list[str]:
    """What of the baseline this run did not measure: why nothing could be judged, each
    loss (these fail the gate), what skipped or vanished test cases measured (this fails
    in CI mode), each series or metric missing from test cases that ran, then one line
    for what only tests that did not run produced."""
    comparison = result.comparison
    if comparison is None or comparison.absences is None:
        return []
    lines = [f"not measured: {sentence}" for sentence in comparison.selection]
    in_ci = " (fails in CI mode)" if not result.ci else ""
    lines += [f"not judged{in_ci}: {sentence}" for sentence in comparison.unjudged]
    not_run = []
    for absence in comparison.absences:
        if absence.status == "not-run":
            not_run.append(absence.subject)
        else:
            lost = "LOST " if absence.status == "lost" else ""
            lines.append(f"not measured: {lost}{absence.subject}: {absence.reason}")
    if not_run:
        shown = listed(not_run, 5)
        lines.append(f"not measured, as their test cases did not run: {shown}")
    return lines


def overall(check: Check) -> str:
    """A paired check's plain change of the statistic, labelled, beside its per-case change;
    empty for others."""
    latency = check.metric.startswith("latency")
    pooled = check.pooled_relative if latency else check.pooled_change
    if not check.paired or pooled is None:
        return ""
    return f"overall {pct(pooled) if latency else signed(check.metric)(pooled)}"


def p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def detail(check: Check) -> str:
    """Why a check was judged so, in one short line: interval, n, test, detectable change.

    An inconclusive check gives its reason instead, since that is what to act on.
    """
    if check.p_value is None or check.verdict == "inconclusive":
        return check.reason
    fmt = pct if check.metric.startswith("latency") else signed(check.metric)
    parts = []
    if check.ci_low is not None and check.ci_high is not None:
        parts.append(f"95% CI {fmt(check.ci_low)}..{fmt(check.ci_high)}")
    if overall(check):  # the change is per test case; this is the statistic's own
        parts.append(overall(check))
    parts.append(f"n {check.n_current}/{check.n_baseline}")
    if check.test:
        parts.append(check.test + (" paired" if check.paired else ""))
    if check.mde is not None:
        parts.append(f"detects {fmt(check.mde)}")
    if check.tolerance:
        parts.append(f"tolerance {check.tolerance}")
    return ", ".join(parts)


def attribution(found: Attribution) -> str:
    """ "llm_request +40.0% (+12.0 ms a request), of which llm_inference +38.0% ..."."""
    base = found.baseline_ms

    def share(change_ms: float) -> str:
        return f"{change_ms / base:+.1%}" if base > 0 else f"{change_ms:+.1f} ms"

    parts = [f"{key.label} {share(ms)} ({ms:+.1f} ms)" for key, ms in found.parts]
    parts.append(f"its own time {share(found.self_change_ms)}")
    return (
        f"{found.series.label} {share(found.change_ms)} ({found.change_ms:+.1f} ms a request, "
        f"mean over {found.cases} test cases), of which " + ", ".join(parts)
    )


def request(detail: RequestDetail) -> str:
    """One slow or low-scored request in a line: where to find it and what it cost."""
    where = detail.test or "outside any test"
    if detail.request_id:
        where += f" (request {detail.request_id})"
    if detail.metric is not None and detail.score is not None:
        sizes = [f"{detail.request} took {value('latency', detail.request_ms)}"]
        if detail.output_tokens is not None:
            sizes.append(f"{detail.output_tokens:.0f} output tokens")
        if detail.prompt_chars is not None:
            sizes.append(f"prompt {detail.prompt_chars} chars")
        if detail.output_chars is not None:
            sizes.append(f"output {detail.output_chars} chars")
        return f"{detail.metric} {detail.score:.3f} in {where}: " + ", ".join(sizes)
    line = f"{value('latency', detail.duration_ms)} in {where}"
    if detail.baseline_case_ms is not None:
        line += f" (baseline median {value('latency', detail.baseline_case_ms)})"
    if detail.step is not None:
        own = next((p.self_ms for p in detail.spans if p.name == detail.step and p.critical), None)
        line += f"; slowest step: {detail.step}"
        if own is not None:
            line += f" ({value('latency', own)} of its own)"
    return line


def alert(found: Alert) -> str:
    return f"[{found.severity}] {found.type}: {found.message}"


def notable_requests(result: RunResult) -> list[RequestDetail]:
    """The requests behind this run's regressions: the slowest spans of each series whose
    latency regressed, the lowest scores of each quality metric that regressed."""
    regressions = result.comparison.regressions if result.comparison is not None else ()
    slower = {c.series for c in regressions if c.metric.startswith("latency")}
    worse = {(c.series, c.metric) for c in regressions if c.metric.startswith("quality.")}
    return [
        *(d for d in result.findings.slowest if d.series in slower),
        *(d for d in result.findings.lowest if (d.series, d.metric) in worse),
    ]


def received(counts: Received) -> str:
    """How the spans received from services were given their tests, in one line."""
    ways = f"{counts.by_trace_id} by trace id, {counts.by_time} by start time"
    return f"received from services: {counts.spans} span(s), {ways}, {counts.no_test} in no test"
