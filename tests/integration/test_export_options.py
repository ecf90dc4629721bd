"""The run's results sent to the team's live stack by the plugin's own options, as users
type them: a Prometheus textfile, a Pushgateway and an OTLP endpoint that are down or
hang (bounded, one line, the verdict and the reports kept), the extra missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration import phoenix_server
from tests.integration.repo import Repo
from tests.loopback import free_port, silent

phoenix = phoenix_server.phoenix  # the session's Phoenix (a fixture)


def samples(path: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Each metric family of an exposition file: its samples' labels and values."""
    return {
        family.name: [(dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8"))
    }


def spans_by_series(found: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
    """The spans of each series (span name and cohort) of a metrics file."""
    return {
        f"{labels['series']}[{labels.get('user_tier', '')},{labels.get('domain', '')}]": value
        for labels, value in found["llmobs_spans"]
    }


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.mark.parametrize("form", ["=", " "])
def test_the_metrics_file_holds_the_run_as_its_report_does(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    monkeypatch.setenv("CI", "true")
    cohorts = "--llmobs-group-by=user_tier,domain"
    repo.record(cohorts)
    option = ["--llmobs-prometheus=out/metrics.prom"]
    if form == " ":  # a separate word, as users type it
        option = ["--llmobs-prometheus", "out/metrics.prom"]
    result, report = repo.gate(cohorts, *option)
    assert result.ret == 0, result.stdout.str()
    path = repo.root / "out" / "metrics.prom"
    result.stdout.fnmatch_lines([f"exported: metrics written to {path}"])
    found = samples(path)
    expected = {
        f"{s['name']}[{s['group'].get('user_tier', '')},{s['group'].get('domain', '')}]": s["count"]
        for s in report["series"]
    }
    assert spans_by_series(found) == expected
    assert len(expected) == 2 * 5 * 3 + 1  # each span name by tier and domain; the tool call
    [(info, one)] = found["llmobs_run_info"]
    assert (info["verdict"], one) == ("pass", 1.0)
    assert info["suite"] == "suite"  # the rootdir the suite's pytest.ini makes
    verdicts = {labels["verdict"]: value for labels, value in found["llmobs_checks"]}
    assert verdicts["pass"] + verdicts["inconclusive"] == len(report["checks"])
    assert verdicts["regression"] == 0


def test_metrics_under_xdist_are_the_serial_runs(repo: Repo) -> None:
    serial, _ = repo.gate("--llmobs-prometheus=serial.prom")
    parallel, _ = repo.gate("--llmobs-prometheus=parallel.prom", "-n", "2")
    assert (serial.ret, parallel.ret) == (0, 0), parallel.stdout.str()
    by_series = [spans_by_series(samples(repo.root / f)) for f in ("serial.prom", "parallel.prom")]
    assert by_series[0] == by_series[1]
    assert sum(by_series[0].values()) == 40 * 3 + 1  # 40 prompts of three spans, a tool call


def test_a_pushgateway_that_is_down_costs_one_line_and_not_the_verdict(
    repo: Repo, closed_port: int
) -> None:
    result, report = repo.gate(f"--llmobs-pushgateway=http://127.0.0.1:{closed_port}")
    assert result.ret == 0
    assert report["verdict"] == "pass"
    failed = [line for line in result.stdout.lines if line.startswith("export failed:")]
    assert failed == [
        f"export failed: metrics to http://127.0.0.1:{closed_port}: " + failed[0].split(": ", 2)[2]
    ]
    assert "refused" in failed[0].lower()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_backend_that_hangs_is_left_after_the_timeout(repo: Repo) -> None:
    with silent() as url:
        result, report = repo.gate(f"--llmobs-export-otlp={url}", "--llmobs-export-timeout=1")
    assert result.ret == 0
    assert report["verdict"] == "pass"
    result.stdout.fnmatch_lines([f"export failed: spans to {url}: no answer within 1 s*"])


def test_a_regression_keeps_its_exit_status_whatever_the_export_does(
    repo: Repo, closed_port: int
) -> None:
    repo.record()
    repo.write(scored=False)  # the quality score is gone: the gate fails
    url = f"http://127.0.0.1:{closed_port}"
    result, report = repo.gate(f"--llmobs-export-otlp={url}")
    assert report["verdict"] != "pass"
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [f"export failed: spans to {url}: cannot connect: connection refused at *"]
    )


def test_an_interrupted_run_is_not_exported(repo: Repo) -> None:
    (repo.suite / "test_stop.py").write_text("def test_zz_stop():\n    raise KeyboardInterrupt\n")
    result, _ = repo.gate("--llmobs-prometheus=metrics.prom")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["not exported: the session was interrupted"])
    assert not (repo.root / "metrics.prom").exists()


def test_a_run_pytest_stopped_before_any_test_is_not_exported(repo: Repo) -> None:
    result, report = repo.gate("--llmobs-prometheus=metrics.prom", "-k", "bad syntax(")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert report["verdict"] == "error"
    result.stdout.fnmatch_lines(["not exported: pytest stopped the run before any test"])
    assert not (repo.root / "metrics.prom").exists()


def test_a_run_without_export_options_imports_nothing_of_the_extra(repo: Repo) -> None:
    (repo.suite / "test_zz_modules.py").write_text(
        "import sys\n\n"
        "def test_zz_modules():\n"
        "    extra = ('prometheus_client', 'opentelemetry.exporter', 'grafana_foundation_sdk',\n"
        "             'requests', 'pytest_llmobs.export.otlp_spans',\n"
        "             'pytest_llmobs.export.prometheus', 'pytest_llmobs.export.grafana')\n"
        "    assert [m for m in extra if m in sys.modules] == []\n"
    )
    result, _ = repo.gate("--llmobs-json=run.json")
    assert result.ret == 0, result.stdout.str()
    result.stdout.no_fnmatch_line("exported:*")


def test_a_missing_extra_stops_the_run_before_any_test(repo: Repo) -> None:
    # as if prometheus_client were not installed: an import of it fails
    (repo.suite / "conftest.py").write_text("import sys\nsys.modules['prometheus_client'] = None\n")
    result = repo.run(
        "--llmobs", "suite/", "--llmobs-json=run.json", "--llmobs-pushgateway=pg:9091"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: llmobs: --llmobs-pushgateway needs the export extra (prometheus_client):"
            " pip install 'pytest-llmobs[export]'"
        ]
    )
    report = json.loads((repo.root / "run.json").read_text())
    assert report["verdict"] == "error"
    assert "passed" not in result.stdout.str()


def test_an_export_timeout_typed_without_a_destination_stops_the_run(repo: Repo) -> None:
    result = repo.run("--llmobs", "suite/", "--llmobs-export-timeout=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: llmobs: --llmobs-export-timeout=3 (command line) does nothing without"
            " --llmobs-export-otlp or --llmobs-pushgateway: *"
        ]
    )


