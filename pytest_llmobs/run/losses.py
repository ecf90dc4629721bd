"""What a run's capture lost, in this process and in the workers: the errors that make
the gate fail closed on partial data, and the warnings about what was not captured."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from pytest_llmobs.capture.recorder import UNREADABLE
from pytest_llmobs.gate.model import SpanTable
from pytest_llmobs.run import otlp

if TYPE_CHECKING:
    from pytest_llmobs.run.session import LlmobsSession


def errors(llmobs: LlmobsSession, table: SpanTable, interrupted: bool) -> tuple[str, ...]:
    """Why the run's data is partial, if it is.

    Args:
        llmobs: the run's session object, with this process' capture and the workers'.
        table: the spans captured, merged.
        interrupted: whether the run was cut short before the end of its test loop.

    Returns:
        An error for each way the data is partial: each fails the gate.
    """
    # Never judge or record partial data: a worker's missing spans fail the gate, and
    # so does a run cut short (what it did not run was not judged)
    found = tuple(f"incomplete capture: {e}" for e in llmobs.workers.errors)
    found += _unreadable(llmobs) + _nothing_captured(llmobs, table) + _not_received(llmobs)
    if interrupted:
        found += ("the session was interrupted: the tests it did not run were not judged",)
    return found


def warnings(llmobs: LlmobsSession) -> list[str]:
    """What could not be captured, from this process and the workers, and what
    about the configuration deserves a word."""
    skipped = _skipped(llmobs)
    notes = [*llmobs.settings.notes, *llmobs.installer.warnings, *llmobs.recorder.notes()]
    notes += llmobs.workers.warnings
    notes += llmobs.intake.warnings() if llmobs.intake is not None else []
    notes += _silence(llmobs)
    return notes + [_skipped_line(why, n) for why, n in sorted(skipped.items())]


def _skipped_line(why: str, n: int) -> str:
    """What was not counted, said of what it was: spans, or evaluation results."""
    for kind in ("evaluation result", "unreadable evaluation log record"):
        if why.startswith(kind):
            return f"{n} {kind}(s){why[len(kind) :]}: not counted"
    return f"{n} span(s) skipped: {why}"


def _not_received(llmobs: LlmobsSession) -> tuple[str, ...]:
    """What the receivers (this process's, each worker's) lost: exports refused for
    good or still arriving, whose spans the series would be judged without. A run
    whose services sent nothing is a warning, in CI too: its tests may start none
    (`-m`, a skip), and a baseline's series they did start are judged lost."""
    lost = llmobs.intake.errors() if llmobs.intake is not None else []
    return tuple(lost + llmobs.workers.lost)


def _silence(llmobs: LlmobsSession) -> list[str]:
    """The one warning of a run none of whose receivers heard from a service."""
    heard = list(llmobs.workers.heard)
    if llmobs.intake is not None:
        heard.insert(0, llmobs.intake.heard())
    return otlp.silence(heard)


def _skipped(llmobs: LlmobsSession) -> Counter[str]:
    return llmobs.recorder.skipped + Counter(llmobs.workers.skipped)


def _unreadable(llmobs: LlmobsSession) -> tuple[str, ...]:
    """Spans ended but could not be read: their series would be judged on the rest,
    or reported missing and pass, so the gate fails closed."""
    lost = {why: n for why, n in _skipped(llmobs).items() if why.startswith(UNREADABLE)}
    if not lost:
        return ()
    why = "; ".join(f"{n} {what}" for what, n in sorted(lost.items()))
    return (
        f"{sum(lost.values())} span(s) could not be read ({why}): the series they "
        "belong to cannot be judged",
    )


def _nothing_captured(llmobs: LlmobsSession, table: SpanTable) -> tuple[str, ...]:
    """Tests ran and started spans, but no span was captured, because there was no
    fallback to capture them: a pass would be by accident. Tests that start no span
    at all (an app that set its own provider, tests of other parts) pass as ever."""
    lost = llmobs.installer.uncaptured + llmobs.workers.uncaptured
    if not llmobs.settings.no_fallback or len(table) or not llmobs.ran or not lost:
        return ()
    return (
        f"no span was captured: with --llmobs-no-fallback, the {lost} span(s) your app "
        "started before it set a TracerProvider were not recorded; set one before the "
        "tests start spans, or drop the option",
    )
