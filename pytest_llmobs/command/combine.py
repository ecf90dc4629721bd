"""`llmobs combine`: shards of a suite split across machines (`--llmobs-shard`) merged
into one run report, as if the suite had run on one machine, and judged as one run."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_llmobs.analysis import analyze
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.analysis.merge import merge_findings
from pytest_llmobs.command.inputs import BadInput, command_settings, run_report
from pytest_llmobs.config import unmatched
from pytest_llmobs.config.settings import DEFAULT_BASELINE, Settings
from pytest_llmobs.gate import baseline, judge
from pytest_llmobs.gate.merge import merge_capture, merge_series, merge_tests
from pytest_llmobs.gate.model import SeriesStats
from pytest_llmobs.gate.rule_config import with_test_rules
from pytest_llmobs.gate.selection import SHOWN, RanTests
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.gate.stored import as_stored
from pytest_llmobs.report.result import RunResult, Shard
from pytest_llmobs.report.run import write_run_report


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


def combine(
    paths: Sequence[Path], config: Path | None, to: Path | None, partial: bool = False
) -> RunResult:
    """The shards at paths merged and judged as one run.

    Args:
        paths: the shards' run reports (--llmobs-shard --llmobs-json).
        config: the pyproject.toml whose rules judge the run; None: the nearest one.
        to: the baseline to judge against; None: the one the shards name.
        partial: judge the shards' tests alone when the baseline has tests no shard
            ran, which CI mode otherwise fails (a shard whose report is missing).

    Raises:
        BadInput: a shard cannot be read, or the shards cannot be one run.
    """
    parts = [read(path) for path in paths]
    refuse_mixed(parts)
    settings = command_settings(config)
    path = to or _named_baseline(parts[0])
    if baseline.digest(path) != parts[0].shard.baseline_sha256:
        shards = f"{parts[0].path} and the others" if len(parts) > 1 else str(parts[0].path)
        raise BadInput(
            f"{path}: not the baseline {shards} ran against (its bytes differ, or one of "
            "them is missing): give --baseline=PATH of the commit the shards ran on"
        )
    return _judged(parts, settings, path, partial)


def read(path: Path) -> Part:
    """A shard's run report, refused unless it is one."""
    run, result = run_report(path, "a shard (the file --llmobs-shard writes)")
    if result.shard is None:
        raise BadInput(
            f"{path}: not a shard (a run judged alone): record each shard with"
            " `pytest --llmobs --llmobs-shard --llmobs-json=SHARD.json`"
        )
    return Part(path, run, result)


def refuse_mixed(parts: Sequence[Part]) -> None:
    """Refuse shards that cannot be one run: recorded by different versions, shaped by
    different settings, against different baselines, or running the same test."""
    first = parts[0]
    given: dict[Path, Path] = {}
    for part in parts:
        if (twice := given.setdefault(part.path.resolve(), part.path)) is not part.path:
            also = f" (as {twice} too)" if str(twice) != str(part.path) else ""
            raise BadInput(f"{part.path}: given twice{also}: each shard is combined once")
    for part in parts[1:]:
        for what, mine, theirs in _recorded(first, part):
            if mine != theirs:
                raise BadInput(
                    f"{part.path}: {what} differs from {first.path}'s ({theirs} here,"
                    f" {mine} there): the shards must come from one run of one commit"
                )
    seen: dict[str, Path] = {}
    for part in parts:
        for test in sorted(part.tests):
            if test in seen:
                raise BadInput(
                    f"{part.path}: {test} ran in {seen[test]} too: a shard given twice, or"
                    " a test selected by two shards; each test must run in one shard"
                )
            seen[test] = part.path


def _recorded(first: Part, part: Part) -> list[tuple[str, object, object]]:
    """What must be the same in two shards: (what, the first's, the other's)."""

    def shaped(p: Part) -> object:  # marked tests: those each shard collected (paths)
        shape = p.result.settings
        return replace(shape, marked=()).to_json() if shape is not None else None

    def sampled(p: Part) -> object:
        return p.result.capture.sample_rate if p.result.capture is not None else None

    return [
        (
            "its pytest-llmobs version",
            first.run.metadata.get("plugin_version"),
            part.run.metadata.get("plugin_version"),
        ),
        ("the settings that shape its series", shaped(first), shaped(part)),
        ("its sample rate", sampled(first), sampled(part)),
        ("the baseline it ran against (sha256)", first.shard.baseline_sha256,
         part.shard.baseline_sha256),
        ("its slowest / quality_threshold", (first.shard.slowest, first.shard.quality_threshold),
         (part.shard.slowest, part.shard.quality_threshold)),
    ]  # fmt: skip


