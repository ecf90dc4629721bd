"""The README's sample outputs are what real runs print: scripts/readme_samples.py writes
them from real runs, and its --check fails when one drifts."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "readme_samples.py"


@functools.cache
def samples_script() -> Any:
    """The script as a module (no package holds it)."""
    spec = importlib.util.spec_from_file_location("readme_samples", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def sample_block(readme: str) -> str:
    [block] = [m.group("body") for m in samples_script().BLOCK.finditer(readme)]
    return str(block)


def test_the_readme_samples_are_what_a_real_run_prints() -> None:
    proc = script("--check")
    assert proc.returncode == 0, (
        proc.stdout + proc.stderr + "\nrun `python scripts/readme_samples.py` to write them again"
    )


# ways a sample drifts from the run: its count of checks, a verdict
DRIFTS = {
    "count": (r"(REGRESSION in \d+ of )(\d+)", lambda m: f"{m[1]}{int(m[2]) - 2}"),
    "verdict": (r"(?m)^(.*\S +)REGRESSION$", lambda m: f"{m[1]}pass"),
}


def drifted(tmp_path: Path, how: str) -> tuple[Path, str]:
    """A copy of the README whose sample drifted as `how` says, and the drifted line."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = sample_block(readme)
    pattern, change = DRIFTS[how]
    changed = re.sub(pattern, change, block, count=1)
    assert changed != block
    [line] = [line for line in changed.splitlines() if line not in block.splitlines()]
    path = tmp_path / "README.md"
    path.write_text(readme.replace(block, changed), encoding="utf-8")
    return path, line


@pytest.mark.parametrize("how", list(DRIFTS))
def test_a_drifted_sample_fails_the_check_with_a_diff(tmp_path: Path, how: str) -> None:
    path, line = drifted(tmp_path, how)
    before = path.read_text(encoding="utf-8")
    proc = script("--check", "--readme", str(path), "--attempts", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "README sample 'regressed-example' differs from a real run" in proc.stdout
    [masked] = samples_script().masked(line)
    assert f"-{masked}" in proc.stdout.splitlines()  # the drifted line, shown as the README's
    assert path.read_text(encoding="utf-8") == before  # --check never writes


def test_the_script_rewrites_a_drifted_sample_and_then_leaves_it(tmp_path: Path) -> None:
    path, line = drifted(tmp_path, "count")
    proc = script("--readme", str(path), "--attempts", "1")
    assert (proc.returncode, proc.stdout) == (0, f"{path}: samples rewritten\n"), proc.stderr
    written = path.read_text(encoding="utf-8")
    assert line not in written
    assert "<!-- /sample -->\nEvery test passed" in written  # the prose around it stays
    proc = script("--readme", str(path))  # nothing to do: the same structure
    assert (proc.returncode, proc.stdout) == (0, "")
    assert path.read_text(encoding="utf-8") == written


def test_the_check_masks_timing_but_not_structure() -> None:
    same = samples_script().same
    title = "=== llmobs: REGRESSION in 4 of 21 checks ==="
    a = f"{title}\nllm  latency.p50  12.2 ms  +58.7%  <0.0001  REGRESSION\n== 61 passed in 1.9s =="
    timed = a.replace("12.2", "9.87").replace("+58.7%", "-4.1%").replace("<0.0001", "0.0312")
    assert same(a, timed.replace("1.9s =", "12.25s ="))
    assert same(a, a.replace("  +58.7%", "\n  +58.7%"))  # wrapped elsewhere
    assert not same(a, a.replace("4 of 21", "4 of 19"))
    assert not same(a, a.replace("  REGRESSION", "  inconclusive"))
    assert not same(a, a.replace("latency.p50", "latency.p95"))
    assert not same(a, a.replace("61 passed", "60 passed"))


def test_what_timing_may_tip_is_not_structure() -> None:
    same = samples_script().same
    block = sample_block((ROOT / "README.md").read_text(encoding="utf-8"))
    lines = block.splitlines()
    first = next(i for i, line in enumerate(lines) if line.endswith("REGRESSION"))
    at = next(i for i in range(first + 1, len(lines)) if not lines[i].startswith("    ")) - 1
    # a 0.2 ms span's p95 a hair slower, which the data cannot rule out on a busy machine
    tipped = [
        *lines[: at + 1],
        "evaluate_output  latency.p95  0.210 ms  0.214 ms  +1.9%  0.9000  inconclusive",
        "    too few spans to rule out a change beyond +10% and +1ms, here +476.2%, about 64",
        "      spans a side needed",
        *lines[at + 1 :],
    ]
    tipped_text = "\n".join(tipped).replace("9 other checks passed", "8 other checks passed")
    assert same(block, tipped_text)
    # a regression that is no longer one is structure
    assert not same(block, block.replace("REGRESSION\n", "inconclusive\n", 1))
    assert not same(block, block.replace(" of 21 checks", " of 19 checks"))
