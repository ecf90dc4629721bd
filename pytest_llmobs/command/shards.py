"""The shards `llmobs combine` reads: each a shard's run report, and together one run of
one commit, or refused with one line that names the file and what differs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_llmobs.command.inputs import BadInput, run_report
from pytest_llmobs.gate import baseline, judge
from pytest_llmobs.report.result import RunResult, Shard

RECORD = "record each shard with `pytest --llmobs --llmobs-shard --llmobs-json=SHARD.json`"


@dataclass(frozen=True)
class Part:
    """One shard as read: its file, its series (every sample) and the rest of its report."""

    path: Path
    run: baseline.SeriesFile
    result: RunResult

    @property
    def shard(self) -> Shard:
        assert self.result.shard is not None  # read() refuses a report that is not a shard
        return self.result.shard

    @property
    def tests(self) -> frozenset[str]:
        ran = self.result.ran
        return ran.now if ran is not None else judge.tests_of(self.run)


def read(paths: Sequence[Path], output: Path) -> list[Part]:
    """The shards at paths, refused unless they are shards of one run, each given once,
    none of them the output (which would replace it)."""
    given: dict[Path, Path] = {output.resolve(): output}
    for path in paths:
        if (before := given.setdefault(path.resolve(), path)) is not path:
            what = "as a shard and as the output (-o), which would replace it"
            what = what if before is output else "twice"
            raise BadInput(f"{path}: given {what}: each shard is read once")
    parts = [_read(path) for path in paths]
    _refuse_mixed(parts)
    return parts


def check_baseline(parts: Sequence[Part], path: Path) -> None:
    """Refuse a baseline whose bytes are not those the shards would have been judged by."""
    theirs, here = parts[0].shard.baseline_sha256, baseline.digest(path)
    if theirs == here:
        return
    shards = f"{parts[0].path} and the others" if len(parts) > 1 else str(parts[0].path)
    if here is None:
        why = f"no baseline at {path}, but {shards} ran against one"
    elif theirs is None:
        why = f"{path}: {shards} ran without a baseline"
    else:
        why = f"{path}: not the baseline {shards} ran against (its bytes differ)"
    raise BadInput(f"{why}: give --baseline=PATH of the commit the shards ran on")


def _read(path: Path) -> Part:
    run, result = run_report(path, "a shard (the file --llmobs-shard writes)")
    if result.shard is not None:
        return Part(path, run, result)
    if run.metadata.get("shards"):
        why = "a run `llmobs combine` wrote, not a shard"
    elif result.capture is None and result.errors:
        why = f"not a shard: the run it reports stopped before any test: {result.errors[0]}"
    else:
        why = "not a shard but a run judged alone"
    raise BadInput(f"{path}: {why}: {RECORD}")


def _refuse_mixed(parts: Sequence[Part]) -> None:
    """Refuse shards that cannot be one run: of other commits or versions, shaped or
    judged by other settings, against other baselines, or running the same test."""
    first = parts[0]
    for part in parts[1:]:
        for what, theirs, mine in _recorded(first, part):
            if theirs != mine:
                fix = "record every shard with the same settings"
                fix = "record every shard on one commit" if what == "commit" else fix
                fix = "use one pytest-llmobs for every shard" if what == "pytest-llmobs" else fix
                raise BadInput(
                    f"{part.path}: {what} {_shown(mine)} here, {_shown(theirs)} in"
                    f" {first.path}: {fix}"
                )
    seen: dict[str, Path] = {}
    for part in parts:
        for test in sorted(part.tests):
            if test in seen:
                raise BadInput(
                    f"{part.path}: {test} ran in {seen[test]} too: each test must run in"
                    " one shard (a shard run twice, or a test two shards select)"
                )
            seen[test] = part.path


def _recorded(first: Part, part: Part) -> list[tuple[str, object, object]]:
    """What must be the same in two shards, in the order it is checked: (what, the
    first's, the other's)."""
    a, b = _shaping(first), _shaping(part)
    commits = [p.run.metadata.get("git_commit") for p in (first, part)]
    return [
        ("pytest-llmobs", first.run.metadata.get("plugin_version"),
         part.run.metadata.get("plugin_version")),
        ("commit", *(commits if None not in commits else (None, None))),
        *((f"setting {key}", a[key], b.get(key)) for key in a),
        ("baseline (sha256)", first.shard.baseline_sha256, part.shard.baseline_sha256),
    ]  # fmt: skip


def _shaping(part: Part) -> dict[str, Any]:
    """The settings that shape series or judge them, by name (marked tests aside: each
    shard collects its own when split by path)."""
    shape, shard = part.result.settings, part.shard
    capture = part.result.capture
    return {
        **(replace(shape, marked=()).to_json() if shape is not None else {}),
        "sample_rate": capture.sample_rate if capture is not None else None,
        "slowest": shard.slowest,
        "quality_threshold": shard.quality_threshold,
        "alpha": shard.alpha,
        "fail_on_inconclusive": shard.fail_on_inconclusive,
        "fail_on_alert": shard.fail_on_alert,
        "exit_code=0 (advisory)": shard.advisory,
    }


def _shown(value: object) -> str:
    """A recorded value as a user wrote it: lists bare, nothing as `none`."""
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
