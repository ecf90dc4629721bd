"""The live-stack commands as users type them: `llmobs export` of a saved run, `llmobs
grafana` and `llmobs prometheus-rules` from a pyproject's SLOs; bad usage and bad input
exit 2 with one line, a destination that fails exits 1 with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pytest_llmobs.analysis.analyze import Options, from_spans
from pytest_llmobs.capture.receiver import Receiver
from pytest_llmobs.capture.span_fields import Fields
from pytest_llmobs.cli import main
from pytest_llmobs.gate.aggregate import aggregate, series_index
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import write_run_report
from tests.conftest import make_series
from tests.loopback import free_port
from tests.unit.export.captured import SCORE, capture

SLOS = """
[tool.llmobs]
quality_attributes = ["relevance"]

[tool.llmobs.slo]
error_rate = { warn = "2%", fail = "8%" }
latency.p95 = { warn = "300ms", fail = "2s" }
quality.relevance = { warn = 0.8, fail = 0.5 }
"""


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run report that lists requests (a real capture's, with their spans' ids)."""
    captured = capture()
    keys = series_index(captured.table, {}, ())
    series = tuple(aggregate(captured.table, [SCORE], series=keys))
    findings = from_spans(captured.table, keys, series, [SCORE], Options(count=1))
    path = tmp_path_factory.mktemp("listed") / "run.json"
    meta = {"created_at": "2026-12-01T04:00:00+00:00", "run_id": "r" * 32}
    result = RunResult(series, BaselineState(path, "missing"), metadata=meta, findings=findings)
    write_run_report(path, result)
    return path


@pytest.fixture
def run(tmp_path: Path) -> Path:
    path = tmp_path / "run.json"
    series = make_series('chat "llm"\nv2', list(np.linspace(10.0, 20.0, 30)))
    meta = {"created_at": "2026-12-01T04:00:00+00:00", "suite": "app", "git_branch": "main"}
    write_run_report(path, RunResult((series,), BaselineState(path, "missing"), metadata=meta))
    return path


