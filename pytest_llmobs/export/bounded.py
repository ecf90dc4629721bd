"""Sending to an outside service in a bounded time: a backend that is down or hangs
costs at most the timeout and one line, never the run."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ExportError(Exception):
    """One line saying what could not be sent where, and why."""


def within(timeout: float, what: str, send: Callable[[], None]) -> None:
    """Run `send` on a daemon thread and wait for it at most `timeout` seconds.

    A send that hangs is left behind (the thread dies with the process), so no client
    library's retries or backoff can hold the run longer than the timeout.

    Args:
        timeout: seconds to wait at most.
        what: what is sent where, for the message (`spans to http://host:4318`).
        send: the call that sends; it raises on failure.

    Raises:
        ExportError: when `send` raised (with its reason) or did not finish in time.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except BaseException as exc:  # reported by the caller, in one line
            failure.append(exc)

    thread = threading.Thread(target=run, name="llmobs-export", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ExportError(f"{what}: no answer within {timeout:g} s")
    if failure:
        raise ExportError(f"{what}: {_reason(failure[0])}")


def _reason(exc: BaseException) -> str:
    """An exception as the end of one line: its message without a traceback."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
