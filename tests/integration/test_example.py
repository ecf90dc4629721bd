"""The example in examples/ is a real gate: it passes as committed and fails when made slower."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--llmobs", "examples/", "-p", "no:cacheprovider",
         "--llmobs-json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**{k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}, **env},
        check=False,
    )  # fmt: skip
    return proc, json.loads(report.read_text())


def test_example_gate_passes_on_its_committed_baseline(tmp_path: Path) -> None:
    proc, report = run_example(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert report["baseline"]["status"] == "loaded"
    assert report["verdict"] == "pass"
    names = {s["name"] for s in report["series"]}
    assert names == {"llm_request", "preprocess_prompt", "llm_inference", "evaluate_output"}
    assert min(s["count"] for s in report["series"]) >= 50


def test_the_committed_example_baseline_is_current(tmp_path: Path) -> None:
    # Everything the example measures is in its baseline, and the reverse: re-record it
    # (`python -m pytest --llmobs examples/ --llmobs-update-baseline`) when this fails.
    proc, report = run_example(tmp_path)
    stale = [(c["series"], c["metric"], c["verdict"]) for c in report["checks"]
             if c["verdict"] in ("new", "missing")]  # fmt: skip
    assert stale == [], proc.stdout
    assert report["coverage"]["not_measured"] == []
    # it records the settings that shaped it (another version's is only a note)
    assert not [w for w in report["warnings"] if "does not record the settings" in w]
    assert {"tokens.input", "tokens.output"} <= {c["metric"] for c in report["checks"]}


@pytest.mark.parametrize(
    ("env", "metric"),
    [
        ({"LLMOBS_EXAMPLE_SLOWDOWN": "1.6"}, "latency.p50"),
        ({"LLMOBS_EXAMPLE_QUALITY_DROP": "0.15"}, "quality.overall_score"),
    ],
)
def test_example_gate_fails_when_the_model_gets_worse(
    tmp_path: Path, env: dict[str, str], metric: str
) -> None:
    proc, report = run_example(tmp_path, **env)
    assert proc.returncode == 1, proc.stdout
    failing = {(c["series"], c["metric"]) for c in report["checks"] if c["verdict"] == "regression"}
    assert ("llm_request", metric) in failing
