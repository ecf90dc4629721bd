"""Every setting as the user meets it: a command line flag, an ini key, a pyproject key,
and the help text they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "bool",
    "path",
    "names",
    "float",
    "rate",
    "int",
    "count",
    "number",
    "severity",
    "endpoint",
    "seconds",
    "url",
    "text",
    "timeout",
]

# The TOML type a kind's value may have in a native [tool.pytest] table besides text.
_NATIVE: dict[Kind, type] = {
    "bool": bool, "int": int, "count": int, "float": float, "rate": float, "number": float,
    "seconds": float, "timeout": float,
}  # fmt: skip


@dataclass(frozen=True)
class Option:
    """One setting as the user meets it: a CLI flag, an ini key and a pyproject key."""

    name: str
    kind: Kind
    help: str

    @property
    def flag(self) -> str:
        return "--llmobs" if self.name == "enabled" else "--llmobs-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "llmobs" if self.name == "enabled" else "llmobs_" + self.name

    def ini_type(self, typed: bool) -> Any:
        """pytest's type for the ini key, so that pytest hands over a value as written
        without a deprecation warning: text (`str | float` where pytest takes type
        expressions, 9.2 on, so a native TOML value is taken as is), or a list of names.

        Args:
            typed: whether `addini` takes type expressions such as `str | float`.
        """
        if self.kind == "names":  # a list in TOML, space-separated text in ini files
            return "args"
        native = _NATIVE.get(self.kind)
        # text first: ini files and -o give text, which resolve() converts and checks
        return str | native if typed and native is not None else "string"


OPTIONS = (
    Option("enabled", "bool", "Capture OpenTelemetry spans and gate the run on a stored baseline"),
    Option(
        "baseline",
        "path",
        "Baseline file to compare with (default: .llmobs/baseline.json under the rootdir)",
    ),
    Option("update_baseline", "bool", "Write this run as the new baseline instead of gating on it"),
    Option("json", "path", "Write the run report as JSON to this path"),
    Option(
        "shard",
        "bool",
        "Record this run as one shard of a suite split across machines, without judging"
        " it: its run report (--llmobs-json) keeps every sample, for `llmobs combine`",
    ),
    Option("junitxml", "path", "Write the gate's checks as JUnit XML to this path"),
    Option("markdown", "path", "Write a Markdown summary (for a PR comment or job summary) here"),
    Option("html", "path", "Write the dashboard, one self-contained HTML file, here"),
    Option(
        "history",
        "path",
        "Append this run's summary to this SQLite file, for trends in the dashboard and"
        " `llmobs history` (default: off)",
    ),
    Option(
        "exit_code",
        "int",
        "Exit status when the gate fails while every test passed (default: 1; 0 is"
        " advisory mode: everything is judged and reported, the run never fails)",
    ),
    Option(
        "quality_attributes",
        "names",
        "Span attributes that hold quality scores, higher is better (comma- or"
        " space-separated; empty clears)",
    ),
    Option(
        "group_by",
        "names",
        "Span attributes whose values split series, e.g. gen_ai.request.model or a cohort"
        " such as user_tier (comma- or space-separated; empty clears); a span without one"
        " takes its ancestor's",
    ),
    Option(
        "alpha",
        "float",
        "Family-wise false alarm rate of the gate across all checks of a run (default: 0.01)",
    ),
    Option(
        "sample_rate",
        "rate",
        "Share of traces (0 to 1) whose attributes and events are kept beside the metrics;"
        " traces with an error or an outlier always are (default: 1.0)",
    ),
    Option(
        "fail_on_inconclusive",
        "bool",
        "Fail the gate when a check is inconclusive (too few spans to judge)",
    ),
    Option(
        "slowest",
        "count",
        "Requests listed per series (its slowest at or above its p95) and per quality"
        " attribute (its lowest scores); 0 lists none (default: 5)",
    ),
    Option(
        "quality_threshold",
        "number",
        "A quality score below this makes a low-quality request (default: 0.6)",
    ),
    Option(
        "request_spans",
        "names",
        "Span names that make a request, such as llm_request (comma- or space-separated;"
        " default: each root span)",
    ),
    Option(
        "fail_on_alert",
        "severity",
        "Fail the gate on a contextual alert of this severity or higher: low, medium"
        " or high (default: alerts inform only)",
    ),
    Option(
        "verbose",
        "bool",
        "List every check in the terminal summary, as pytest's -v does (default: what needs"
        " attention, and one line for the rest)",
    ),
    Option(
        "ci",
        "bool",
        "CI mode: fail closed where a local run passes with a hint, e.g. without a baseline"
        " (default: on when the environment variable CI is set, to anything but 0 or false)",
    ),
    Option(
        "otlp",
        "bool",
        "Receive the spans of services the tests start: an OTLP/HTTP receiver for the run,"
        " and OTEL_EXPORTER_OTLP_ENDPOINT pointing child processes at it (needs the otlp"
        " extra: pip install 'pytest-llmobs[otlp]')",
    ),
    Option(
        "otlp_endpoint",
        "endpoint",
        "HOST:PORT the OTLP receiver listens on (default: 127.0.0.1 and a free port)",
    ),
    Option(
        "otlp_wait",
        "seconds",
        "Seconds the run waits at its end for services' last spans, until none arrive for"
        " half a second (default: 5)",
    ),
    Option(
        "export_otlp",
        "url",
        "After the run is judged, send every captured span to this OTLP/HTTP endpoint, such"
        " as http://localhost:4318 (headers from OTEL_EXPORTER_OTLP_HEADERS; needs the"
        " export extra: pip install 'pytest-llmobs[export]')",
    ),
    Option(
        "pushgateway",
        "url",
        "After the run is judged, push its metrics to this Prometheus Pushgateway, such as"
        " http://localhost:9091 (needs the export extra)",
    ),
    Option(
        "pushgateway_job",
        "text",
        "Job name of the metrics pushed to the Pushgateway (default: llmobs)",
    ),
    Option(
        "prometheus",
        "path",
        "Write the run's metrics in Prometheus' text format to this file, for node"
        " exporter's textfile collector (needs the export extra)",
    ),
    Option(
        "export_timeout",
        "timeout",
        "Seconds each outside service (OTLP endpoint, Pushgateway) may take at most before"
        " the run goes on without it (default: 10)",
    ),
    Option(
        "no_fallback",
        "bool",
        "Leave an app that sets no TracerProvider unconfigured: no recording fallback"
        " provider (spans stay non-recording, inject() adds no traceparent), so its spans"
        " are not captured",
    ),
)
