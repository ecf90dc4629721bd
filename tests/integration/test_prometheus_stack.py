"""Two real runs pushed to a real Pushgateway, read back from a real Prometheus with PromQL;
and pushes to what is not a Pushgateway fail in one line, within their timeout."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.prometheus import push
from pytest_llmobs.report.prometheus_metrics import (
    MetricFamily,
    constant_labels,
    run_metrics,
)
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json
from tests.integration.prometheus_servers import (
    MISSING,
    Stack,
    not_a_pushgateway,
    prometheus_stack,
    query,
    wait_for,
)
from tests.integration.suites import CLOCK
from tests.loopback import free_port, silent

# Two models (a grouping attribute), tokens, prices (cost), a quality score, errors, SLOs
# and a marked test (its own series, `test` in the group). SLOWDOWN doubles the chat.
SUITE = (
    CLOCK
    + """
import pytest

tracer = TimedTracer("app")
SLOWDOWN = {slowdown}

def chat(i, model):
    with tracer.start_as_current_span("answer"):
        try:
            with tracer.start_as_current_span('chat "llm"', ms=(5 + i % 5) * SLOWDOWN) as span:
                span.set_attribute("gen_ai.request.model", model)
                span.set_attribute("gen_ai.usage.input_tokens", 100 + i)
                span.set_attribute("gen_ai.usage.output_tokens", 20 * SLOWDOWN)
                span.set_attribute("overall_score", 0.9 - (i % 3) / 10 / SLOWDOWN)
                if i % 10 == 0:
                    raise TimeoutError("model timed out")
        except TimeoutError:
            pass

@pytest.mark.parametrize("i", range(20))
@pytest.mark.parametrize("model", ["tiny-model", "big-model"])
def test_chat(model, i):
    chat(i, model)

@pytest.mark.llmobs(latency_p95="+50%")
def test_marked():
    for i in range(5):
        chat(i, "tiny-model")
"""
)
PYPROJECT = """
[tool.llmobs]
quality_attributes = ["overall_score"]
group_by = ["gen_ai.request.model"]

[tool.llmobs.prices]
"tiny-model" = {input = 0.1, output = 0.35}
"big-model" = {input = 2.5, output = 10}

[tool.llmobs.slo]
latency.p95 = { warn = "12ms", fail = "15ms" }
error_rate = { warn = "5%", fail = "50%" }
"""
BRANCH = "feature/prom"  # a slash: the Pushgateway's grouping key takes it in base64
CHAT = 'series="chat \\"llm\\"",gen_ai_request_model="big-model"'  # PromQL escapes
INFO = 'llmobs_run_info{job="llmobs"}'
FAMILY = MetricFamily("llmobs_spans", "Spans.", "", (((("series", "chat"),), 3.0),))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if MISSING:
        pytest.skip(MISSING)
    with prometheus_stack(tmp_path_factory.mktemp("prometheus")) as started:
        yield started


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run reports of a run that records the baseline, and of a slowed run after it."""
    folder = tmp_path_factory.mktemp("suite")
    (folder / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_STEP_SUMMARY")}
    env["GITHUB_HEAD_REF"] = BRANCH  # the first place the plugin looks for the branch
    env.pop("PYTEST_ADDOPTS", None)
    for name, slowdown, extra in (("first", 1, "--llmobs-update-baseline"), ("second", 2, "")):
        (folder / "test_chat.py").write_text(SUITE.format(slowdown=slowdown), encoding="utf-8")
        args = ["-p", "no:cacheprovider", "--llmobs", f"--llmobs-json={name}.json", extra]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *filter(None, args)],
            cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert (folder / f"{name}.json").is_file(), done.stdout + done.stderr
    return folder / "first.json", folder / "second.json"


def samples(found: list[dict[str, Any]]) -> dict[frozenset[tuple[str, str]], float]:
    """A query's result as label set -> value."""
    return {
        frozenset((k, v) for k, v in r["metric"].items() if k != "__name__"): float(r["value"][1])
        for r in found
    }


def verdicts(found: list[dict[str, Any]]) -> list[str]:
    return [r["metric"]["verdict"] for r in found]


def expected(family: MetricFamily, grouping: dict[str, str]) -> dict[Any, float]:
    """What Prometheus holds of a pushed family: empty labels are absent, and the
    grouping key's labels (and job) are on every sample."""
    return {
        frozenset({(k, v) for k, v in labels if v} | {("job", "llmobs"), *grouping.items()}): value
        for labels, value in family.samples
    }