def status(argv: list[str]) -> int | str | None:
    """The exit status of the command, whether returned or raised by argparse."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_export_writes_the_metrics_of_a_saved_run(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "metrics.prom"
    assert main(["export", str(run), f"--prometheus={out}"]) == 0
    assert capsys.readouterr().out == f"llmobs: metrics written to {out}\n"
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    [spans] = families["llmobs_spans"].samples
    assert spans.labels == {"series": 'chat "llm"\nv2', "suite": "app", "branch": "main"}
    assert spans.value == 30


def test_export_to_a_pushgateway_that_is_down_exits_1_in_one_line(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    assert main(["export", str(run), "--pushgateway", f"127.0.0.1:{port}", "--timeout=5"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"llmobs: not sent: metrics to http://127.0.0.1:{port}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "say where: --pushgateway URL, --prometheus PATH or --otlp URL"),
        (["--otlp=ftp://host"], "--otlp=ftp://host: expected an http(s) URL"),
        (["--prometheus=m.prom", "--timeout=0"], "--timeout: expected seconds above 0 and up"),
    ],
)
def test_export_refuses_bad_usage_in_one_line(
    run: Path, args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status(["export", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err


def test_export_of_a_missing_run_report_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    assert main(["export", str(missing), f"--prometheus={tmp_path / 'm.prom'}"]) == 2
    assert capsys.readouterr().err == f"llmobs: error: {missing}: no such file\n"
    assert not (tmp_path / "m.prom").exists()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="grafana-foundation-sdk needs Python 3.11")
def test_grafana_thresholds_are_the_configured_slos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text(SLOS)
    out = tmp_path / "dash.json"
    assert main(["grafana", f"--config={config}", "-o", str(out)]) == 0
    assert capsys.readouterr() == (
        "",
        f"llmobs: rules: [tool.llmobs] in {config.resolve()}\nllmobs: wrote {out}\n",
    )
    model = json.loads(out.read_text())
    steps = {
        panel["title"]: [
            s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        ]
        for panel in model["panels"]
        if "thresholds" in panel.get("fieldConfig", {}).get("defaults", {})
    }
    found = {value for values in steps.values() for value in values if value is not None}
    assert {0.02, 0.08, 0.3, 2.0, 0.8, 0.5} <= found


def test_rules_print_to_stdout_without_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(SLOS)
    monkeypatch.chdir(tmp_path)  # the nearest pyproject.toml is the one read
    assert main(["prometheus-rules"]) == 0
    out, err = capsys.readouterr()
    assert err == f"llmobs: rules: [tool.llmobs] in {(tmp_path / 'pyproject.toml').resolve()}\n"
    assert "llmobs_span_error_ratio" in out
    assert "> 0.08" in out


@pytest.mark.parametrize("command", ["grafana", "prometheus-rules"])
def test_a_bad_slo_names_the_file_and_the_value(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.llmobs.slo]\nlatency.p95 = { warn = "fast" }\n')
    assert main([command, "--config", str(config), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmobs: error: ")
    assert str(config) in err
    assert "fast" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="the SDK installs from Python 3.11 on")
def test_grafana_on_python_3_10_says_it_needs_3_11(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text(SLOS)
    assert main(["grafana", f"--config={config}"]) == 2
    assert capsys.readouterr().err == (
        "llmobs: error: llmobs grafana needs Python 3.11 or newer (grafana-foundation-sdk does)\n"
    )


def test_export_sends_the_spans_of_the_listed_requests(
    listed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    received: list[Fields] = []
    receiver = Receiver(received.extend, resource_keys=None)
    receiver.start()
    try:
        assert main(["export", str(listed), "--otlp", f"http://{receiver.endpoint}"]) == 0
    finally:
        receiver.stop()
    assert capsys.readouterr().out == f"llmobs: 6 span(s) sent to http://{receiver.endpoint}\n"
    assert len(received) == 6
    assert {(fields[7] or {}).get("llmobs.run.id") for fields in received} == {"r" * 32}


def test_a_report_whose_requests_cannot_be_spans_sends_nothing(
    listed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(listed.read_text())
    doc["slowest_requests"][0]["spans"][0]["span_id"] = "zz"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    metrics = tmp_path / "m.prom"
    argv = ["export", str(bad), f"--prometheus={metrics}", f"--otlp=127.0.0.1:{free_port()}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmobs: error: {bad}: its requests cannot be sent as spans: ")
    assert "zz" in err
    assert err.count("\n") == 1
    assert not metrics.exists()  # nothing sent, not even what could have been


def test_an_interrupted_run_is_not_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    series = make_series("llm", list(np.linspace(10.0, 20.0, 30)))
    write_run_report(path, RunResult((series,), BaselineState(path, "missing"), interrupted=True))
    assert main(["export", str(path), f"--prometheus={tmp_path / 'm.prom'}"]) == 2
    assert "the run was interrupted: not exported" in capsys.readouterr().err
    assert not (tmp_path / "m.prom").exists()


def test_the_rules_take_group_by_from_the_pytest_table_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`llmobs_group_by` in [tool.pytest.ini_options] splits series in the plugin: the
    cohort patterns must join on it too."""
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.pytest.ini_options]\nllmobs_group_by = ["user_tier"]\n' + SLOS)
    assert main(["prometheus-rules", f"--config={config}"]) == 0
    out = capsys.readouterr().out
    assert "on(job, suite, branch, series, test, user_tier)" in out
    assert "LlmobsCohortQualityDrop" in out


def test_a_quality_slo_for_an_attribute_not_configured_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text(SLOS.replace("quality.relevance", "quality.relevanse"))
    assert main(["prometheus-rules", f"--config={config}", "-o", str(tmp_path / "r.yml")]) == 0
    err = capsys.readouterr().err
    assert (
        "llmobs: warning: the SLO quality.relevanse names no attribute of quality_attributes"
        " (relevance): did you mean relevance?"
    ) in err
