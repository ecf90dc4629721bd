"""Write the README's sample outputs from real runs, or check that they still match one.

Each sample is a block of README.md between `<!-- sample: NAME ... -->` and
`<!-- /sample -->`, written from a real run of its command: pytest's own lines before
the llmobs section are left out (`...`), as are the requests and explanations after its
table, and the checkout's path reads `/home/you/pytest-llmobs`.

    python scripts/readme_samples.py           # rewrite the samples whose structure changed
    python scripts/readme_samples.py --force   # rewrite every sample with fresh numbers
    python scripts/readme_samples.py --check   # exit 1, with a diff, when one has drifted

`--check` compares a fresh run with the README after masking what timing moves
(latencies, percentages, p-values, intervals, durations: every decimal number); the
rest must match exactly: "N of M checks", series and metric names, verdicts, row order.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HOME = "/home/you/pytest-llmobs"  # the checkout's path, as the README shows it
COLUMNS = "100"  # the terminal width the samples are printed at
ATTEMPTS = 3  # runs --check tries before it calls a sample drifted (a busy machine)
BLOCK = re.compile(
    r"(?P<open><!-- sample: (?P<name>[\w-]+)[^\n]*-->\n)(?P<body>.*?)(?P<close><!-- /sample -->)",
    re.DOTALL,
)
TITLE = re.compile(r"^=+ llmobs: .* =+$")  # the llmobs section's headline
RULE = re.compile(r"^=+ .* =+$")  # pytest's section lines, its last summary line too
# what timing moves: a decimal number with its sign or bound (`+58.7%`, `<0.0001`, `2.5e-05`)
DECIMAL = re.compile(r"[<>±+-]?\d+\.\d+(?:e[+-]?\d+)?", re.IGNORECASE)
DETAIL = "    "  # a line that says why a check got its verdict, under its row
REST = ": -v lists every check"  # how the closing line (the checks without a row) ends


@dataclass(frozen=True)
class Sample:
    """A README sample: the command shown, how it runs, and what of its output is kept."""

    name: str
    shown: str  # the command line as the README shows it
    args: tuple[str, ...]  # what runs: the Python interpreter with these arguments
    env: Mapping[str, str]
    status: int  # the exit status the sample shows
    cut: tuple[str, ...]  # the llmobs section is cut from the first line starting so


SAMPLES = {
    sample.name: sample
    for sample in (
        Sample(
            "regressed-example",
            "LLMOBS_EXAMPLE_SLOWDOWN=1.6 pytest --llmobs examples/",
            ("-m", "pytest", "--llmobs", "examples/", "-p", "no:cacheprovider"),
            {"LLMOBS_EXAMPLE_SLOWDOWN": "1.6"},
            status=1,
            cut=("why: ", "alert ", "  slowest ", "  lowest "),
        ),
    )
}


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without what changes a run's output (CI mode, pytest and llmobs
    settings, colours), at a fixed terminal width."""
    dropped = ("CI", "GITHUB_STEP_SUMMARY", "NO_COLOR", "FORCE_COLOR")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("PYTEST_", "LLMOBS_"))
    }
    return {**env, "COLUMNS": COLUMNS, "PY_COLORS": "0", **extra}


