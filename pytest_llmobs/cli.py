"""The `llmobs` command line, on the pure core (no pytest): judge saved runs, promote them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_llmobs import __version__, baseline, gate
from pytest_llmobs.compare import compare
from pytest_llmobs.report import terminal, text
from pytest_llmobs.report.run import write_run_report
from pytest_llmobs.settings import DEFAULT_BASELINE

EXIT_PASS, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


class _BadInput(Exception):
    """An input file cannot be used; the message names it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 pass, 1 regression, 2 bad usage or input)."""
    args = _parser().parse_args(argv)
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
    cmp.add_argument("--json", type=Path, metavar="PATH", help="Write the new run report here")
    cmp.set_defaults(handler=_compare)
    base = commands.add_parser("baseline", help="Manage the baseline file")
    base_commands = base.add_subparsers(title="commands", required=True, metavar="COMMAND")
    update = base_commands.add_parser("update", help="Promote a saved run to the baseline")
    update.add_argument("run", type=Path, metavar="RUN.json", help="Run report (--llmobs-json)")
    update.add_argument(
        "--baseline", type=Path, default=DEFAULT_BASELINE, metavar="PATH", help="Baseline file"
    )
    update.set_defaults(handler=_update)
    return parser


def _load(path: Path) -> baseline.SeriesFile:
    try:
        return baseline.load(path)
    except FileNotFoundError:
        raise _BadInput(f"{path}: no such file") from None
    except baseline.BaselineError as exc:
        raise _BadInput(str(exc)) from None


def _compare(args: argparse.Namespace) -> int:
    run, stored = _load(args.run), _load(args.baseline)
    state = gate.BaselineState(stored.path, "loaded", f"compared with {stored.path}")
    comparison = compare(run.series, stored.series)
    result = gate.RunResult(run.series, state, comparison, metadata=run.metadata)
    print(text.title(result))
    print("\n".join(terminal.summary_lines(result)))
    if args.json is not None:
        try:
            write_run_report(args.json, result)
        except OSError as exc:
            raise _BadInput(f"{args.json}: cannot write the run report: {exc}") from None
    return EXIT_REGRESSION if result.verdict == "regression" else EXIT_PASS


def _update(args: argparse.Namespace) -> int:
    run = _load(args.run)
    state = gate.promote(run.series, args.baseline, run.metadata)
    if state.status == "not-updated":
        raise _BadInput(f"{args.run}: {state.message}")
    if state.status == "error":
        raise _BadInput(state.message)
    print(state.message)
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
