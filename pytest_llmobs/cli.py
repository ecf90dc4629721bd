"""The `llmobs` command line, on the pure core (no pytest): judge saved runs, render, promote."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from pytest_llmobs import __version__
from pytest_llmobs.analysis import analyze as analysis
from pytest_llmobs.analysis.distributions import distributions
from pytest_llmobs.gate import baseline, promotion, units
from pytest_llmobs.gate import judge as gate
from pytest_llmobs.gate.coverage import Absence
from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.gate.semconv import metric_of
from pytest_llmobs.gate.slos import evaluate_slos
from pytest_llmobs.report import history, terminal, text
from pytest_llmobs.report.changes import changes
from pytest_llmobs.report.html import write_html
from pytest_llmobs.report.junit import write_junit_xml
from pytest_llmobs.report.markdown import write_markdown
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_json, write_run_report
from pytest_llmobs.settings import (
    DEFAULT_BASELINE,
    PYPROJECT_TABLE,
    ConfigError,
    Settings,
    ci_environment,
    load_pyproject,
    resolve,
)
from pytest_llmobs.unmatched import closest

EXIT_PASS, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


class _BadInput(Exception):
    """An input file cannot be used; the message names it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 pass, 1 regression, 2 bad usage or input)."""
    args, unknown = _parser().parse_known_args(argv)
    if unknown:  # the command's own usage, not the top level's: `baseline update --forse`
        args.usage.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        status: int = args.handler(args)
    except _BadInput as exc:
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
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
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


def _load(path: Path) -> baseline.SeriesFile:
    try:
        return baseline.load(path)
    except FileNotFoundError:
        raise _BadInput(f"{path}: no such file") from None
    except baseline.BaselineError as exc:
        raise _BadInput(str(exc)) from None


def _settings(config: Path | None) -> Settings:
    """The `[tool.llmobs]` settings, CI mode as the plugin decides it (the table's `ci`,
    else the environment variable CI)."""
    path = _pyproject(config)
    if config is not None and not config.is_file():
        raise _BadInput(f"{config}: no such file")
    sources = [load_pyproject(path)] if path is not None else []
    try:
        sources.append(ci_environment(os.environ, Path.cwd()))
        return resolve(sources, path.parent if path is not None else Path.cwd())
    except ConfigError as exc:
        raise _BadInput(str(exc)) from None


def _pyproject(config: Path | None) -> Path | None:
    """The pyproject.toml whose settings apply: --config, else the nearest one."""
    return config or _nearest_pyproject(Path.cwd())


def _rules_from(config: Path | None) -> str:
    """Which file the rules came from, so a job's log shows which were applied."""
    path = _pyproject(config)
    if path is None:
        return f"rules: the defaults (no pyproject.toml in {Path.cwd()} or above)"
    if not load_pyproject(path).values:  # read once already: it parses
        return f"rules: the defaults ({path.resolve()} has no {PYPROJECT_TABLE} table)"
    return f"rules: {PYPROJECT_TABLE} in {path.resolve()}"


def _nearest_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def _compare(args: argparse.Namespace) -> int:
    settings = _settings(args.config)
    (run, saved), stored = _saved_run(args.run), _load(args.baseline)
    judged = gate.against(
        stored, run.series, settings.quality_attributes, settings.rules, run.settings,
        saved.ran or RanTests(gate.tests_of(run), frozenset()),  # older reports: spans' tests
    )  # fmt: skip
    comparison = judged.comparison
    slos = tuple(evaluate_slos(run.series, settings.rules))
    # the requests a run report listed, judged again against this baseline
    findings = analysis.with_comparison(
        saved.findings, comparison, run.series, stored.series, settings.rules
    )
    result = RunResult(
        run.series, judged.state, comparison, judged.notes, metadata=run.metadata,
        errors=saved.errors, slos=slos,  # a run that failed closed stays failed
        fail_on_inconclusive=settings.fail_on_inconclusive, findings=findings,
        fail_on_alert=settings.fail_on_alert,
        distributions=distributions(run.series, judged.stored),
        ci=settings.ci, ci_source=settings.ci_source, settings=run.settings, ran=saved.ran,
        capture=saved.capture, tests_failed=saved.tests_failed, interrupted=saved.interrupted,
    )  # fmt: skip
    _print(result, args.verbose or settings.verbose)
    print(_rules_from(args.config))
    _write(args, result)
    return EXIT_PASS if result.verdict == "pass" else EXIT_REGRESSION


