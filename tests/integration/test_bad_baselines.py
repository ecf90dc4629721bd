"""Every kind of bad baseline fails the gate closed with one line naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.suites import SUITE, make_suite


def valid(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def with_value(value: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        doc = valid(path)
        doc["series"][0]["latency_ms"]["p50"] = value
        path.write_text(json.dumps(doc).replace('"__NaN__"', "NaN"))

    return write


def text(content: str | bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return write


def version(number: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        doc = valid(path)
        doc["version"] = number
        path.write_text(json.dumps(doc))

    return write


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def unreadable(path: Path) -> None:
    path.chmod(0)


def oversized(path: Path) -> None:
    with path.open("r+b") as fh:  # sparse: only its size matters, it is never read
        fh.truncate(129 * 2**20)


@pytest.fixture(scope="module")
def recorded_once(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The generated suite's baseline, recorded once for every case here."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "test_suite.py").write_text(SUITE.format(slowdown=1.0, quality_drop=0.0,
                                                       error_every=0))  # fmt: skip
    (folder / "tox.ini").write_text("[pytest]\nllmobs_quality_attributes = overall_score\n")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--llmobs", "--llmobs-update-baseline",
         "-p", "no:cacheprovider"],
        cwd=folder, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    return (folder / ".llmobs" / "baseline.json").read_bytes()


@pytest.fixture
def recorded(pytester: pytest.Pytester, recorded_once: bytes) -> None:
    """The generated suite with its baseline (a copy of the one recorded once)."""
    make_suite(pytester)
    (pytester.path / ".llmobs").mkdir()
    (pytester.path / ".llmobs" / "baseline.json").write_bytes(recorded_once)


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (text(""), ": empty"),
    "binary garbage": (text(b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), "not valid"),
    "truncated JSON": (text('{"schema": "pytest-llmobs/baseline", "ver'), "not valid JSON"),
    "pytest-benchmark file": (
        text(json.dumps({"machine_info": {}, "benchmarks": [{"name": "t", "stats": {}}]})),
        "not a pytest-llmobs file",
    ),
    "a JSON array": (text("[1, 2, 3]"), "not a pytest-llmobs file"),
    "newer schema": (version(99), "schema version 99 needs a newer pytest-llmobs"),
    "older schema": (version(0), "unknown schema version 0"),
    "NaN latency": (with_value("__NaN__"), "p50"),
    "negative latency": (with_value(-5), "p50"),
    "text latency": (with_value("fast"), "p50"),
    "a directory": (directory, "cannot read it"),
    "larger than any baseline": (oversized, "129 MB is more than a baseline may be"),
}
if hasattr(os, "geteuid") and os.geteuid() != 0:  # root reads any file
    BAD["unreadable"] = (unreadable, "cannot read it")


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize("case", list(BAD))
def test_bad_baseline_fails_closed_with_one_line(
    pytester: pytest.Pytester, run_llmobs: Any, case: str
) -> None:
    path = pytester.path / ".llmobs" / "baseline.json"
    spoil, message = BAD[case]
    spoil(path)
    result, report = run_llmobs()
    assert result.ret == 1
    assert report["verdict"] == "error"
    assert report["baseline"]["status"] == "error"
    assert message in report["baseline"]["message"]
    assert str(path) in report["baseline"]["message"]
    lines = [line for line in result.stdout.lines if str(path) in line and message in line]
    assert len(lines) == 1
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.usefixtures("recorded")
def test_a_baseline_with_millions_of_samples_is_judged(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    path = pytester.path / ".llmobs" / "baseline.json"
    doc = valid(path)
    total = 0
    for series in doc["series"]:  # the same samples, each repeated: the same distribution
        for entry in series["cases"].values():
            entry["latency_ms"] = entry["latency_ms"] * 20_000
            total += len(entry["latency_ms"])
    assert total > 1_000_000
    path.write_text(json.dumps(doc))
    result, report = run_llmobs()
    assert report["baseline"]["status"] == "loaded"
    assert report["checks"]
    assert {c["verdict"] for c in report["checks"]} <= {"pass", "improvement", "inconclusive"}
    assert result.ret == 0
