"""`llmobs baseline update`: a saved run report promoted to the baseline, refused as the
plugin's --llmobs-update-baseline refuses it unless forced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from pytest_llmobs.command.inputs import BadInput, command_settings, rules_from, saved_run
from pytest_llmobs.gate import baseline, judge, promotion
from pytest_llmobs.gate.coverage import Absence
from pytest_llmobs.gate.rule_config import with_test_rules
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.report.changes import changes
from pytest_llmobs.report.columns import printable


def promote_saved(report: Path, to: Path | None, config: Path | None, force: bool) -> None:
    """Write the run a saved run report holds as the baseline, and print what changed.

    Args:
        report: the run report (--llmobs-json).
        to: the baseline to write; None for the one the report names.
        config: the pyproject.toml whose rules judge what the run lost; None: the nearest.
        force: replace the baseline although the run is partial.

    Raises:
        BadInput: an input cannot be used, or the update is refused.
    """
    run, saved = saved_run(report)  # a run report of a run that captured
    target = to or _named_baseline(report, saved.baseline.path)
    try:
        replaced = baseline.load(target, schemas=(baseline.BASELINE_SCHEMA,))
    except (FileNotFoundError, baseline.BaselineError):
        replaced = None  # none yet, or unreadable: written anew
    ran = saved.ran or (RanTests(run.tests, frozenset()) if run.tests is not None else None)
    if ran is not None and replaced is not None:
        ran = replace(ran, before=judge.tests_of(replaced))
    old = promotion.kept_series(replaced, run.settings, ran) if replaced is not None else ()
    # as the plugin's --llmobs-update-baseline refuses it, unless forced; the report of
    # an interrupted run holds one error for the interruption itself
    incomplete = len(saved.errors) > saved.interrupted
    refused = promotion.refusal(incomplete, saved.interrupted, saved.tests_failed)
    state = promotion.promote(
        run.series, target, run.metadata, refused, run.settings, ran, old, force,
        remedy="give --force to replace it anyway",
        lost=_lost(config, replaced, run, ran, saved.marked_rules), saved=True,
    )  # fmt: skip
    if state.status == "not-updated":
        raise BadInput(f"{report}: {state.message}")
    if state.status == "error":
        raise BadInput(state.message)
    print(state.message)
    if replaced is not None and ran is not None:  # what it lost was judged by these rules
        print(rules_from(config))
    for line in changes(replaced.series if replaced is not None else (), run.series):
        print(printable(line))  # span names are app data: no control characters


def _lost(
    config: Path | None,
    replaced: baseline.SeriesFile | None,
    run: baseline.SeriesFile,
    ran: RanTests | None,
    marked: Mapping[str, Mapping[str, str]],
) -> tuple[Absence, ...]:
    """What of the baseline being replaced the gate judges this run lost, judged again
    against it with the rules `llmobs compare` applies: the update is refused for it."""
    if replaced is None or ran is None:
        return ()
    settings = command_settings(config)
    rules = with_test_rules(settings.rules, marked)  # the marked tests' own, as judged
    return judge.against(
        replaced, run.series, settings.quality_attributes, rules, run.settings, ran
    ).lost


def _named_baseline(run: Path, named: Path) -> Path:
    """The baseline a run report names, unless it cannot be the one meant here: none, or
    one whose folder is not on this machine (a report from CI, say). A relative path (in
    reports of older versions) is taken from the report's folder, not the current one."""
    if str(named) in ("", "."):
        raise BadInput(f"{run}: it names no baseline: give --baseline=PATH")
    named = run.parent / named  # an absolute one stays as it is
    if not (named.parent.is_dir() or named.parent.parent.is_dir()):
        where = f"the baseline {named}, whose folder is not on this machine"
        raise BadInput(f"{run}: it names {where}: give --baseline=PATH")
    return named
