"""A suite split into shards and combined with `llmobs combine` is judged as the whole
suite run on one machine; shards that cannot make one run are refused."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

# The gate imports scipy.special when it first judges, in the process of the test that
# calls `main`; pytester then drops the modules that test loaded, and numpy's extensions
# load once a process: loaded here, before any pytester, they stay.
import scipy.special  # noqa: F401

from pytest_llmobs.cli import main
from tests.conftest import read_report
from tests.integration.shard_suite import (
    CASES_PER_FILE,
    MANY,
    SHARDS,
    assert_judged_alike,
    load,
    make_sharded_suite,
    run_shard,
    run_shards,
)

VOLATILE = ("created_at", "run_id", "git_commit", "git_branch")  # metadata a rerun changes


def combine(
    shards: list[Path], out: Path, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], tuple[str, str]]:
    """`llmobs combine` of the shards; its exit status, run report, stdout and stderr."""
    capsys.readouterr()
    status = main(["combine", *map(str, shards), "-o", str(out), "--baseline", str(baseline)])
    captured = capsys.readouterr()
    return status, load(out), (captured.out, captured.err)


def compare(
    run: Path, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    """`llmobs compare` of a saved run; its exit status, run report and output."""
    out = run.with_name(f"compared-{run.name}")
    status = main(["compare", str(run), str(baseline), "--json", str(out)])
    return status, load(out), capsys.readouterr().out


def recorded_baseline(run_llmobs: Any, pytester: pytest.Pytester) -> Path:
    """The baseline of a whole run, and that run's report kept as baseline-run.json."""
    result, report = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    assert report["baseline"]["status"] == "updated"
    shutil.copy(pytester.path / "report.json", pytester.path / "baseline-run.json")
    return pytester.path / ".llmobs" / "baseline.json"