def _saved_run(path: Path) -> tuple[baseline.SeriesFile, RunResult]:
    """A run report, as a file of series and as it was judged; refused when it is a
    baseline, or reports a run that never captured (stopped by its configuration)."""
    run = _load(path)
    if run.schema == baseline.BASELINE_SCHEMA:
        raise _BadInput(f"{path}: a baseline, not a run report (the file --llmobs-json writes)")
    try:
        result = result_from_json(path)
    except FileNotFoundError:
        raise _BadInput(f"{path}: no such file") from None
    except baseline.BaselineError as exc:
        raise _BadInput(str(exc)) from None
    if result.capture is None and result.errors:  # written for a run its settings stopped
        why = "; ".join(result.errors)
        raise _BadInput(f"{path}: the run it reports stopped before any test: {why}")
    return run, result


def _report(args: argparse.Namespace) -> int:
    _, result = _saved_run(args.run)
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
    runs = _runs(args.history) if args.history is not None else []
    writers: list[tuple[Path | None, Callable[[Path, RunResult], None]]] = [
        (getattr(args, "json", None), _write_run_report),
        (args.junitxml, write_junit_xml),
        (args.markdown, write_markdown),
        (args.html, partial(write_html, history=runs)),
    ]
    for path, write in writers:
        if path is None:
            continue
        try:
            write(path, result)
        except OSError as exc:
            raise _BadInput(f"{path}: cannot write it: {exc}") from None


def _write_run_report(path: Path, result: RunResult) -> None:
    """The run report, naming its baseline by an absolute path: `llmobs baseline update`
    writes there, from whatever folder it runs in."""
    state = replace(result.baseline, path=result.baseline.path.resolve())
    write_run_report(path, replace(result, baseline=state))


def _update(args: argparse.Namespace) -> int:
    run, saved = _saved_run(args.run)  # a run report of a run that captured
    target = args.baseline or _named_baseline(args.run, saved.baseline.path)
    try:
        replaced = baseline.load(target, schemas=(baseline.BASELINE_SCHEMA,))
    except (FileNotFoundError, baseline.BaselineError):
        replaced = None  # none yet, or unreadable: written anew
    ran = saved.ran or (RanTests(run.tests, frozenset()) if run.tests is not None else None)
    if ran is not None and replaced is not None:
        ran = replace(ran, before=gate.tests_of(replaced))
    old = promotion.kept_series(replaced, run.settings, ran) if replaced is not None else ()
    # as the plugin's --llmobs-update-baseline refuses it, unless forced; the report of
    # an interrupted run holds one error for the interruption itself
    incomplete = len(saved.errors) > saved.interrupted
    refused = gate.refusal(incomplete, saved.interrupted, saved.tests_failed)
    state = gate.promote(
        run.series, target, run.metadata, refused, run.settings, ran, old, args.force,
        remedy="give --force to replace it anyway", lost=_lost(args.config, replaced, run, ran),
        saved=True,
    )  # fmt: skip
    if state.status == "not-updated":
        raise _BadInput(f"{args.run}: {state.message}")
    if state.status == "error":
        raise _BadInput(state.message)
    print(state.message)
    if replaced is not None and ran is not None:  # what it lost was judged by these rules
        print(_rules_from(args.config))
    for line in changes(replaced.series if replaced is not None else (), run.series):
        print(line)
    return EXIT_PASS


def _lost(
    config: Path | None,
    replaced: baseline.SeriesFile | None,
    run: baseline.SeriesFile,
    ran: RanTests | None,
) -> tuple[Absence, ...]:
    """What of the baseline being replaced the gate judges this run lost, judged again
    against it with the rules `llmobs compare` applies: the update is refused for it."""
    if replaced is None or ran is None:
        return ()
    settings = _settings(config)
    return gate.against(
        replaced, run.series, settings.quality_attributes, settings.rules, run.settings, ran
    ).lost


