"""The `llmobs` command line, on the pure core (no pytest): judge saved runs, render, promote."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from pytest_llmobs import __version__
from pytest_llmobs.analysis import analyze
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.command import combine, live
from pytest_llmobs.command.inputs import (
    BadInput,
    command_settings,
    history_runs,
    load_series,
    rules_from,
    saved_run,
)
from pytest_llmobs.command.pipe import QuietWhenClosed
from pytest_llmobs.command.promote import promote_saved
from pytest_llmobs.config import unmatched
from pytest_llmobs.config.settings import DEFAULT_BASELINE
from pytest_llmobs.config.unmatched import closest
from pytest_llmobs.gate import judge
from pytest_llmobs.gate.rule_config import with_test_rules
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.report import listing, terminal, text
from pytest_llmobs.report.html import write_html
from pytest_llmobs.report.junit import write_junit_xml
from pytest_llmobs.report.markdown import write_markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import write_run_report

EXIT_PASS, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 pass, 1 regression, 2 bad usage or input)."""
    args, unknown = _parser().parse_known_args(argv)
    if unknown:  # the command's own usage, not the top level's: `baseline update --forse`
        args.usage.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        with contextlib.redirect_stdout(QuietWhenClosed(sys.stdout)):
            status: int = args.handler(args)
    except BadInput as exc:
        print(f"llmobs: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmobs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pytest-llmobs {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    cmp = commands.add_parser("compare", help="Judge a saved run report against a baseline")
    cmp.add_argument("run", type=Path, metavar="RUN.json", help="Run report (--llmobs-json)")
    cmp.add_argument("baseline", type=Path, metavar="BASELINE.json", help="Baseline file")
    _outputs(cmp, json=True)
    _config(cmp)
    _verbose(cmp)
    cmp.set_defaults(handler=_compare, usage=cmp)
    report = commands.add_parser("report", help="Render reports from a saved run report")
    report.add_argument("run", type=Path, metavar="RUN.json", help="Run report (--llmobs-json)")
    _outputs(report, json=False)
    _verbose(report)
    report.set_defaults(handler=_report, usage=report)
    base = commands.add_parser("baseline", help="Manage the baseline file")
    base_commands = base.add_subparsers(title="commands", required=True, metavar="COMMAND")
    update = base_commands.add_parser("update", help="Promote a saved run to the baseline")
    update.add_argument("run", type=Path, metavar="RUN.json", help="Run report (--llmobs-json)")
    update.add_argument(
        "--baseline", type=Path, metavar="PATH", help="Baseline file (default: the run report's)"
    )
    update.add_argument(
        "--force",
        action="store_true",
        help="Replace the baseline although the run is partial (failed or deselected tests,"
        " test cases the report does not have, series or metrics it did not measure or"
        " lost), saying what that overrides",
    )
    _config(update)
    update.set_defaults(handler=_update, usage=update)
    show = base_commands.add_parser("show", help="Summarise a baseline file")
    show.add_argument("path", type=Path, nargs="?", default=DEFAULT_BASELINE, metavar="PATH")
    show.set_defaults(handler=_show, usage=show)
    trend = commands.add_parser("history", help="Show the runs a history file holds")
    trend.add_argument("path", type=Path, metavar="PATH", help="History file (--llmobs-history)")
    trend.add_argument("--last", type=_positive, default=20, metavar="N", help="Runs shown")
    trend.add_argument("--series", metavar="NAME", help="Only series whose key contains NAME")
    trend.set_defaults(handler=_history, usage=trend)
    _combine_parser(commands)
    live.add_commands(commands, _config)
    return parser


def _combine_parser(commands: Any) -> None:
    merge = commands.add_parser(
        "combine", help="Merge the run reports of shards (--llmobs-shard) into one, and judge it"
    )
    merge.add_argument(
        "shards", type=Path, nargs="+", metavar="SHARD.json", help="Shard run reports"
    )
    merge.add_argument(
        "-o", "--output", type=Path, required=True, metavar="RUN.json",
        help="Write the combined run report here",
    )  # fmt: skip
    merge.add_argument(
        "--baseline", type=Path, metavar="PATH",
        help="Baseline to judge against (default: the one the shards name)",
    )  # fmt: skip
    merge.add_argument(
        "--partial", action="store_true",
        help="Judge the shards' tests alone when the baseline has tests no shard ran"
        " (CI mode fails on those: a shard's report missing, most likely)",
    )  # fmt: skip
    _config(merge)
    _verbose(merge)
    merge.set_defaults(handler=_combine, usage=merge)


def _positive(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {value!r}")
    return int(value)


def _config(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--config",
        type=Path,
        metavar="PYPROJECT",
        help="pyproject.toml whose [tool.llmobs] rules apply (default: the nearest one)",
    )


def _verbose(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="List every check (default: what needs attention, and one line for the rest)",
    )


def _outputs(command: argparse.ArgumentParser, json: bool) -> None:
    command.add_argument("--junitxml", type=Path, metavar="PATH", help="Write JUnit XML here")
    command.add_argument("--markdown", type=Path, metavar="PATH", help="Write Markdown here")
    command.add_argument("--html", type=Path, metavar="PATH", help="Write the dashboard here")
    command.add_argument(
        "--history", type=Path, metavar="PATH", help="History file whose runs the dashboard shows"
    )
    if json:
        command.add_argument("--json", type=Path, metavar="PATH", help="Write the run report")


def _compare(args: argparse.Namespace) -> int:
    settings = command_settings(args.config)
    (run, saved), stored = saved_run(args.run), load_series(args.baseline)
    if stored.shard:  # every sample of part of the suite: no baseline
        raise BadInput(f"{args.baseline}: a shard, not a baseline: promote a combined run")
    rules = with_test_rules(settings.rules, saved.marked_rules)  # as the plugin judged it
    judged = judge.against(
        stored, run.series, settings.quality_attributes, rules, run.settings,
        saved.ran or RanTests(judge.tests_of(run), frozenset()),  # older reports: spans' tests
    )  # fmt: skip
    comparison = judged.comparison
    slos = tuple(evaluate_slos(run.series, rules))
    # the requests a run report listed, judged again against this baseline
    findings = analyze.with_comparison(saved.findings, comparison, run.series, stored.series, rules)
    typos = unmatched.rule_warnings(settings.named, (*run.series, *stored.series))
    result = RunResult(
        run.series, judged.state, comparison, (*judged.notes, *typos), metadata=run.metadata,
        errors=saved.errors, slos=slos,  # a run that failed closed stays failed
        fail_on_inconclusive=settings.fail_on_inconclusive, findings=findings,
        fail_on_alert=settings.fail_on_alert,
        distributions=distributions(run.series, judged.stored),
        ci=settings.ci, ci_source=settings.ci_source, settings=run.settings, ran=saved.ran,
        capture=saved.capture, tests_failed=saved.tests_failed, interrupted=saved.interrupted,
        marked_rules=saved.marked_rules,
    )  # fmt: skip
    _print(result, args.verbose or settings.verbose)
    print(rules_from(args.config))
    _write(args, result)
    return EXIT_PASS if result.verdict == "pass" else EXIT_REGRESSION


def _combine(args: argparse.Namespace) -> int:
    result, config, verbose = combine.combine(
        args.shards, args.output, args.config, args.baseline, args.partial
    )
    _written(args.output, _write_run_report, result)
    _print(result, args.verbose or verbose)
    print(rules_from(config) if config else "rules: the defaults (the shards read no pyproject)")
    tests = len(result.ran.now) if result.ran is not None else 0
    shards = f"{len(args.shards)} shard{'s' if len(args.shards) > 1 else ''}"
    print(f"combined {shards} ({tests} tests) into {args.output}")
    if result.tests_failed:  # the shards' jobs fail on them; the gate judges their spans
        print(f"{result.tests_failed} test(s) failed in the shards: their jobs fail on them")
    return EXIT_PASS if result.verdict == "pass" or result.advisory else EXIT_REGRESSION


def _report(args: argparse.Namespace) -> int:
    _, result = saved_run(args.run)
    _print(result, args.verbose)
    _write(args, result)
    # as the run exited: an advisory run's verdict did not fail it
    return EXIT_PASS if result.verdict == "pass" or result.advisory else EXIT_REGRESSION


def _print(result: RunResult, verbose: bool) -> None:
    """The headline and the summary, within the terminal's width (COLUMNS when set)."""
    print(text.title(result))
    width = shutil.get_terminal_size().columns
    print("\n".join(terminal.summary_lines(result, width, verbose)))


def _write(args: argparse.Namespace, result: RunResult) -> None:
    runs = history_runs(args.history) if args.history is not None else []
    writers: list[tuple[Path | None, Callable[[Path, RunResult], None]]] = [
        (getattr(args, "json", None), _write_run_report),
        (args.junitxml, write_junit_xml),
        (args.markdown, write_markdown),
        (args.html, partial(write_html, history=runs)),
    ]
    for path, write in writers:
        if path is not None:
            _written(path, write, result)


def _written(path: Path, write: Callable[[Path, RunResult], None], result: RunResult) -> None:
    """Write one output; one that cannot be written is bad input, naming it."""
    try:
        write(path, result)
    except OSError as exc:
        raise BadInput(f"{path}: cannot write it: {exc}") from None


def _write_run_report(path: Path, result: RunResult) -> None:
    """The run report, naming its baseline by an absolute path: `llmobs baseline update`
    writes there, from whatever folder it runs in."""
    state = replace(result.baseline, path=result.baseline.path.resolve())
    write_run_report(path, replace(result, baseline=state))


def _update(args: argparse.Namespace) -> int:
    promote_saved(args.run, args.baseline, args.config, args.force)
    return EXIT_PASS


def _show(args: argparse.Namespace) -> int:
    for line in listing.baseline_lines(load_series(args.path)):
        print(line)
    return EXIT_PASS


def _history(args: argparse.Namespace) -> int:
    runs = history_runs(args.path, args.last)
    print(f"{args.path}: {len(runs)} run(s) shown, oldest first")
    labels = listing.series_labels(runs)
    if args.series:
        matching = [label for label in labels if args.series in label]
        if labels and not matching:
            print(f"  no series key contains {args.series!r}{closest(args.series, labels)}")
        labels = matching
    for line in listing.history_lines(runs, labels):
        print(line)
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
