"""The `llmobs` commands for the team's live stack: `export` (a saved run to a
Pushgateway, a textfile or an OTLP endpoint), `grafana` (a dashboard) and
`prometheus-rules` (alerting rules), both from the SLOs of `[tool.llmobs.slo]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_llmobs.command.inputs import BadInput, command_settings, rules_from, saved_run
from pytest_llmobs.config.settings import Settings
from pytest_llmobs.config.unmatched import closest
from pytest_llmobs.export import stack
from pytest_llmobs.gate.redact import Redactor
from pytest_llmobs.report.result import RunResult

EXIT_SENT, EXIT_NOT_SENT = 0, 1


def add_commands(commands: Any, config: Any) -> None:
    """The three commands' parsers, on the `llmobs` command's subparsers.

    Args:
        commands: the subparsers action of the top-level parser.
        config: adds the `--config PYPROJECT` option to a parser.
    """
    export = commands.add_parser(
        "export", help="Send a saved run to a Pushgateway, a textfile or an OTLP endpoint"
    )
    export.add_argument("run", type=Path, metavar="RUN.json", help="Run report (--llmobs-json)")
    export.add_argument("--pushgateway", metavar="URL", help="Push the run's metrics here")
    export.add_argument(
        "--pushgateway-job", default="llmobs", metavar="NAME", help="Job (default: llmobs)"
    )
    export.add_argument("--prometheus", type=Path, metavar="PATH", help="Write the metrics here")
    export.add_argument(
        "--otlp", metavar="URL", help="Send the spans of the requests the report lists here"
    )
    export.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS",
        help="Seconds each service may take at most (default: 10)",
    )  # fmt: skip
    config(export)
    export.set_defaults(handler=_export, usage=export)
    for name, what, out in (
        ("grafana", "Write a Grafana dashboard over the pushed metrics", "dashboard.json"),
        ("prometheus-rules", "Write Prometheus alerting rules for the SLOs", "rules.yml"),
    ):
        command = commands.add_parser(name, help=f"{what}, from [tool.llmobs.slo]")
        command.add_argument(
            "-o", "--output", type=Path, metavar=out.upper().replace(".", "_"),
            help=f"Write it to this file (default: print it), such as {out}",
        )  # fmt: skip
        config(command)
        command.set_defaults(handler=_dashboard if name == "grafana" else _rules, usage=command)


def _export(args: argparse.Namespace) -> int:
    targets = stack.Targets(
        otlp=_url(args.otlp, "--otlp"),
        pushgateway=_url(args.pushgateway, "--pushgateway"),
        job=args.pushgateway_job,
        prometheus=args.prometheus,
        timeout=args.timeout,
    )
    if not targets.wanted:
        args.usage.error("say where: --pushgateway URL, --prometheus PATH or --otlp URL")
    if not 0 < args.timeout <= 3600:
        args.usage.error(
            f"--timeout: expected seconds above 0 and up to 3600, got {args.timeout:g}"
        )
    lacking = stack.missing(targets)
    if lacking:
        raise BadInput(lacking.replace("--llmobs-export-otlp", "--otlp").replace("--llmobs-", "--"))
    _, result = saved_run(args.run)
    if result.interrupted:  # the plugin does not send such a run either
        raise BadInput(f"{args.run}: the run was interrupted: not exported (its numbers"
                       " would stand in your dashboards as a whole run's)")  # fmt: skip
    settings = command_settings(args.config)
    spans = _report_spans(args.run, settings.redact, result) if targets.otlp else None
    sent = stack.send(targets, result, None if spans is None else lambda _resource: spans)
    for line in sent.done:
        print(f"llmobs: {line}")
    for line in sent.failed:
        print(f"llmobs: not sent: {line}", file=sys.stderr)
    return EXIT_NOT_SENT if sent.failed else EXIT_SENT


def _url(value: str | None, flag: str) -> str | None:
    """A URL option's value, checked as the plugin checks it."""
    if value is None:
        return None
    from pytest_llmobs.config.option_values import BadValue, convert
    from pytest_llmobs.config.options import OPTIONS

    option = next(o for o in OPTIONS if o.name == "export_otlp")
    try:
        url: str = convert(option, value, Path.cwd())
    except BadValue as exc:
        raise BadInput(f"{flag}={value}: {exc}") from None
    return url


def _report_spans(path: Path, redactor: Redactor, result: RunResult) -> Sequence[Any]:
    """The spans of the requests a run report lists (it keeps no others), made before
    anything is sent, so a report that cannot give them sends nothing."""
    from pytest_llmobs.export.otlp_report import requests_for_export

    document = json.loads(path.read_text(encoding="utf-8"))  # saved_run read it: it parses
    try:
        spans, skipped = requests_for_export(document, redactor, stack.resource(result, None))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadInput(f"{path}: its requests cannot be sent as spans: {exc}") from None
    if skipped:
        print(
            f"llmobs: {skipped} request(s) of the report have no span ids (written by an"
            " older pytest-llmobs): not sent",
            file=sys.stderr,
        )
    return spans


def _dashboard(args: argparse.Namespace) -> int:
    settings = _slo_settings(args.config)
    try:
        from pytest_llmobs.export.grafana import dashboard
    except ImportError as exc:
        raise BadInput(_needs("llmobs grafana", exc)) from None
    model = dashboard(settings.rules.slos, settings.group_by)
    _emit(args.output, json.dumps(model, indent=2, sort_keys=True) + "\n")
    return EXIT_SENT


def _rules(args: argparse.Namespace) -> int:
    from pytest_llmobs.export.alert_rules import rules_yaml

    settings = _slo_settings(args.config)
    _emit(args.output, rules_yaml(settings.rules.slos, settings.group_by))
    return EXIT_SENT


def _slo_settings(config: Path | None) -> Settings:
    """The settings the SLOs come from, saying on stderr which file that is, and each
    quality SLO whose attribute is not configured (a typo makes rules that never fire)."""
    settings = command_settings(config)
    print(f"llmobs: {rules_from(config)}", file=sys.stderr)
    known = settings.quality_attributes
    for metric in settings.rules.slos:
        family, _, attribute = metric.partition(".")
        if family == "quality" and attribute not in (*known, "*") and known:
            hint = closest(attribute, known)
            print(
                f"llmobs: warning: the SLO {metric} names no attribute of quality_attributes"
                f" ({', '.join(known)}){hint}; a score set by llmobs.score() or an"
                " evaluation needs no entry there",
                file=sys.stderr,
            )
    return settings


def _needs(command: str, exc: ImportError) -> str:
    if sys.version_info < (3, 11):
        return f"{command} needs Python 3.11 or newer (grafana-foundation-sdk does)"
    return f"{command} needs the export extra ({exc.name} is missing): {stack.EXTRA}"


def _emit(path: Path | None, text: str) -> None:
    """Print the text, or write it to the file (said on stderr, so stdout stays clean)."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path}: cannot write it: {exc}") from None
    print(f"llmobs: wrote {path}", file=sys.stderr)