def assert_combined_as_whole(
    pytester: pytest.Pytester,
    shards: list[Path],
    whole: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    """Combine the shards, then compare the combined run again: both exit with status and
    judge as the whole run did."""
    baseline = pytester.path / ".llmobs" / "baseline.json"
    combined_path = pytester.path / "combined.json"
    exited, combined, (out, _) = combine(shards, combined_path, baseline, capsys)
    assert exited == status
    assert_judged_alike(combined, whole)
    assert combined["metadata"]["run_id"] not in {load(s)["metadata"]["run_id"] for s in shards}
    assert combined["warnings"] == whole["warnings"]
    again, compared, compare_out = compare(combined_path, baseline, capsys)
    assert_judged_alike(compared, whole)
    assert again == status
    assert out.splitlines()[0] == compare_out.splitlines()[0]  # the same summary
    assert [Path(s["file"]).name for s in combined["metadata"]["shards"]] == [
        s.name for s in shards
    ]


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_a_shards_combine_to_the_whole_run(
    pytester: pytest.Pytester,
    run_llmobs: Any,
    capsys: pytest.CaptureFixture[str],
    workers: tuple[str, ...],
) -> None:
    make_sharded_suite(pytester)
    baseline = recorded_baseline(run_llmobs, pytester)
    result, whole = run_llmobs()
    assert result.ret == 0
    assert whole["verdict"] == "pass"
    passed = {c["metric"] for c in whole["checks"] if c["verdict"] == "pass"}
    assert {"latency.p50", "quality.overall_score"} <= passed
    assert "error_rate" in {c["metric"] for c in whole["checks"]}
    shards = run_shards(pytester, "shard", *workers)
    digest = hashlib.sha256(baseline.read_bytes()).hexdigest()
    assert [load(s)["shard"]["baseline_sha256"] for s in shards] == [digest] * SHARDS
    assert_combined_as_whole(pytester, shards, whole, capsys, status=0)


def test_regressed_shards_combine_to_the_whole_runs_regression(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_sharded_suite(pytester)
    recorded_baseline(run_llmobs, pytester)
    make_sharded_suite(pytester, slowdown=1.6, quality_drop=0.1)
    result, whole = run_llmobs()
    assert result.ret == 1
    assert whole["verdict"] == "regression"
    regressed = {
        (c["series"], c["metric"]) for c in whole["checks"] if c["verdict"] == "regression"
    }
    assert ("llm_inference", "latency.p50") in regressed
    assert any(metric.startswith("quality.") for _, metric in regressed)
    shards = run_shards(pytester, "shard")  # a shard exits 0: it judges nothing
    assert_combined_as_whole(pytester, shards, whole, capsys, status=1)


def test_the_baseline_of_combined_shards_is_the_whole_runs(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    make_sharded_suite(pytester)
    baseline = recorded_baseline(run_llmobs, pytester)
    shards = run_shards(pytester, "shard")
    status, _, _ = combine(shards, pytester.path / "combined.json", baseline, capsys)
    assert status == 0
    promoted = pytester.path / "promoted.json"
    update = ["baseline", "update", str(pytester.path / "combined.json")]
    assert main([*update, "--baseline", str(promoted)]) == 0
    got, expected = load(promoted), load(baseline)
    assert got.keys() == expected.keys()
    assert {k: v for k, v in got.items() if k != "metadata"} == {
        k: v for k, v in expected.items() if k != "metadata"
    }
    # the combined run's provenance (its shards, say) may add to the metadata
    same = expected["metadata"].keys() - VOLATILE
    assert {k: got["metadata"].get(k) for k in same} == {k: expected["metadata"][k] for k in same}


@pytest.fixture
def shards(
    pytester: pytest.Pytester, run_llmobs: Any, capsys: pytest.CaptureFixture[str]
) -> list[Path]:
    """The suite's baseline, its whole run's report (baseline-run.json) and three shards
    recorded against that baseline, which combine takes as they are."""
    make_sharded_suite(pytester)
    recorded_baseline(run_llmobs, pytester)
    paths = run_shards(pytester, "shard")
    baseline = pytester.path / ".llmobs" / "baseline.json"
    status, _, printed = combine(paths, pytester.path / "control.json", baseline, capsys)
    assert status == 0, printed
    return paths


def assert_refused(capsys: pytest.CaptureFixture[str], *names: str) -> None:
    """One line on stderr, an error naming the files."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("llmobs: error:"), lines
    assert all(name in lines[0] for name in names), (names, lines)


def edited(path: Path, **values: Any) -> Path:
    doc = load(path)
    doc.update(values)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def truncated(path: Path) -> Path:
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("quality attributes", ("-o", "llmobs_quality_attributes=overall_score relevance")),
        ("group by", ("-o", "llmobs_group_by=gen_ai.request.model")),
        ("run twice", ()),
    ],
)
def test_combine_refuses_shards_of_another_shape_or_run_twice(
    pytester: pytest.Pytester,
    shards: list[Path],
    capsys: pytest.CaptureFixture[str],
    case: str,
    args: tuple[str, ...],
) -> None:
    run_shard(pytester, 2, "other-2.json", *args)
    other = pytester.path / "other-2.json"
    given = [*shards, other] if case == "run twice" else [*shards[:2], other]
    out = str(pytester.path / "combined.json")
    baseline = str(pytester.path / ".llmobs" / "baseline.json")
    assert main(["combine", *map(str, given), "-o", out, "--baseline", baseline]) == 2
    assert_refused(capsys, *(("shard-2.json",) if case == "run twice" else ()), "other-2.json")
    assert not Path(out).exists()


@pytest.mark.parametrize(
    "case", ["given twice", "truncated", "version 99", "not a shard", "a baseline", "missing"]
)
def test_combine_refuses_a_file_that_is_no_shard_of_the_run(
    pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str], case: str
) -> None:
    bad = {
        "given twice": lambda: shards[1],
        "truncated": lambda: truncated(shards[1]),
        "version 99": lambda: edited(shards[1], version=99),
        "not a shard": lambda: pytester.path / "baseline-run.json",
        "a baseline": lambda: pytester.path / ".llmobs" / "baseline.json",
        "missing": lambda: pytester.path / "nowhere.json",
    }[case]()
    given = [*shards, bad] if case == "given twice" else [shards[0], shards[2], bad]
    out = str(pytester.path / "combined.json")
    baseline = str(pytester.path / ".llmobs" / "baseline.json")
    assert main(["combine", *map(str, given), "-o", out, "--baseline", baseline]) == 2
    assert_refused(capsys, bad.name)
    assert not Path(out).exists()


def test_combine_refuses_a_baseline_the_shards_did_not_run_against(
    pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    other = pytester.path / "other-baseline.json"
    other.write_text(json.dumps(load(pytester.path / ".llmobs" / "baseline.json"), indent=1))
    out = str(pytester.path / "combined.json")
    assert main(["combine", *map(str, shards), "-o", out, "--baseline", str(other)]) == 2
    assert_refused(capsys, "other-baseline.json")


@pytest.mark.parametrize("command", ["compare", "report", "baseline update"])
def test_other_commands_refuse_a_shard(
    pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str], command: str
) -> None:
    baseline = pytester.path / ".llmobs" / "baseline.json"
    before = baseline.read_bytes()
    judged = [str(baseline)] if command == "compare" else []
    assert main([*command.split(), str(shards[0]), *judged]) == 2
    assert_refused(capsys, shards[0].name)
    assert baseline.read_bytes() == before  # not promoted


def test_combine_warns_of_the_baselines_tests_no_shard_ran(
    pytester: pytest.Pytester, shards: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = pytester.path / ".llmobs" / "baseline.json"
    out = pytester.path / "combined.json"
    status, report, printed = combine(shards[:2], out, baseline, capsys)
    assert status in (0, 1)  # judged, not refused
    missing = len(load(shards[2])["tests"])
    assert missing == CASES_PER_FILE
    assert set(report["tests"]) == set(load(baseline)["tests"]) - set(load(shards[2])["tests"])
    warned = [" ".join(w.split()) for w in report["warnings"] if str(missing) in w]
    assert warned, report["warnings"]
    said = " ".join(" ".join(printed).split())  # as wrapped to the terminal's width
    assert any(w in said for w in warned), printed


@pytest.mark.parametrize("given", [(), ("--llmobs-update-baseline",)])
def test_a_shard_without_its_run_report_or_updating_is_a_usage_error(
    pytester: pytest.Pytester, given: tuple[str, ...]
) -> None:
    make_sharded_suite(pytester)
    args = ("--llmobs-json=shard.json",) if given else ()
    result = pytester.runpytest_subprocess("--llmobs", "--llmobs-shard", *args, *given)
    assert result.ret == 4
    assert not (pytester.path / ".llmobs" / "baseline.json").exists()


def test_a_shard_keeps_every_sample_unrounded_and_judges_nothing(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(test_many=MANY)
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-shard", "--llmobs-json=shard.json", "-p", "no:cacheprovider"
    )
    assert result.ret == 0
    shard = read_report(pytester, "shard.json")
    assert (shard["verdict"], shard["checks"], shard["shard"]["baseline_sha256"]) == (
        "shard", [], None,
    )  # fmt: skip
    _, whole = run_llmobs()
    (series,) = shard["series"]
    assert series["count"] == whole["series"][0]["count"] > 1000
    assert len(kept(shard)) == series["count"] - series["cache_hits"]
    assert len(kept(whole)) < series["count"]  # a judged run's samples are bounded
    assert any(v != float(f"{v:.6g}") for v in kept(shard))  # as measured, to the ns


def kept(report: dict[str, Any]) -> list[float]:
    """The latency samples a report keeps of its one series."""
    return [v for case in report["series"][0]["cases"].values() for v in case["latency_ms"]]


def test_a_shard_says_what_it_recorded_and_how_to_combine_it(pytester: pytest.Pytester) -> None:
    make_sharded_suite(pytester)
    result = run_shard(pytester, 0, "shard.json")
    shard = read_report(pytester, "shard.json")
    # its own section, "llmobs: shard recorded" (as a banner, maybe) to the reports' paths
    start = [i for i, x in enumerate(result.outlines) if shard_line(x)]
    assert len(start) == 1, result.outlines
    end = next(i for i, x in enumerate(result.outlines) if x.startswith("reports: "))
    said = "\n".join(result.outlines[start[0] : end])
    spans, series, tests = shard["capture"]["spans"], len(shard["series"]), len(shard["tests"])
    assert re.search(rf"\b{spans} spans\b", said), said
    assert re.search(rf"\b{series} series\b", said), said
    assert re.search(rf"\b{tests} tests\b", said), said
    assert "llmobs combine" in said


def shard_line(line: str) -> bool:
    return line.strip("= ").lower().startswith("llmobs: shard recorded")


def test_a_shard_whose_run_report_cannot_be_written_fails(pytester: pytest.Pytester) -> None:
    # the shard is its run report: without it, the combined run would miss its tests
    make_sharded_suite(pytester)
    result = pytester.runpytest_subprocess(
        "--llmobs", "--llmobs-shard", "--llmobs-json=/proc/no-such/shard.json",
        "-p", "no:cacheprovider", "-k", "[r0_",
    )  # fmt: skip
    assert result.ret == 1
    result.stdout.fnmatch_lines(["error: /proc/no-such/shard.json: cannot write the run report*"])
