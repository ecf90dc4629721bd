"""A compact Markdown summary for a pull request comment or a CI job summary."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_llmobs.gate import units
from pytest_llmobs.gate.compare import Check
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.report import attention, text
from pytest_llmobs.report.result import RunResult

_HEADER = "| series | metric | baseline | current | change | 95% CI | p | verdict |"
_RULE = "| --- | --- | ---: | ---: | ---: | --- | ---: | --- |"
_WHY_HEADER, _WHY_RULE = _HEADER + " why |", _RULE + " --- |"
HINT = "every check is in the folded table below"
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def escape(value: str) -> str:
    """Text from spans, safe in a Markdown table cell: no markup, no HTML, one line."""
    value = "".join(c if c.isprintable() else " " for c in value)
    return _SPECIAL.sub(r"\\\1", value.replace("&", "&amp;"))


def markdown(result: RunResult) -> str:
    """Verdict first, then what needs attention (regressions first) with one line for the
    rest, then every check folded away."""
    lines = [f"### {escape(text.title(result))}", ""]
    lines += [f"- error: {escape(e)}" for e in result.errors]
    checks = result.comparison.checks if result.comparison is not None else ()
    notable = attention.notable(result)
    if notable:
        lines += [_WHY_HEADER, _WHY_RULE, *(_row(c, why=True) for c in notable), ""]
    rest = attention.rest(result, notable, HINT)
    if rest and not notable and all(c.verdict == "pass" for c in checks):
        lines += ["No regression, nothing inconclusive, nothing new or missing.", ""]
    elif rest:
        lines += [f"- {escape(rest)}", ""]
    lost = text.coverage(result)
    lines += [f"- {escape(line)}" for line in lost] + ([""] if lost else [])
    lines += _why(result)
    breached = [s for s in result.slos if s.status != "ok"]
    for slo in breached:
        value = units.value(slo.metric, slo.value)
        lines.append(f"- SLO {slo.status}: {escape(slo.series.label)} {slo.metric} = {value}")
    if breached:
        lines.append("")
    if checks:
        lines += [f"<details><summary>All {len(checks)} checks</summary>", ""]
        lines += [_HEADER, _RULE, *(_row(c) for c in checks), "", "</details>", ""]
    lines.append(escape(result.baseline.message))
    lines += [f"- warning: {escape(w)}" for w in result.warnings]
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(path: Path, result: RunResult) -> None:
    """Write the summary atomically."""
    write_atomic(path, markdown(result))


def append_markdown(path: Path, result: RunResult) -> None:
    """Append the summary (to GitHub's job summary file, say)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown(result) + "\n")


def _why(result: RunResult) -> list[str]:
    """Alerts, attributions and the requests behind the regressions."""
    found, lines = result.findings, []
    if found.alerts:
        lines += ["#### Alerts", "", "| severity | alert | what |", "| --- | --- | --- |"]
        lines += [
            f"| {a.severity} | {escape(a.type)} | {escape(a.message)} |" for a in found.alerts
        ]
        lines.append("")
    lines += [f"- why: {escape(text.attribution(a))}" for a in found.attributions]
    if found.attributions:
        lines.append("")
    notable = text.notable_requests(result)
    if notable:
        lines += ["#### Requests behind the regressions", ""]
        lines += ["| series | request |", "| --- | --- |"]
        lines += [f"| {escape(d.series.label)} | {escape(text.request(d))} |" for d in notable]
        lines.append("")
    return lines


def _row(check: Check, why: bool = False) -> str:
    interval = "-"
    if check.ci_low is not None and check.ci_high is not None:
        fmt = units.pct if check.metric.startswith("latency") else units.signed(check.metric)
        interval = f"{fmt(check.ci_low)} .. {fmt(check.ci_high)}"
    verdict = f"**{check.verdict}**" if check.verdict == "regression" else check.verdict
    cells = (
        escape(check.series.label),
        escape(check.metric),
        units.value(check.metric, check.baseline),
        units.value(check.metric, check.current),
        units.change(check) + (f" ({text.overall(check)})" if text.overall(check) else ""),
        interval,
        escape(text.p_text(check.p_value)),
        verdict,
        *((escape(check.reason),) if why else ()),
    )
    return "| " + " | ".join(cells) + " |"