@dataclasses.dataclass(frozen=True)
class Pushed:
    """Two runs pushed to the same group, the second seen by Prometheus."""

    stack: Stack
    first: RunResult
    second: RunResult
    grouping: dict[str, str]
    p95_before: float  # of CHAT, in the first run, as Prometheus had it


@pytest.fixture(scope="module")
def pushed(stack: Stack, runs: tuple[Path, Path]) -> Pushed:
    """Push the first run (to the URL without its scheme: read as http), wait until
    Prometheus has it, then push the slowed run to the same group and wait again."""
    first, second = (result_from_json(path) for path in runs)
    assert (first.verdict, second.verdict) == ("pass", "regression")
    grouping = dict(constant_labels(second))
    assert grouping == {"suite": runs[0].parent.name, "branch": BRANCH}
    assert dict(constant_labels(first)) == grouping  # the same group: the second replaces it
    push(stack.pushgateway.removeprefix("http://"), "llmobs", grouping, run_metrics(first), 10)
    wait_for(stack.prometheus, INFO, lambda r: verdicts(r) == ["pass"])
    before = value(stack, f'llmobs_span_latency_seconds{{{CHAT},quantile="0.95"}}')
    push(stack.pushgateway, "llmobs", grouping, run_metrics(second), timeout=10)
    wait_for(stack.prometheus, INFO, lambda r: verdicts(r) == ["regression"])
    return Pushed(stack, first, second, grouping, before)


def value(stack: Stack, promql: str) -> float:
    """The value of the query's one sample."""
    [found] = query(stack.prometheus, promql)
    return float(found["value"][1])


def test_prometheus_holds_the_last_pushed_run_of_every_family(pushed: Pushed) -> None:
    families = run_metrics(pushed.second)
    assert all(f.samples for f in families)  # every family has something to find
    for family in families:
        want = expected(family, pushed.grouping)
        found = query(pushed.stack.prometheus, f'{family.name}{{job="llmobs"}}')  # one scrape
        assert samples(found) == pytest.approx(want), family.name
    [run_info] = query(pushed.stack.prometheus, INFO)
    commit = pushed.second.metadata.get("git_commit")  # none outside a git checkout
    assert {k: v for k, v in run_info["metric"].items() if k != "__name__"} == {
        "job": "llmobs", "suite": pushed.grouping["suite"], "branch": BRANCH,
        "verdict": "regression", **({"commit": commit} if commit else {}),
    }  # fmt: skip


def test_prometheus_holds_the_values_of_the_saved_report(pushed: Pushed) -> None:
    stack, second = pushed.stack, pushed.second
    chat = {s.key.label: s for s in second.series}['chat "llm"[gen_ai.request.model=big-model]']
    p95 = value(stack, f'llmobs_span_latency_seconds{{{CHAT},quantile="0.95"}}')
    assert p95 == pytest.approx(chat.latency.p95 / 1000)
    assert p95 > pushed.p95_before * 1.5  # the slowed run replaced the first
    assert value(stack, f'llmobs_span_tokens{{{CHAT},direction="output"}}') == 40 * chat.count
    assert value(stack, f"llmobs_spans{{{CHAT}}}") == chat.count
    assert value(stack, f"llmobs_span_error_ratio{{{CHAT}}}") == pytest.approx(chat.error_rate)
    assert second.comparison is not None
    regressions = sum(c.verdict == "regression" for c in second.comparison.checks)
    assert value(stack, 'llmobs_checks{verdict="regression"}') == regressions > 0
    breach = query(stack.prometheus, f'llmobs_slo_breach{{{CHAT},metric="latency.p95"}}')
    assert {(r["metric"]["level"], r["value"][1]) for r in breach} == {("warn", "1"), ("fail", "1")}
    created = datetime.datetime.fromisoformat(second.metadata["created_at"]).timestamp()
    assert value(stack, "llmobs_run_timestamp_seconds") == created


def test_metrics_the_pushgateway_refuses_fail_with_its_reason(stack: Stack) -> None:
    twice = dataclasses.replace(FAMILY, samples=FAMILY.samples * 2)  # the same labels twice
    with pytest.raises(ExportError) as caught:
        push(stack.pushgateway, "llmobs", {"suite": "refused"}, [twice], timeout=10)
    message = str(caught.value)
    assert message.startswith(f"metrics to {stack.pushgateway}: HTTP 400 Bad Request: pushed ")
    assert "was collected before with the same name and label values" in message
    assert "\n" not in message