def test_every_span_of_a_run_reaches_a_real_tracing_backend(
    repo: Repo, phoenix: phoenix_server.Phoenix, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pytest --llmobs --llmobs-export-otlp URL` (a separate word, CI=true), read back
    through Phoenix's own API: names, test ids, durations and the run's attributes."""
    monkeypatch.setenv("CI", "true")
    repo.record()
    result, report = repo.gate("--llmobs-export-otlp", phoenix.url)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"exported: 121 span(s) sent to {phoenix.url}"])
    run = report["metadata"]["run_id"]
    # no project named in the resource: Phoenix files them under its default project
    found = phoenix.wait_for_spans("default", 121)
    kept = [span for span in found if span["attributes"].get("llmobs.run.id") == run]
    assert len(kept) == 121
    assert {s["attributes"]["llmobs.run.verdict"] for s in kept} == {"pass"}
    commits = {s["attributes"].get("vcs.ref.head.revision") for s in kept}
    assert commits == {report["metadata"]["git_commit"]}
    # each span's duration, by test and span name, as the run report's samples hold it
    exported: dict[tuple[str, str], list[float]] = {}
    for span in kept:
        start, end = (phoenix_server.microseconds(span[t]) for t in ("start_time", "end_time"))
        key = (span["attributes"]["test.nodeid"], span["name"])
        exported.setdefault(key, []).append((end - start) / 1000)
    reported = {
        (case, series["name"]): samples["latency_ms"]
        for series in report["series"]
        for case, samples in series["cases"].items()
    }
    assert exported.keys() == reported.keys()
    for key, durations in exported.items():
        # Phoenix keeps microseconds; the report six significant digits
        assert sorted(durations) == pytest.approx(reported[key], abs=0.0015), key