def _named_baseline(run: Path, named: Path) -> Path:
    """The baseline a run report names, unless it cannot be the one meant here: none, or
    one whose folder is not on this machine (a report from CI, say). A relative path (in
    reports of older versions) is taken from the report's folder, not the current one."""
    if str(named) in ("", "."):
        raise _BadInput(f"{run}: it names no baseline: give --baseline=PATH")
    named = run.parent / named  # an absolute one stays as it is
    if not (named.parent.is_dir() or named.parent.parent.is_dir()):
        where = f"the baseline {named}, whose folder is not on this machine"
        raise _BadInput(f"{run}: it names {where}: give --baseline=PATH")
    return named


def _show(args: argparse.Namespace) -> int:
    stored = _load(args.path)
    meta = stored.metadata
    kind = "" if stored.schema == baseline.BASELINE_SCHEMA else " (a run report, not a baseline)"
    print(f"{stored.path}: {len(stored.series)} series{kind}")
    print(f"  recorded {meta.get('created_at', '?')} from commit {meta.get('git_commit') or '?'}")
    print(f"  {'series':30} {'spans':>7} {'errors':>7} {'p50':>10} {'p95':>10} {'p99':>10}")
    for s in stored.series:
        values = [units.value("latency", v) for v in (s.latency.p50, s.latency.p95, s.latency.p99)]
        label = terminal.fit(s.key.label, 30)
        print(f"  {label:30} {s.count:>7} {s.errors:>7} " + " ".join(f"{v:>10}" for v in values))
        for attr in _in_order(s.quality):
            metric, q = metric_of(attr), s.quality[attr]
            print(f"  {'':30} {metric} mean {units.value(metric, q.mean)} over {q.count}")
    return EXIT_PASS


def _runs(path: Path, last: int = 100) -> list[history.Run]:
    try:
        return history.load(path, last)
    except FileNotFoundError:
        raise _BadInput(f"{path}: no such file") from None
    except history.HistoryError as exc:
        raise _BadInput(str(exc)) from None


def _history(args: argparse.Namespace) -> int:
    runs = _runs(args.path, args.last)
    print(f"{args.path}: {len(runs)} run(s) shown, oldest first")
    labels = sorted({label for run in runs for label in run.series})
    if args.series:
        matching = [label for label in labels if args.series in label]
        if labels and not matching:
            print(f"  no series key contains {args.series!r}{closest(args.series, labels)}")
        labels = matching
    for run in runs:
        commit = (run.git_commit or "-")[:12]
        print(f"  {run.created_at or '?':25} {commit:12} {run.verdict}")
        for label in labels:
            point = run.series.get(label)
            if point is None:
                continue
            quality = "  ".join(_mean(a, point.quality[a]) for a in _in_order(point.quality))
            p50, p95 = (units.value("latency", v) for v in (point.p50, point.p95))
            print(
                f"    {terminal.fit(label, 40):40} {point.count:>6} spans  p50 {p50:>9}  "
                f"p95 {p95:>9}  errors {point.error_rate:.1%}  {quality}".rstrip()
            )
    return EXIT_PASS


def _in_order(attributes: Iterable[str]) -> list[str]:
    """Quality scores, then token counts, then cost, each by name."""
    kinds = ("quality", "tokens", "cost")
    return sorted(attributes, key=lambda a: (kinds.index(metric_of(a).split(".")[0]), a))


def _mean(attribute: str, mean: float) -> str:
    """`overall_score 0.750`, `tokens.input 412.5 tok`, `cost $0.0000022`: a quality score
    by its attribute, tokens and cost by their metric, each in its own unit."""
    metric = metric_of(attribute)
    label = attribute if metric.startswith("quality.") else metric
    return f"{label} {units.value(metric, mean)}"


if __name__ == "__main__":
    sys.exit(main())
