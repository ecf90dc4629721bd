"""`llmobs combine` on shard run reports: a missing shard fails closed in CI mode, and
the baseline judged against must be the one the shards ran against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pytest_llmobs.cli import main
from pytest_llmobs.gate import baseline
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.gate.model import CaptureSummary
from pytest_llmobs.gate.promotion import BaselineState
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.report.result import RunResult, Shard
from pytest_llmobs.report.run import write_run_report
from tests.conftest import make_series

TESTS = [f"t.py::test[{i}]" for i in range(30)]


def latencies(tests: list[str]) -> list[float]:
    return [10.0 + int(t[-3:-1].strip("[")) / 10 for t in tests]


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A baseline of the 30 tests, as a whole run records it."""
    path = tmp_path / "baseline.json"
    series = [make_series("llm", latencies(TESTS), cases=TESTS)]
    write_atomic(path, baseline.baseline_document(series, {}, Shape(), TESTS))
    return path


def shard(path: Path, tests: list[str], against: Path) -> Path:
    series = (make_series("llm", latencies(tests), cases=tests),)
    result = RunResult(
        series, BaselineState(against, "not-compared"), metadata={"run_id": path.stem},
        settings=Shape(),  # -k: the other shards' tests deselected
        ran=RanTests(frozenset(tests), frozenset(), deselected=frozenset(TESTS) - set(tests)),
        capture=CaptureSummary(len(tests), len(tests), len(tests), 1.0),
        shard=Shard(baseline.digest(against), 5, 0.6),
    )  # fmt: skip
    write_run_report(path, result)
    return path


def test_a_shard_missing_fails_in_ci_mode_unless_partial(
    tmp_path: Path, recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    one = shard(tmp_path / "one.json", TESTS[:10], recorded)
    two = shard(tmp_path / "two.json", TESTS[10:20], recorded)
    out = tmp_path / "run.json"
    assert main(["combine", str(one), str(two), "-o", str(out)]) == 0  # CI unset: a warning
    report = json.loads(out.read_text())
    assert any("10 ran in no shard" in w for w in report["warnings"])
    assert report["metadata"]["shards"] == [
        {"file": str(one), "run_id": "one"}, {"file": str(two), "run_id": "two"}
    ]  # fmt: skip
    monkeypatch.setenv("CI", "true")
    assert main(["combine", str(one), str(two), "-o", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["verdict"] == "error"
    assert any("is a shard missing?" in e for e in report["errors"])
    assert main(["combine", str(one), str(two), "-o", str(out), "--partial"]) == 0
    three = shard(tmp_path / "three.json", TESTS[20:], recorded)
    assert main(["combine", str(one), str(two), str(three), "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["verdict"], report["errors"]) == ("pass", [])
    assert report["series"][0]["count"] == 30


def test_the_baseline_must_be_the_shards_own(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "one.json", TESTS, recorded)
    other = tmp_path / "other.json"
    series = [make_series("llm", list(np.linspace(1, 2, 30)), cases=TESTS)]
    write_atomic(other, baseline.baseline_document(series, {}, Shape(), TESTS))
    out = tmp_path / "run.json"
    assert main(["combine", str(one), "-o", str(out), "--baseline", str(other)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"llmobs: error: {other}: not the baseline {one} ran against")
    assert error.count("\n") == 1
    assert not out.exists()
    # by default, the one the shard names
    assert main(["combine", str(one), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["baseline"]["path"] == str(recorded)
