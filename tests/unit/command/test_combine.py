"""`llmobs combine` on shard run reports: a missing shard fails closed in CI mode, and
the baseline judged against must be the one the shards ran against."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

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


def shard(
    path: Path,
    tests: list[str],
    against: Path,
    commit: str = "abc",
    ci: bool = False,
    **judging: Any,
) -> Path:
    series = (make_series("llm", latencies(tests), cases=tests),)
    result = RunResult(
        series, BaselineState(against, "not-compared"),
        metadata={"run_id": path.stem, "git_commit": commit},
        settings=Shape(),  # -k: the other shards' tests deselected
        ran=RanTests(frozenset(tests), frozenset(), deselected=frozenset(TESTS) - set(tests)),
        capture=CaptureSummary(len(tests), len(tests), len(tests), 1.0),
        ci=ci, ci_source="--llmobs-ci (command line)" if ci else "",
        shard=Shard(baseline.digest(against), 5, 0.6, **judging),
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
    assert report["metadata"]["git_commit"] == "abc"  # the shards' commit
    assert report["metadata"]["shards"] == [
        {"file": str(one), "run_id": "one"}, {"file": str(two), "run_id": "two"}
    ]  # fmt: skip
    monkeypatch.setenv("CI", "true")
    assert main(["combine", str(one), str(two), "-o", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["verdict"] == "error"
    assert any("is a shard missing, or did every shard" in e for e in report["errors"])
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


def test_the_output_among_the_shards_is_refused_and_the_shard_kept(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "one.json", TESTS[:15], recorded)
    two = shard(tmp_path / "two.json", TESTS[15:], recorded)
    before = two.read_bytes()
    assert main(["combine", str(one), str(two), "-o", str(two)]) == 2
    assert "two.json: given as a shard and as the output (-o)" in capsys.readouterr().err
    assert two.read_bytes() == before
    kept = recorded.read_bytes()
    assert main(["combine", str(one), str(two), "-o", str(recorded)]) == 2
    assert "the baseline, given as the output (-o)" in capsys.readouterr().err
    assert recorded.read_bytes() == kept


def test_a_bad_rule_of_a_marked_test_is_bad_input(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "one.json", TESTS, recorded)
    doc = json.loads(one.read_text())
    doc["marked_rules"] = {"t.py::test": {"latency.p50": "bogus"}}
    one.write_text(json.dumps(doc))
    assert main(["combine", str(one), "-o", str(tmp_path / "run.json")]) == 2
    assert "marked_rules: t.py::test: latency.p50 = 'bogus'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("other", "said"),
    [
        ({"commit": "def"}, "commit def here, abc in"),
        ({"alpha": 0.05}, "setting alpha 0.05 here, 0.01 in"),
        ({"fail_on_inconclusive": True}, "setting fail_on_inconclusive True here, False in"),
    ],
)
def test_shards_of_another_commit_or_judged_otherwise_are_refused(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str], other: Any, said: str
) -> None:
    one = shard(tmp_path / "one.json", TESTS[:15], recorded)
    two = shard(tmp_path / "two.json", TESTS[15:], recorded, **other)
    assert main(["combine", str(one), str(two), "-o", str(tmp_path / "run.json")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"llmobs: error: {two}: {said} {one}")
    assert error.count("\n") == 1


def test_the_combined_run_is_judged_as_the_shards_were_to_be(
    tmp_path: Path, recorded: Path
) -> None:
    # --llmobs-fail-on-inconclusive typed on the shards: the run fails on its
    # inconclusive checks (p95 and p99 at 30 spans); in advisory mode it exits 0 all the same
    out = tmp_path / "run.json"
    for advisory, status in ((False, 1), (True, 0)):
        parts = [
            shard(tmp_path / f"{n}.json", tests, recorded, fail_on_inconclusive=True,
                  advisory=advisory)
            for n, tests in (("one", TESTS[:15]), ("two", TESTS[15:]))
        ]  # fmt: skip
        assert main(["combine", *map(str, parts), "-o", str(out)]) == status
        report = json.loads(out.read_text())
        assert (report["verdict"], report["fail_on_inconclusive"]) == ("fail", True)
        assert report["advisory"] is advisory


def test_a_shard_in_ci_mode_puts_the_combined_run_in_it(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --llmobs-ci on the shards (a CI that sets no CI variable): a missing shard fails
    one = shard(tmp_path / "one.json", TESTS[:10], recorded, ci=True)
    two = shard(tmp_path / "two.json", TESTS[10:20], recorded)
    out = tmp_path / "run.json"
    assert main(["combine", str(one), str(two), "-o", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["ci"] == {"on": True, "source": f"{one}: --llmobs-ci (command line)"}
    assert report["verdict"] == "error"


def test_the_rules_are_those_the_shards_read_by_their_bytes(
    tmp_path: Path,
    recorded: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = b'[tool.llmobs.slo]\nlatency.p50 = { fail = "1ms" }\n'  # fails this run
    gone = str(tmp_path / "elsewhere" / "pyproject.toml")
    digest = hashlib.sha256(rules).hexdigest()
    one = shard(tmp_path / "one.json", TESTS, recorded, config=gone, config_sha256=digest)
    out = tmp_path / "run.json"
    monkeypatch.chdir(tmp_path)
    assert main(["combine", str(one), "-o", str(out)]) == 2  # not here: none is that file
    assert f"its rules came from {gone} (sha256 {digest[:12]})" in capsys.readouterr().err
    other = tmp_path / "other.toml"
    other.write_bytes(b"[tool.llmobs]\n")
    assert main(["combine", str(one), "-o", str(out), f"--config={other}"]) == 2
    (tmp_path / "pyproject.toml").write_bytes(rules)  # a checkout at another path
    assert main(["combine", str(one), "-o", str(out)]) == 1
    assert json.loads(out.read_text())["verdict"] == "fail"
    # shards that read no pyproject.toml are judged by the defaults, not the nearest one
    bare = shard(tmp_path / "bare.json", TESTS, recorded)
    assert main(["combine", str(bare), "-o", str(out)]) == 0
    assert main(["combine", str(bare), "-o", str(out), f"--config={other}"]) == 2


def test_a_shard_is_no_baseline_to_compare_with(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = shard(tmp_path / "one.json", TESTS, recorded)
    out = tmp_path / "run.json"
    assert main(["combine", str(one), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["compare", str(out), str(one)]) == 2
    assert (
        capsys.readouterr().err
        == f"llmobs: error: {one}: a shard, not a baseline: promote a combined run\n"
    )