def _judged(parts: Sequence[Part], settings: Settings, path: Path, partial: bool) -> RunResult:
    """The shards merged, then judged against the baseline at path as one run is."""
    shard = parts[0].shard
    raw = merge_series([p.run.series for p in parts])
    series = as_stored(raw)  # as a whole run judges its series
    shape, marked = _marked(parts)
    ran = merge_tests([p.result.ran or _ran(p) for p in parts])
    rules = with_test_rules(settings.rules, marked)
    judged = judge.judge(series, path, settings.quality_attributes, rules, shape, ran, settings.ci)
    comparison = judged.comparison
    findings = merge_findings([p.result.findings for p in parts], raw, shard.slowest)
    findings = analyze.with_comparison(findings, comparison, series, judged.stored, rules)
    captures = [p.result.capture for p in parts if p.result.capture is not None]
    errors = [f"{p.path}: {e}" for p in parts for e in p.result.errors]
    notes = [*dict.fromkeys(w for p in parts for w in p.result.warnings), *judged.notes]
    missing = _missing(judged, ran)  # fails closed in CI mode, unless asked for
    (errors if settings.ci and not partial else notes).extend(missing)
    notes += _typos(settings, series, judged.stored)
    return RunResult(
        series, judged.state, comparison, tuple(notes), _metadata(parts), tuple(errors),
        tuple(evaluate_slos(series, rules)), settings.fail_on_inconclusive,
        merge_capture(captures) if captures else None, findings, settings.fail_on_alert,
        distributions(series, judged.stored), settings.ci, settings.ci_source, shape, ran,
        sum(p.result.tests_failed for p in parts), any(p.result.interrupted for p in parts),
        marked_rules=marked,
    )  # fmt: skip


def _marked(parts: Sequence[Part]) -> tuple[Shape | None, dict[str, Mapping[str, str]]]:
    """The shape of the run (the marked tests of every shard) and its marked tests' rules,
    refused when two shards mark one test function differently."""
    rules: dict[str, Mapping[str, str]] = {}
    for part in parts:
        for test, specs in part.result.marked_rules.items():
            if rules.setdefault(test, specs) != specs:
                raise BadInput(
                    f"{part.path}: {test} is marked with other rules than in another shard"
                )
    shape = parts[0].result.settings
    marked = tuple(
        sorted({m for p in parts if p.result.settings for m in p.result.settings.marked})
    )
    return (replace(shape, marked=marked) if shape is not None else None), rules


def _ran(part: Part) -> RanTests:
    return RanTests(part.tests, frozenset())


def _missing(judged: judge.Judged, ran: RanTests) -> list[str]:
    """A warning when the baseline has tests no shard ran: a shard left out, most likely
    (its tests, deselected by the others, would pass unjudged)."""
    if judged.ran is None:
        return []
    missed = judged.ran.before - ran.now - ran.skipped - ran.collected  # selected somewhere
    if not missed:
        return []
    shown = ", ".join(sorted(missed)[:SHOWN]) + (", ..." if len(missed) > SHOWN else "")
    return [
        f"the shards ran {len(judged.ran.before & ran.now)} of the baseline's"
        f" {len(judged.ran.before)} tests; {len(missed)} ran in no shard ({shown}):"
        " is a shard missing? (--partial judges the shards' tests alone)"
    ]


def _typos(
    settings: Settings, series: Sequence[SeriesStats], stored: Sequence[SeriesStats]
) -> list[str]:
    """The rules' metrics and series globs the run did not measure, as `llmobs compare`
    says them."""
    named = [n for n in settings.named if n.kind != "attribute"]
    return unmatched.warnings(named, unmatched.measured((*series, *stored), ()))


def _metadata(parts: Sequence[Part]) -> dict[str, object]:
    """The first shard's metadata (version, suite, commit, branch), a run id of its own,
    the time the last shard was recorded, and the shards' run ids."""
    found = [p.run.metadata for p in parts]
    created = [str(m["created_at"]) for m in found if m.get("created_at")]
    return {
        **found[0],
        "run_id": uuid.uuid4().hex,
        "created_at": max(created, default=_now()),
        "git_commit": _same(m.get("git_commit") for m in found),
        "git_branch": _same(m.get("git_branch") for m in found),
        "shards": [{"file": str(p.path), "run_id": p.run.metadata.get("run_id")} for p in parts],
    }


def _same(values: Iterable[object]) -> object:
    """The one value all have; None when they differ."""
    found = set(values)
    return found.pop() if len(found) == 1 else None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _named_baseline(part: Part) -> Path:
    """The baseline the shards name when its folder is on this machine, else the default
    one in the current folder."""
    named = part.result.baseline.path
    if str(named) not in ("", ".") and named.parent.is_dir():
        return named
    return DEFAULT_BASELINE


def write(path: Path, result: RunResult) -> None:
    """The combined run report, naming its baseline by an absolute path."""
    try:
        write_run_report(path, replace(result, baseline=replace(
            result.baseline, path=result.baseline.path.resolve())))  # fmt: skip
    except OSError as exc:
        raise BadInput(f"{path}: cannot write it: {exc}") from None
