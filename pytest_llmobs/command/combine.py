"""`llmobs combine`: shards of a suite split across machines (`--llmobs-shard`) merged
into one run report, as if the suite had run on one machine, and judged as one run."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from pytest_llmobs.analysis import analyze
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.analysis.merge import merge_findings
from pytest_llmobs.command import shards
from pytest_llmobs.command.inputs import BadInput, command_settings, nearest_pyproject
from pytest_llmobs.command.shards import Part
from pytest_llmobs.config import unmatched
from pytest_llmobs.config.settings import DEFAULT_BASELINE, Settings
from pytest_llmobs.config.shard_options import SET_ASIDE
from pytest_llmobs.gate import baseline, judge
from pytest_llmobs.gate.merge import merge_capture, merge_series, merge_tests
from pytest_llmobs.gate.rule_config import with_test_rules
from pytest_llmobs.gate.selection import SHOWN, RanTests
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.gate.stored import as_stored
from pytest_llmobs.report.result import RunResult


def combine(
    paths: Sequence[Path], output: Path, config: Path | None, to: Path | None, partial: bool
) -> tuple[RunResult, Path | None, bool]:
    """The shards at paths merged and judged as one run, as the shards were to be judged.

    Args:
        paths: the shards' run reports (--llmobs-shard --llmobs-json).
        output: where the combined run report goes (refused among the shards).
        config: the pyproject.toml whose rules judge the run; None: the one the shards
            read, when it is on this machine, else the nearest one.
        to: the baseline to judge against; None: the one the shards name.
        partial: judge the shards' tests alone when the baseline has tests no shard
            ran, which CI mode otherwise fails (a shard whose report is missing).

    Returns:
        The combined run, the pyproject.toml whose rules judged it (None: none), and
        whether it asks for every check in the summary (`verbose`).

    Raises:
        BadInput: a shard cannot be read, or the shards cannot be one run.
    """
    parts = shards.read(paths, output)
    path = to or _named_baseline(parts[0])
    if path.resolve() == output.resolve():
        raise BadInput(f"{output}: the baseline, given as the output (-o), which would replace it")
    shards.check_baseline(parts, path)
    config = config_of(parts[0], config)
    settings = _settings(parts, config)
    return _judged(parts, settings, path, partial), config, settings.verbose


def config_of(part: Part, config: Path | None) -> Path | None:
    """The pyproject.toml whose rules judge the combined run: the one the shards read,
    by its bytes: --config, else the same path here, else the nearest one; None when
    they read none (the default rules). Refused when none is that file: its rules and
    SLOs would be lost, or others applied, unseen."""
    recorded, digest = part.shard.config, part.shard.config_sha256
    if digest is None:
        if config is not None:
            raise BadInput(f"{part.path}: it read no pyproject.toml, so not {config} either")
        return None
    here = [Path(str(recorded)), nearest_pyproject(Path.cwd())]
    candidates = [config] if config is not None else here
    found = next((c for c in candidates if c and baseline.digest(c) == digest), None)
    if found is None:
        where = f"{config} is another file" if config is not None else "none here is it"
        raise BadInput(
            f"{part.path}: its rules came from {recorded} (sha256 {digest[:12]}), and"
            f" {where}: combine in a checkout of the shards' commit, or give"
            " --config=PATH of that file"
        )
    return found


def _settings(parts: Sequence[Part], config: Path | None) -> Settings:
    """The rules of the pyproject.toml (None: the nearest), judged as the shards were to
    be: with their alpha, fail_on_inconclusive, fail_on_alert and advisory mode, from
    wherever they set them; in CI mode when this machine is, or any shard was."""
    settings, shard = command_settings(config, nearest=False), parts[0].shard
    in_ci = next((p for p in parts if p.result.ci), None)
    if in_ci is not None and not settings.ci:  # a shard's --llmobs-ci, say: fail closed
        settings = replace(settings, ci=True, ci_source=f"{in_ci.path}: {in_ci.result.ci_source}")
    return replace(
        settings, rules=replace(settings.rules, alpha=shard.alpha),
        fail_on_inconclusive=shard.fail_on_inconclusive, fail_on_alert=shard.fail_on_alert,
        exit_code=0 if shard.advisory else 1,
    )  # fmt: skip


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
    kept = (w for p in parts for w in p.result.warnings if not w.endswith(SET_ASIDE))
    notes = [*dict.fromkeys(kept), *judged.notes]  # not what a shard set aside
    missing = _missing(judged, ran)  # fails closed in CI mode, unless asked for
    (errors if settings.ci and not partial else notes).extend(missing)
    notes += unmatched.rule_warnings(settings.named, (*series, *judged.stored))
    return RunResult(
        series, judged.state, comparison, tuple(notes), _metadata(parts), tuple(errors),
        tuple(evaluate_slos(series, rules)), settings.fail_on_inconclusive,
        merge_capture(captures) if captures else None, findings, settings.fail_on_alert,
        distributions(series, judged.stored), settings.ci, settings.ci_source, shape, ran,
        sum(p.result.tests_failed for p in parts), any(p.result.interrupted for p in parts),
        settings.exit_code == 0, marked_rules=marked,
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
        " is a shard missing, or did every shard deselect them? (--partial judges the"
        " shards' tests alone)"
    ]


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
