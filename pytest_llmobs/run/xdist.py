"""pytest-xdist wiring: workers publish their spans, the controller collects them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_llmobs.capture import transport
from pytest_llmobs.capture.recorder import SpanRecorder
from pytest_llmobs.gate.model import SpanTable

OUTPUT_KEY = "llmobs"


@dataclass
class Marks:
    """What collection decided: tests marked @pytest.mark.llmobs (each test id's function,
    and each function's rules), the tests selected, those deselected (-k, -m,
    --deselect, --lf), and the files skipped whole."""

    tests: dict[str, str] = field(default_factory=dict)
    rules: dict[str, dict[str, str]] = field(default_factory=dict)
    deselected: set[str] = field(default_factory=set)
    collected: set[str] = field(default_factory=set)
    skipped_files: set[str] = field(default_factory=set)  # skipped whole at collection

    def merged(self, other: Marks) -> Marks:
        return Marks(
            {**other.tests, **self.tests},
            {**other.rules, **self.rules},
            self.deselected | other.deselected,
            self.collected | other.collected,
            self.skipped_files | other.skipped_files,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tests": dict(self.tests),
            "rules": {k: dict(v) for k, v in self.rules.items()},
            "deselected": sorted(self.deselected),
            "collected": sorted(self.collected),
            "skipped_files": sorted(self.skipped_files),
        }

    @classmethod
    def from_json(cls, data: Any) -> Marks:
        tests = {str(k): str(v) for k, v in data.get("tests", {}).items()}
        rules = {
            str(k): {str(m): str(s) for m, s in v.items()} for k, v in data.get("rules", {}).items()
        }
        names = ("deselected", "collected", "skipped_files")
        ids = {name: {str(t) for t in data.get(name, [])} for name in names}
        return cls(tests, rules, ids["deselected"], ids["collected"], ids["skipped_files"])


def is_worker(config: pytest.Config) -> bool:
    """True inside a pytest-xdist worker process."""
    return hasattr(config, "workerinput")


def publish(
    config: pytest.Config,
    recorder: SpanRecorder,
    warnings: list[str],
    marked: Marks,
    uncaptured: int,
    heard: dict[str, object] | None = None,
    lost: list[str] | None = None,
    service_name: str | None = None,
) -> None:
    """On a worker, at session end: put its spans where xdist ships them to the controller.

    Args:
        config: the worker's config.
        recorder: the worker's recorder, whose spans and skip counts are sent.
        warnings: what the worker could not capture, in words.
        marked: what the worker's collection decided.
        uncaptured: spans the app started without a provider (with no fallback), lost.
        heard: with --llmobs-otlp, the worker's receiver and the requests it got.
        lost: with --llmobs-otlp, what its receiver lost (errors that fail the gate).
        service_name: the app's service.name, for the spans --llmobs-export-otlp sends.
    """
    config.workeroutput[OUTPUT_KEY] = {  # type: ignore[attr-defined]
        "table": transport.to_payload(recorder.snapshot()),
        "skipped": dict(recorder.skipped),
        "uncaptured": uncaptured,
        "warnings": list(warnings),
        # the controller collects no tests: it learns marks and deselection here
        "marked": marked.to_json(),
        "heard": heard,
        "lost": list(lost or []),
        "service_name": service_name,
    }


class WorkerCollector:
    """On the controller: the tables workers sent, and what went wrong receiving them."""

    def __init__(self) -> None:
        self.tables: list[SpanTable] = []
        self.skipped: dict[str, int] = {}
        self.uncaptured = 0  # spans started without a provider (no fallback), all workers
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.marked = Marks()
        self.heard: list[dict[str, object]] = []  # each worker's receiver (--llmobs-otlp)
        self.lost: list[str] = []  # what the workers' receivers lost: errors
        self.service_name: str | None = None  # the app's, as a worker's provider names it

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """When a worker finishes (or dies): take its spans."""
        worker = getattr(node, "gateway", None)
        name = getattr(worker, "id", "a worker")
        output = getattr(node, "workeroutput", None) or {}
        sent = output.get(OUTPUT_KEY)
        if sent is None:
            why = f" ({error})" if error else ""
            self.errors.append(f"{name} sent no span data{why}: its spans are missing")
            return
        try:
            self.tables.append(transport.from_payload(sent["table"]))
            for reason, n in sent.get("skipped", {}).items():
                self.skipped[reason] = self.skipped.get(reason, 0) + int(n)
            self.uncaptured += int(sent.get("uncaptured", 0))
            self.warnings.extend(f"{name}: {w}" for w in sent.get("warnings", []))
            self.marked = self.marked.merged(Marks.from_json(sent.get("marked", {})))
            self.lost.extend(f"{name}: {e}" for e in sent.get("lost", []))
            if isinstance(service := sent.get("service_name"), str) and service:
                self.service_name = self.service_name or service
            if (heard := sent.get("heard")) is not None:
                endpoint, requests = str(heard["endpoint"]), int(heard["requests"])
                self.heard.append({"endpoint": endpoint, "requests": requests})
        except (transport.PayloadError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.errors.append(f"{name} sent span data that cannot be read: {exc}")
