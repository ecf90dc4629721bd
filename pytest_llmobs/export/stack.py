"""A judged run sent to the team's live stack: its metrics to a Prometheus textfile and a
Pushgateway, its spans to an OTLP endpoint; each bounded in time, each failure one line."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.urls import masked
from pytest_llmobs.gate.model import AttrValue
from pytest_llmobs.report.prometheus_metrics import constant_labels, run_metrics
from pytest_llmobs.report.result import RunResult

EXTRA = "pip install 'pytest-llmobs[export]'"
# the libraries each destination needs, by the module that tells they are installed
_NEEDS = {
    "otlp": "opentelemetry.exporter.otlp.proto.http",
    "pushgateway": "prometheus_client",
    "prometheus": "prometheus_client",
}


@dataclass(frozen=True)
class Targets:
    """Where a run goes: an OTLP endpoint, a Pushgateway (and its job), a textfile."""

    otlp: str | None = None
    pushgateway: str | None = None
    job: str = "llmobs"
    prometheus: Path | None = None
    timeout: float = 10.0

    @property
    def wanted(self) -> bool:
        return bool(self.otlp or self.pushgateway or self.prometheus)


@dataclass
class Sent:
    """What went where (`done`), what could not (`failed`), one line each; and why
    nothing was sent (`withheld`), when the run was not one to send."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    withheld: str | None = None


def missing(targets: Targets) -> str | None:
    """Which library of the export extra a destination asked for lacks, in one line."""
    for name, flag in (("otlp", "export-otlp"), ("pushgateway", "pushgateway")):
        if getattr(targets, name) and not _installed(_NEEDS[name]):
            return f"--llmobs-{flag} needs the export extra ({_NEEDS[name]}): {EXTRA}"
    if targets.prometheus and not _installed(_NEEDS["prometheus"]):
        return f"--llmobs-prometheus needs the export extra (prometheus_client): {EXTRA}"
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def resource(result: RunResult, service_name: str | None) -> dict[str, AttrValue]:
    """The resource of exported spans: the app's service, and which run judged them."""
    meta = result.metadata
    attributes: dict[str, AttrValue] = {
        "service.name": service_name or "llmobs",
        "llmobs.run.id": str(meta.get("run_id") or ""),
        "llmobs.run.verdict": result.verdict,
        "llmobs.suite": str(meta.get("suite") or ""),
    }
    if meta.get("git_commit"):
        attributes["vcs.ref.head.revision"] = str(meta["git_commit"])
    if meta.get("git_branch"):
        attributes["vcs.ref.head.name"] = str(meta["git_branch"])
    return attributes


def send(
    targets: Targets,
    result: RunResult,
    spans: Callable[[Mapping[str, AttrValue]], Sequence[Any]] | None,
    service_name: str | None = None,
) -> Sent:
    """Send a judged run where `targets` say; never raises for an outside service.

    Args:
        targets: the destinations and the time each may take.
        result: the judged run.
        spans: makes the spans to send, given their resource; None when there are none.
        service_name: the app's own service.name, for the spans' resource.
    """
    sent = Sent()
    families = run_metrics(result) if targets.pushgateway or targets.prometheus else ()
    path, gateway, endpoint = targets.prometheus, targets.pushgateway, targets.otlp
    if path is not None:
        _try(sent, lambda: _textfile(path, families, result))
    if gateway:
        _try(sent, lambda: _push(gateway, targets, families, result))
    if endpoint and spans is not None:
        made = spans  # the spans are made only when they are sent
        _try(sent, lambda: _spans(endpoint, targets, made(resource(result, service_name))))
    return sent


def _try(sent: Sent, action: Callable[[], str]) -> None:
    try:
        sent.done.append(action())
    except ExportError as exc:
        sent.failed.append(str(exc))
    except ImportError as exc:
        sent.failed.append(f"the export extra is missing ({exc.name}): {EXTRA}")


def _textfile(path: Path, families: Sequence[Any], result: RunResult) -> str:
    from pytest_llmobs.export.prometheus import write_textfile

    try:
        write_textfile(path, families, constant_labels(result))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the Prometheus metrics: {exc}") from None
    return f"metrics written to {path}"


def _push(url: str, targets: Targets, families: Sequence[Any], result: RunResult) -> str:
    from pytest_llmobs.export.prometheus import push

    push(url, targets.job, dict(constant_labels(result)), families, targets.timeout)
    return f"metrics pushed to {masked(url)} (job {targets.job})"


def _spans(url: str, targets: Targets, spans: Sequence[Any]) -> str:
    from pytest_llmobs.export.otlp_send import send_spans

    send_spans(url, spans, targets.timeout)
    return f"{len(spans)} span(s) sent to {masked(url)}"