def run(sample: Sample) -> tuple[int, list[str]]:
    """The exit status and output lines of a real run, the checkout's path made HOME."""
    proc = subprocess.run(
        [sys.executable, *sample.args], cwd=ROOT, env=environment(sample.env),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    text = (proc.stdout + proc.stderr).replace(str(ROOT), HOME)
    return proc.returncode, text.splitlines()


def block(sample: Sample, output: Sequence[str]) -> str:
    """The README block of a run's output: the command, `...` for pytest's own lines, the
    llmobs section up to its cut, `...`, its last line and pytest's summary line.

    Raises:
        SystemExit: the output has no llmobs section.
    """
    start = next((i for i, line in enumerate(output) if TITLE.match(line)), -1)
    rules = [i for i, line in enumerate(output) if RULE.match(line) and i > start]
    if start < 0 or not rules:
        sys.exit(f"{sample.name}: no llmobs section in its output:\n" + "\n".join(output))
    end = rules[-1]  # pytest's summary line; what other sections print before it is left out
    section = list(output[start + 1 : rules[0]])
    while section and not section[-1].strip():
        section.pop()
    cut = next((i for i, line in enumerate(section) if line.startswith(sample.cut)), None)
    if cut is not None and cut < len(section) - 1:
        section = [*section[:cut], "...", section[-1]]
    lines = [f"$ {sample.shown}", "...", output[start], *section, output[end]]
    return "```\n" + "\n".join(lines) + "\n```\n"


def masked(text: str) -> list[str]:
    """The text's lines as compared: what timing may tip left out (see `settled`),
    decimal numbers masked as `#`, runs of `=` and of white space made one."""
    lines = (re.sub(r"=+", "=", DECIMAL.sub("#", line)) for line in settled(text))
    return [" ".join(line.split()) for line in lines]


def settled(text: str) -> list[str]:
    """The lines without what timing on a busy machine may tip: inconclusive rows (a
    0.2 ms span's p95 a hair slower, which the data cannot rule out), each with the
    lines that say why under it, and the closing line's counts, which such a row moves.
    The title's count of checks, the regressions and their order stay."""
    kept: list[str] = []
    under_inconclusive = False
    for line in text.splitlines():
        if under_inconclusive and line.startswith(DETAIL):
            continue
        under_inconclusive = line.rstrip().endswith(" inconclusive")
        if not under_inconclusive:
            kept.append(line)
    closing = [i for i, line in enumerate(kept) if line.rstrip().endswith(REST)]
    for end in reversed(closing):  # the closing line, and the line it wrapped from
        start = end - 1 if end and kept[end].startswith("  ") else end
        kept[start : end + 1] = [f"...{REST}"]
    return kept


def same(a: str, b: str) -> bool:
    """Whether two blocks match once masked, wherever their lines wrap."""
    return " ".join(masked(a)).split() == " ".join(masked(b)).split()


def fresh(sample: Sample, like: str | None, attempts: int) -> tuple[str | None, str]:
    """Why a real run does not give the block `like` (None when it does; `like` None: any
    block of a run that exits as the sample shows), and the block of the last run. Up to
    `attempts` runs, as timing on a busy machine can tip a borderline check."""
    why: str | None = None
    body = ""
    for _ in range(attempts):
        status, output = run(sample)
        body = block(sample, output)
        if status != sample.status:
            why = f"exit status {status}, where the sample shows {sample.status}"
        elif like is not None and not same(body, like):
            why = "structure"
        else:
            return None, body
    return why, body


def diff(name: str, was: str, now: str) -> str:
    return "\n".join(
        difflib.unified_diff(
            masked(was), masked(now), f"README.md ({name})", "a fresh run", lineterm=""
        )
    )


def update(readme: Path, check: bool, force: bool, attempts: int) -> int:
    """Check or rewrite each sample block of the README; the exit status."""
    text = readme.read_text(encoding="utf-8")
    found = {m.group("name"): m for m in BLOCK.finditer(text)}
    problems = [f"README sample {n!r}: no such sample" for n in found if n not in SAMPLES]
    problems += [f"README has no block for sample {n!r}" for n in SAMPLES if n not in found]
    replaced = text
    for name, match in found.items():
        if name not in SAMPLES:
            continue
        was = match.group("body")
        why, body = fresh(SAMPLES[name], None if force and not check else was, attempts)
        if why == "structure" and check:
            problems.append(f"README sample {name!r} differs from a real run (decimal numbers "
                            f"masked):\n{diff(name, was, body)}")  # fmt: skip
        elif why not in (None, "structure"):
            problems.append(f"README sample {name!r}: its command ran with {why}:\n{body}")
        elif not check and (force or why is not None):
            new = match.group("open") + body + match.group("close")
            replaced = replaced.replace(match.group(0), new)
    for problem in problems:
        print(problem)
    if replaced != text:
        readme.write_text(replaced, encoding="utf-8")
        print(f"{readme}: samples rewritten")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail when a sample has drifted")
    parser.add_argument("--force", action="store_true", help="Rewrite every sample")
    parser.add_argument("--readme", type=Path, default=README, help="The README to use")
    parser.add_argument("--attempts", type=int, default=ATTEMPTS, help="Runs tried in --check")
    args = parser.parse_args(argv)
    return update(args.readme, args.check, args.force, max(1, args.attempts))


if __name__ == "__main__":
    sys.exit(main())