def test_a_push_to_prometheus_itself_asks_for_a_pushgateway(stack: Stack) -> None:
    with pytest.raises(ExportError) as caught:
        push(stack.prometheus, "llmobs", {"suite": "s"}, [FAMILY], timeout=10)
    assert str(caught.value) == (
        f"metrics to {stack.prometheus}: HTTP 404 Not Found: is it a Pushgateway?"
    )


def test_a_push_to_a_closed_port_is_refused_in_one_line() -> None:
    url = f"http://user:s3cret@127.0.0.1:{free_port()}"
    with pytest.raises(ExportError) as caught:
        push(url, "llmobs", {"suite": "s"}, [FAMILY], timeout=5)
    assert str(caught.value) == (
        f"metrics to http://***@{url.rpartition('@')[2]}: "
        "connection refused: is the Pushgateway running, at this port?"
    )


def test_a_server_that_never_answers_costs_the_timeout() -> None:
    with silent() as url, pytest.raises(ExportError) as caught:
        push(url, "llmobs", {}, [FAMILY], timeout=1)
    assert str(caught.value) == f"metrics to {url}: no answer within 1 s"


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    with not_a_pushgateway() as address:
        yield address


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("404", "HTTP 404 Not Found: is it a Pushgateway?"),
        ("405", "HTTP 405 Method Not Allowed: is it a Pushgateway?"),
        ("html", "HTTP 200 OK with an HTML page: is it a Pushgateway?"),
        ("close", "the server closed the connection without an answer: is it a Pushgateway?"),
        ("moved", "HTTP 308 Permanent Redirect: it redirects to https://***@gw.example/"),
    ],
)
def test_a_server_that_is_not_a_pushgateway_fails_in_one_line(
    web_server: str, path: str, message: str
) -> None:
    url = f"http://{web_server}/{path}"
    with pytest.raises(ExportError) as caught:
        push(url, "llmobs", {"suite": "s", "branch": BRANCH}, [FAMILY], timeout=5)
    assert str(caught.value) == f"metrics to {url}: {message}"


def test_credentials_in_the_url_are_sent_and_never_shown(web_server: str) -> None:
    push(f"http://user:s3cret@{web_server}/auth", "llmobs", {}, [FAMILY], timeout=5)
    with pytest.raises(ExportError) as caught:
        push(f"http://user:wrong@{web_server}/auth", "llmobs", {}, [FAMILY], timeout=5)
    assert str(caught.value) == (
        f"metrics to http://***@{web_server}/auth: HTTP 401 Unauthorized: "
        "give credentials in the URL (https://user:password@host)"
    )


def _exprs(node: Any) -> Iterator[str]:
    """Every PromQL query of a dashboard: its panels' targets (variables aside)."""
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for key, child in node.items():
            if key != "templating":
                yield from _exprs(child)
    elif isinstance(node, list):
        for child in node:
            yield from _exprs(child)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="grafana-foundation-sdk needs Python 3.11")
def test_every_query_of_the_generated_dashboard_finds_the_pushed_runs(
    pushed: Pushed, runs: tuple[Path, Path]
) -> None:
    """`llmobs grafana --config` on the suite's SLOs (as a user runs it), each of its
    queries and variables run against the Prometheus that scraped the pushed runs, with
    every variable at "All"."""
    config = runs[0].parent / "pyproject.toml"
    made = subprocess.run(
        [sys.executable, "-m", "pytest_llmobs.cli", "grafana", "--config", str(config)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    model = json.loads(made.stdout)
    exprs = sorted(set(_exprs(model["panels"])))
    assert len(exprs) >= 8
    for expr in exprs:
        all_values = re.sub(r"\$\{?(suite|branch|series)\}?", ".*", expr)
        assert query(pushed.stack.prometheus, all_values), expr
    for variable in model["templating"]["list"][1:]:  # suite, branch, series
        parsed = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
        assert parsed is not None, variable
        metric, label = parsed.groups()
        found = query(pushed.stack.prometheus, re.sub(r"\$\w+", ".*", metric))
        assert {r["metric"].get(label) for r in found} - {None}, variable["name"]


def test_the_generated_rules_pass_promtool(runs: tuple[Path, Path], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found on PATH (Debian package prometheus)")
    config, rules = runs[0].parent / "pyproject.toml", tmp_path / "rules.yml"
    made = subprocess.run(
        [sys.executable, "-m", "pytest_llmobs.cli", "prometheus-rules", "-o", str(rules),
         f"--config={config}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert made.stderr.splitlines() == [
        f"llmobs: rules: [tool.llmobs] in {config.resolve()}",
        f"llmobs: wrote {rules}",
    ]
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
