"""The llmobs command: compare saved runs and promote them, with exit 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pytest_llmobs.cli import main
from pytest_llmobs.gate import baseline
from pytest_llmobs.gate.compare import compare
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.gate.model import CaptureSummary, SeriesStats
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.report import history
from pytest_llmobs.report.markdown import markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json, write_error_report, write_run_report
from tests.conftest import make_series
from tests.unit.gate.test_baseline import as_version_1

BASE = list(np.linspace(10.0, 20.0, 60))


def save_run(path: Path, series: list[SeriesStats]) -> Path:
    write_run_report(path, RunResult(tuple(series), BaselineState(path, "missing")))
    return path


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([make_series("llm", BASE)], {}))
    return path


def test_compare_passes_on_the_same_behaviour(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", BASE)])
    assert main(["compare", str(run), str(stored)]) == 0
    assert capsys.readouterr().out.startswith("llmobs: PASS (4 checks)")


def test_compare_fails_on_a_regression_and_writes_a_report(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", [x * 1.6 for x in BASE])])
    out = tmp_path / "judged.json"
    assert main(["compare", str(run), str(stored), "--json", str(out)]) == 1
    assert "llm " in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["verdict"] == "regression"
    expected = compare(baseline.load(run).series, baseline.load(stored).series)
    assert [c["verdict"] for c in report["checks"]] == [c.verdict for c in expected.checks]


def test_a_reader_that_stops_early_costs_neither_a_traceback_nor_the_files(
    tmp_path: Path, stored: Path
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", [x * 1.6 for x in BASE])])
    summary = tmp_path / "summary.md"
    command = ["compare", str(run), str(stored), "-v", "--markdown", str(summary)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_llmobs.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    stderr = proc.stderr.read().decode()
    assert (proc.wait(timeout=60), stderr) == (1, "")  # the verdict's own status
    assert "REGRESSION" in summary.read_text(encoding="utf-8")


@pytest.mark.parametrize("content", [None, "{not json", '{"benchmarks": []}'])
def test_bad_input_is_exit_2_with_one_line_naming_the_file(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    run = tmp_path / "run.json"
    if content is not None:
        run.write_text(content)
    assert main(["compare", str(run), str(stored)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmobs: error: {run}: ")
    assert err.count("\n") == 1


def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.llmobs]\nalpha = "often"\n')
    return path


def undecodable_config(tmp_path: Path) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(b"[tool.llmobs]\nalpha = 0.05\n\xff")
    return path


def bad_check(tmp_path: Path) -> Path:
    run = save_run(tmp_path / "bad.json", [make_series("llm", BASE)])
    doc = json.loads(run.read_text())
    doc["checks"] = [{"name": "llm", "metric": "latency.p50", "verdict": "pass", "p_value": "x"}]
    run.write_text(json.dumps(doc))
    return run


# command -> (what the message must hold, besides the file's name)
Command = Callable[[Path, str, str], list[str]]  # (tmp folder, run, baseline) -> argv
BAD_INPUT: dict[str, tuple[Command, str]] = {
    "config value": (
        lambda t, run, base: ["compare", run, base, "--config", str(bad_config(t))],
        'alpha = "often" ([tool.llmobs] in {t}/pyproject.toml): expected a number',
    ),
    "config not UTF-8": (
        lambda t, run, base: ["compare", run, base, "--config", str(undecodable_config(t))],
        "{t}/pyproject.toml: cannot read it as TOML: 'utf-8' codec can't decode",
    ),
    "missing config": (
        lambda t, run, base: ["compare", run, base, "--config", f"{t}/nope.toml"],
        "{t}/nope.toml: no such file",
    ),
    "bad field in a run report": (
        lambda t, run, base: ["report", str(bad_check(t))],
        "{t}/bad.json: not a readable run report: p_value must be a finite number or null",
    ),
    "baseline is a directory": (
        lambda t, run, base: ["compare", run, str(t)],
        "{t}: cannot read it",
    ),
    "unwritable output": (
        lambda t, run, base: ["compare", run, base, "--json", f"{base}/x.json"],
        "{base}/x.json: cannot write it",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_each_bad_input_is_exit_2_with_one_line(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    run = str(save_run(tmp_path / "run.json", [make_series("llm", BASE)]))
    command, message = BAD_INPUT[case]
    assert main(command(tmp_path, run, str(stored))) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmobs: error: " + message.format(t=tmp_path, base=stored))
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "only-one.json"],
        ["judge", "a.json"],
        ["report"],
        ["compare", "a", "b", "--nope"],
    ],
)
def test_bad_usage_is_exit_2_with_usage_and_one_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: llmobs")
    assert len([line for line in err.splitlines() if ": error: " in line]) == 1


def test_baseline_update_promotes_a_saved_run(tmp_path: Path) -> None:
    run = save_run(tmp_path / "run.json", [make_series("a", BASE), make_series("b", BASE)])
    target = tmp_path / "new" / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 0
    promoted = baseline.load(target)
    assert promoted.schema == baseline.BASELINE_SCHEMA
    assert [s.key.name for s in promoted.series] == ["a", "b"]


def test_baseline_update_refuses_an_empty_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [])
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    assert "no spans were captured" in capsys.readouterr().err
    assert not target.exists()


def judged_run(tmp_path: Path) -> tuple[Path, RunResult]:
    base = [make_series("llm", BASE)]
    cur = [make_series("llm", [x * 1.6 for x in BASE])]
    result = RunResult(tuple(cur), BaselineState(tmp_path / "b.json", "loaded", "compared"),
                       compare(cur, base))  # fmt: skip
    path = tmp_path / "run.json"
    write_run_report(path, result)
    return path, result


def test_report_renders_a_saved_run_as_the_plugin_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, result = judged_run(tmp_path)
    out = tmp_path / "summary.md"
    assert main(["report", str(path), "--markdown", str(out)]) == 1
    assert out.read_text() == markdown(result)
    assert capsys.readouterr().out.startswith("llmobs: REGRESSION in 2 of 4 checks")
    loaded = result_from_json(path)
    assert loaded.comparison is not None
    assert result.comparison is not None
    assert loaded.comparison.checks == result.comparison.checks


def test_compare_applies_the_rules_of_pyproject(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", [x * 1.6 for x in BASE])])
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.llmobs.rules]\nlatency."*" = "+100%"\n')
    assert main(["compare", str(run), str(stored), "--config", str(config)]) == 0
    config.write_text('[tool.llmobs.rules]\nlatency."*" = "100%"\n')
    assert main(["compare", str(run), str(stored), "--config", str(config)]) == 2
    assert 'rules.latency.* = "100%"' in capsys.readouterr().err


def test_baseline_update_says_what_changed(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = [make_series("llm", [x * 1.5 for x in BASE]), make_series("new_step", BASE)]
    run = save_run(tmp_path / "run.json", series)
    assert main(["baseline", "update", str(run), "--baseline", str(stored)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"baseline written to {stored} (2 series")
    assert "  new: new_step (60 spans)" in out
    at = out.index("  changed: llm")
    assert out[at + 1] == "    latency.p50 15.0 ms -> 22.5 ms (+50.0%)"


def test_baseline_update_shows_control_characters_of_span_names_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = "cache.lookup\tline\nbreak\x1b[31m"
    stored = tmp_path / "baseline.json"
    write_atomic(stored, baseline.baseline_document([make_series(odd, BASE)], {}))
    run = save_run(tmp_path / "run.json", [make_series(odd, [x * 1.5 for x in BASE])])
    assert main(["baseline", "update", str(run), "--baseline", str(stored)]) == 0
    out = capsys.readouterr().out
    assert "  changed: cache.lookup?line?break?[31m\n" in out
    assert not any(c in out for c in "\t\x1b")


def test_baseline_update_lists_every_changed_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(name: str, scale: float, quality: dict[str, list[float]]) -> Path:
        errors = 0 if scale == 1 else 6
        series = [make_series("llm", [x * scale for x in BASE], errors, quality)]
        return save_run(tmp_path / name, series)

    was = {"overall_score": [0.8] * 60, "gen_ai.usage.input_tokens": [100.0] * 60,
           "llmobs.cost_usd": [0.002] * 60, "gone_score": [0.5] * 60}  # fmt: skip
    now = {"overall_score": [0.7] * 60, "gen_ai.usage.input_tokens": [120.0] * 60,
           "llmobs.cost_usd": [0.0025] * 60, "new_score": [0.9] * 60}  # fmt: skip
    target = tmp_path / "baseline.json"
    assert (
        main(["baseline", "update", str(run("a.json", 1.0, was)), "--baseline", str(target)]) == 0
    )
    capsys.readouterr()
    later = run("b.json", 2.0, now)
    assert main(["baseline", "update", str(later), "--baseline", str(target), "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("forced although: it would drop 1 series or metric(s) of the "
                           "baseline that this run did not measure although their test cases "
                           "ran: llm quality.gone_score")  # fmt: skip
    assert out[1:] == [
        "  changed: llm",
        "    latency.p50 15.0 ms -> 30.0 ms (+100.0%)",
        "    latency.p90 19.0 ms -> 38.0 ms (+100.0%)",
        "    latency.p95 19.5 ms -> 39.0 ms (+100.0%)",
        "    latency.p99 19.9 ms -> 39.8 ms (+100.0%)",
        "    error_rate 0.0% -> 10.0% (+10.0pp)",
        "    quality.gone_score 0.500 -> -",
        "    quality.new_score - -> 0.900",
        "    quality.overall_score 0.800 -> 0.700 (-0.100)",
        "    tokens.input 100.0 tok -> 120.0 tok (+20.0%)",
        "    cost $0.002 -> $0.0025 (+25.0%)",
    ]


def test_baseline_update_refuses_a_failed_run_unless_forced_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = shaped_run(tmp_path / "run.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), CASES)  # fmt: skip
    doc = json.loads(run.read_text())
    doc["outcome"] = {"tests_failed": 2, "interrupted": False}
    doc["errors"] = ["incomplete capture: gw1 sent no span data"]
    run.write_text(json.dumps(doc))
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"llmobs: error: {run}: baseline not updated: the capture is incomplete; 2 test(s) "
        "failed; give --force to replace it anyway\n"
    )
    assert not target.exists()
    assert main(["baseline", "update", str(run), "--baseline", str(target), "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"baseline written to {target} (1 series, 30 spans), forced although: the capture is "
        "incomplete; 2 test(s) failed"
    )


def test_baseline_update_never_writes_a_run_without_spans_even_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [])
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target), "--force"]) == 2
    assert "no spans were captured" in capsys.readouterr().err
    assert not target.exists()


def test_baseline_update_of_a_run_from_another_machine_asks_where_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    far = Path("/nonexistent-runner/work/app/.llmobs/baseline.json")
    run = tmp_path / "run.json"
    write_run_report(run, RunResult((make_series("a", BASE),), BaselineState(far, "missing")))
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", "update", str(run)]) == 2
    assert capsys.readouterr().err == (
        f"llmobs: error: {run}: it names the baseline {far}, whose folder is not on this "
        "machine: give --baseline=PATH\n"
    )
    assert main(["baseline", "update", str(run), "--baseline", "b.json"]) == 0
    assert (tmp_path / "b.json").is_file()


def test_baseline_show(tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "show", str(stored)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{stored}: 1 series"
    assert out[-1].split() == ["llm", "60", "0", "15.0", "ms", "19.5", "ms", "19.9", "ms"]
    run = save_run(tmp_path / "run.json", [make_series("llm", BASE)])
    assert main(["baseline", "show", str(run)]) == 0  # shown, and said what it is
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{run}: 1 series (a run report, not a baseline)"
    )


PRICED = {"overall_score": [0.75] * 60, "gen_ai.usage.input_tokens": [412.5] * 60,
          "llmobs.cost_usd": [2.2e-6] * 60}  # fmt: skip


def test_baseline_show_prints_money_and_tokens_in_their_own_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "baseline.json"
    write_atomic(path, baseline.baseline_document([make_series("llm", BASE, quality=PRICED)], {}))
    assert main(["baseline", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert [line.split() for line in out.splitlines()[-3:]] == [
        ["quality.overall_score", "mean", "0.750", "over", "60"],
        ["tokens.input", "mean", "412.5", "tok", "over", "60"],
        ["cost", "mean", "$0.0000022", "over", "60"],  # not 0.000
    ]


def test_history_prints_money_and_tokens_in_their_own_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.sqlite"
    history.append(path, "2026-11-30", "abc", "pass", (make_series("llm", BASE, quality=PRICED),))
    assert main(["history", str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.endswith("overall_score 0.750  tokens.input 412.5 tok  cost $0.0000022"), row
    assert main(["history", str(path), "--series", "lml"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  no series key contains 'lml': did you mean llm?"
    assert len(out) == 3  # the run's line, no series under it


def test_report_of_a_run_without_baseline_reads_as_the_plugin_printed_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = save_run(tmp_path / "run.json", [make_series("llm", BASE)])
    assert main(["report", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "llmobs: PASS",
        "captured 60 spans in 1 series",
    ]


def shaped_run(path: Path, series: list[SeriesStats], shape: Shape, tests: list[str]) -> Path:
    state = BaselineState(path, "missing")
    ran = RanTests(frozenset(tests), frozenset())
    capture = CaptureSummary(len(series), len(series), len(series), 1.0)
    result = RunResult(tuple(series), state, settings=shape, ran=ran, capture=capture)
    write_run_report(path, result)
    return path


CASES = [f"t.py::test[{i}]" for i in range(30)]


def test_a_promoted_run_keeps_its_shape_and_compare_checks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = [make_series("llm", BASE[:30], cases=CASES)]
    grouped = Shape(group_by=("user_tier",), group_names={"user_tier": ("user_tier",)})
    run = shaped_run(tmp_path / "run.json", series, grouped, CASES)
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 0
    assert baseline.load(target).settings == grouped
    assert baseline.load(target).tests == frozenset(CASES)
    ungrouped = shaped_run(tmp_path / "plain.json", series, Shape(), CASES)
    capsys.readouterr()
    assert main(["compare", str(ungrouped), str(target)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("llmobs: ERROR")
    assert "recorded with group_by = [user_tier], this run has none" in out


def test_run_reports_and_baselines_of_version_1_judge_and_promote_as_before(
    tmp_path: Path,
) -> None:
    priced = {"score": [0.8] * 30, "gen_ai.usage.input_tokens": [100.0] * 30,
              "llmobs.cost_usd": [2.2e-6] * 30}  # fmt: skip
    dearer = {**priced, "llmobs.cost_usd": [3.3e-6] * 30}
    files = {}
    for name, series in (("base", priced), ("run", dearer)):
        path = shaped_run(tmp_path / f"{name}.json", [make_series("a", BASE[:30], cases=CASES,
                          quality=series)], Shape(), CASES)  # fmt: skip
        files[name] = path
        old = tmp_path / f"{name}-v1.json"
        old.write_text(json.dumps(as_version_1(json.loads(path.read_text()))))
        files[f"{name}-v1"] = old
    for run, stored in (("run", "base"), ("run-v1", "base-v1")):
        judged = tmp_path / f"judged-{run}.json"
        args = ["compare", str(files[run]), str(files[stored]), "--json", str(judged)]
        assert main(args) == 1  # the cost rose by half
        files[f"judged-{run}"] = judged
    checks = [json.loads(files[f"judged-{run}"].read_text())["checks"] for run in ("run", "run-v1")]
    assert checks[0] == checks[1]
    assert ("cost", "regression") in {(c["metric"], c["verdict"]) for c in checks[0]}
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(files["run-v1"]), "--baseline", str(target)]) == 0
    written = json.loads(target.read_text())
    assert written["version"] == baseline.SCHEMA_VERSION
    assert written["series"][0]["cost_usd"] == {"count": 30, "mean": 3.3e-6}
    assert list(written["series"][0]["quality"]) == ["score"]


def test_compare_judges_what_a_saved_run_did_not_measure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scored = [make_series("eval", BASE[:30], quality={"score": [0.8] * 30}, cases=CASES)]
    base = shaped_run(tmp_path / "base.json", scored, Shape(("score",)), CASES)
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(base), "--baseline", str(target)]) == 0
    unscored = [make_series("eval", BASE[:30], cases=CASES)]
    run = shaped_run(tmp_path / "run.json", unscored, Shape(("score",)), CASES)
    out = tmp_path / "judged.json"
    assert main(["compare", str(run), str(target), "--json", str(out)]) == 1
    assert "not measured: LOST eval quality.score" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["verdict"] == "fail"
    assert report["coverage"]["not_measured"][0]["status"] == "lost"
    assert main(["report", str(out)]) == 1  # read back, it still fails


def test_compare_refuses_a_baseline_given_as_the_run(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", BASE)])
    assert main(["compare", str(stored), str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{stored}: a baseline, not a run report (the file --llmobs-json writes)" in err
    assert main(["baseline", "update", str(stored), "--baseline", str(tmp_path / "b.json")]) == 2


def test_compare_refuses_the_report_of_a_run_stopped_by_its_settings(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "error.json"
    write_error_report(report, "--llmobs-alpha 'abc' (command line): expected a number")
    assert main(["compare", str(report), str(stored)]) == 2
    assert "the run it reports stopped before any test: --llmobs-alpha" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("outcome", "deselected", "why"),
    [
        ({"tests_failed": 1, "interrupted": False}, [], "1 test(s) failed"),
        ({"tests_failed": 0, "interrupted": True}, [], "the session was interrupted"),
        ({"tests_failed": 0, "interrupted": False}, ["t.py::x"], "it would drop 1 test case(s)"),
    ],
)
def test_baseline_update_refuses_what_the_plugin_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outcome: dict[str, object],
    deselected: list[str], why: str,
) -> None:  # fmt: skip
    run = shaped_run(tmp_path / "run.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), CASES)  # fmt: skip
    target = tmp_path / "baseline.json"
    old = shaped_run(tmp_path / "old.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), [*CASES, "t.py::x"])  # fmt: skip
    assert main(["baseline", "update", str(old), "--baseline", str(target)]) == 0
    doc = json.loads(run.read_text())
    doc["outcome"] = outcome
    doc["selection"]["deselected"] = deselected
    run.write_text(json.dumps(doc))
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    assert f"{run}: baseline not updated: {why}" in capsys.readouterr().err
    assert "t.py::x" in (baseline.load(target).tests or ())  # the old one stays


def test_compare_keeps_a_run_failed_closed(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a worker's spans were missing: judged again, the run is still incomplete
    state = BaselineState(tmp_path / "b.json", "loaded")
    capture = CaptureSummary(60, 60, 60, 1.0)
    errors = ("incomplete capture: gw1 sent no span data",)
    result = RunResult((make_series("llm", BASE),), state, errors=errors, capture=capture)
    write_run_report(tmp_path / "run.json", result)
    assert main(["compare", str(tmp_path / "run.json"), str(stored)]) == 1
    assert "incomplete capture: gw1 sent no span data" in capsys.readouterr().out


def test_a_report_of_compare_names_its_baseline_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / ".llmobs" / "baseline.json"
    write_atomic(target, baseline.baseline_document([make_series("llm", BASE)], {}))
    save_run(tmp_path / "run.json", [make_series("llm", BASE), make_series("new", BASE)])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "run.json", ".llmobs/baseline.json", "--json=cmp.json"]) == 0
    assert json.loads((tmp_path / "cmp.json").read_text())["baseline"]["path"] == str(target)
    sub = tmp_path / "sub"
    (sub / ".llmobs").mkdir(parents=True)
    monkeypatch.chdir(sub)
    capsys.readouterr()
    assert main(["baseline", "update", "../cmp.json"]) == 0
    assert capsys.readouterr().out.startswith(f"baseline written to {target} (2 series")
    assert not (sub / ".llmobs" / "baseline.json").exists()
    assert [s.key.name for s in baseline.load(target).series] == ["llm", "new"]


def test_a_relative_baseline_path_of_an_older_report_is_the_report_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    state = BaselineState(Path(".llmobs/baseline.json"), "loaded")
    write_run_report(reports / "run.json", RunResult((make_series("llm", BASE),), state))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["baseline", "update", "../reports/run.json"]) == 0
    assert (reports / ".llmobs" / "baseline.json").is_file()
    assert not (elsewhere / ".llmobs").exists()


NEWER = baseline.SCHEMA_VERSION + 1  # the version of a newer pytest-llmobs's files


def spoiled(path: Path, how: str) -> None:
    """A baseline at path that this pytest-llmobs cannot read: newer, or cut short."""
    text = baseline.baseline_document([make_series("a", BASE[:30], cases=CASES)], {}, None, CASES)
    if how == "newer":
        text = text.replace(f'"version": {NEWER - 1}', f'"version": {NEWER}')
    path.write_text(text if how == "newer" else text[: len(text) // 2])


@pytest.mark.parametrize("how", ["newer", "truncated"])
def test_baseline_update_never_downgrades_a_newer_baseline_nor_fills_a_broken_one_in_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    target = tmp_path / "baseline.json"
    spoiled(target, how)
    before = target.read_text()
    run = shaped_run(tmp_path / "run.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), CASES[:1])  # fmt: skip
    doc = json.loads(run.read_text())
    doc["selection"]["deselected"] = CASES[1:]  # -k: a partial run
    run.write_text(json.dumps(doc))
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"llmobs: error: {run}: baseline not updated: it would replace a baseline of a newer "
        f"pytest-llmobs (schema version {NEWER}; this one writes version {NEWER - 1}) with an "
        "older one"
        if how == "newer" else
        f"llmobs: error: {run}: baseline not updated: the old baseline cannot be read ({target}: "
    )  # fmt: skip
    assert err.endswith("; give --force to replace it anyway\n")
    assert target.read_text() == before
    assert main(["baseline", "update", str(run), "--baseline", str(target), "--force"]) == 0
    assert ", forced although: " in capsys.readouterr().out.splitlines()[0]
    assert baseline.load(target).tests == frozenset(CASES[:1])


def test_baseline_update_re_records_a_broken_baseline_from_a_full_run_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "baseline.json"
    spoiled(target, "truncated")
    run = shaped_run(tmp_path / "run.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), CASES)  # fmt: skip
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 0
    assert capsys.readouterr().out.startswith(
        f"baseline written to {target} (1 series, 30 spans), replacing one it could not read "
        f"({target}: not valid JSON"
    )
    spoiled(target, "newer")  # never, without --force
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    assert "with an older one: upgrade pytest-llmobs; give --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("errors", "why"),
    [
        ([], "the session was interrupted"),
        (["the session was interrupted: the tests it did not run were not judged"],
         "the session was interrupted"),
        (["incomplete capture: gw1 sent no span data",
          "the session was interrupted: the tests it did not run were not judged"],
         "the session was interrupted; the capture is incomplete"),
    ],
    ids=["older-report", "interrupted", "and-incomplete"],
)  # fmt: skip
def test_baseline_update_names_an_incomplete_capture_beside_the_interruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], errors: list[str], why: str
) -> None:
    run = shaped_run(tmp_path / "run.json", [make_series("a", BASE[:30], cases=CASES)],
                     Shape(), CASES)  # fmt: skip
    doc = json.loads(run.read_text())
    doc["outcome"] = {"tests_failed": 0, "interrupted": True}
    doc["errors"] = errors
    run.write_text(json.dumps(doc))
    target = tmp_path / "baseline.json"
    assert main(["baseline", "update", str(run), "--baseline", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"llmobs: error: {run}: baseline not updated: {why}; give --force to replace it anyway\n"
    )
    assert main(["baseline", "update", str(run), "--baseline", str(target), "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(f", forced although: {why}")


def test_baseline_update_refuses_what_the_gate_judges_lost_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "baseline.json"
    whole = shaped_run(tmp_path / "whole.json", [make_series("judge", BASE[:30], cases=CASES)],
                       Shape(), CASES)  # fmt: skip
    assert main(["baseline", "update", str(whole), "--baseline", str(target)]) == 0
    before = target.read_text()
    kept = [c for i, c in enumerate(CASES) if i % 3]  # gone from 10 of the 30
    half = shaped_run(tmp_path / "half.json", [make_series("judge", BASE[:20], cases=kept)],
                      Shape(), CASES)  # fmt: skip
    capsys.readouterr()
    assert main(["compare", str(half), str(target)]) == 1  # as the gate fails it
    assert "not measured: LOST series judge: lost: measured in 20 of the 30" in (
        capsys.readouterr().out
    )
    assert main(["baseline", "update", str(half), "--baseline", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"llmobs: error: {half}: baseline not updated: it did not measure series judge in 10 "
        "of the 30 test cases that made it in the baseline: t.py::test[0], t.py::test[12], "
        "t.py::test[15] and 7 more (p = "
    )
    assert err.endswith("); give --force to replace it anyway\n")
    assert target.read_text() == before
    assert main(["baseline", "update", str(half), "--baseline", str(target), "--force"]) == 0
    assert (
        ", forced although: it did not measure series judge in 10 of the 30"
        in (capsys.readouterr().out.splitlines()[0])
    )
    # a span gone from one test case only is what a conditional one does: no loss
    assert main(["baseline", "update", str(whole), "--baseline", str(target)]) == 0
    once = shaped_run(tmp_path / "once.json", [make_series("judge", BASE[:29], cases=CASES[1:])],
                      Shape(), CASES)  # fmt: skip
    assert main(["baseline", "update", str(once), "--baseline", str(target)]) == 0


def test_baseline_update_of_a_stale_report_names_the_test_cases_it_would_drop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the baseline was recorded after a test was added; the report is of a run before it
    target = tmp_path / "baseline.json"
    added = [*CASES, "t.py::x"]
    new = shaped_run(tmp_path / "new.json", [make_series("a", BASE[:31], cases=added)],
                     Shape(), added)  # fmt: skip
    assert main(["baseline", "update", str(new), "--baseline", str(target)]) == 0
    stale = shaped_run(tmp_path / "stale.json", [make_series("a", BASE[:30], cases=CASES)],
                       Shape(), CASES)  # fmt: skip
    doc = json.loads(stale.read_text())
    doc["selection"]["collected"], doc["selection"]["paths"] = CASES, [""]
    stale.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["baseline", "update", str(stale), "--baseline", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"llmobs: error: {stale}: baseline not updated: it would drop 1 test case(s) of the "
        "baseline that the run report does not have (added after it was made, or removed or "
        "renamed since the baseline: a saved report cannot tell which): t.py::x; give --force "
        "to replace it anyway\n"
    )
    assert baseline.load(target).tests == frozenset(added)
    assert main(["baseline", "update", str(stale), "--baseline", str(target), "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"baseline written to {target} (1 series, 30 spans), forced although: it would drop 1 "
        "test case(s) of the baseline that the run report does not have (added after it was "
        "made, or removed or renamed since the baseline: a saved report cannot tell which): "
        "t.py::x"
    )
    assert baseline.load(target).tests == frozenset(CASES)


def test_a_misspelt_option_shows_the_usage_of_its_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["baseline", "update", "run.json", "--forse"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: llmobs baseline update")
    assert err.splitlines()[-1] == "llmobs baseline update: error: unrecognized arguments: --forse"


def test_compare_names_the_file_its_rules_came_from(
    tmp_path: Path,
    stored: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = save_run(tmp_path / "run.json", [make_series("llm", BASE)])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(run), str(stored)]) == 0
    assert (
        f"rules: the defaults (no pyproject.toml in {tmp_path} or above)" in capsys.readouterr().out
    )
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert main(["compare", str(run), str(stored)]) == 0
    has_none = f"rules: the defaults ({tmp_path / 'pyproject.toml'} has no [tool.llmobs] table)"
    assert has_none in capsys.readouterr().out
    config = tmp_path / "sub" / "pyproject.toml"
    config.parent.mkdir()
    config.write_text('[tool.llmobs.rules]\nlatency."*" = "+100%"\n')
    assert main(["compare", str(run), str(stored), "--config", str(config)]) == 0
    assert f"rules: [tool.llmobs] in {config}" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("value", ["0", "²", "x"])
def test_history_last_takes_a_whole_number_above_0_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["history", str(tmp_path / "history.sqlite"), "--last", value])
    assert info.value.code == 2
    assert f"expected a whole number above 0, got {value!r}" in capsys.readouterr().err


def test_compare_names_a_rule_or_glob_of_the_config_that_matches_nothing(
    tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scored = make_series("llm", BASE, quality={"overall_score": [0.8] * len(BASE)})
    run = save_run(tmp_path / "run.json", [scored])
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.llmobs.rules]\nquality.overal_score = "-0.05"\n\n'
        '[[tool.llmobs.overrides]]\nseries = "llmx"\nerror_rate = "+1%"\n\n'
        '[tool.llmobs.redact]\nallow = ["only.on.spans"]\n'  # needs the spans: not judged
    )
    assert main(["compare", str(run), str(stored), "--config", str(config)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "matches nothing" in line]
    assert len(warnings) == 2, warnings
    assert "rules.quality.overal_score" in warnings[0]
    assert "did you mean quality.overall_score?" in warnings[0]
    assert "did you mean llm?" in warnings[1]
