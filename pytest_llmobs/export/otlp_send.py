"""Spans to a tracing backend over OTLP/HTTP with OpenTelemetry's own exporter, in a
bounded time and one line on failure."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pytest_llmobs.export import bounded
from pytest_llmobs.export.bounded import ExportError
from pytest_llmobs.export.reachable import unreachable
from pytest_llmobs.export.urls import masked as masked  # re-exported: its home was here
from pytest_llmobs.export.urls import traces_endpoint as traces_endpoint  # here too

if TYPE_CHECKING:  # the export extra's libraries load only when an export is asked for
    import requests
    from opentelemetry.sdk.trace import ReadableSpan

BATCH = 512  # spans an export request: the SDK's BatchSpanProcessor default
# loggers the exporter, its HTTP client and its transport write their failures to
_QUIETED = (
    "opentelemetry.exporter",
    "opentelemetry.sdk",
    "opentelemetry.attributes",
    "urllib3",
    "requests",
    "charset_normalizer",  # older exporters log an error answer's text, which it decodes
    "opentelemetry.util",  # its header parser logs a malformed header's value
)
_UNSHOWN = ("opentelemetry.util",)  # quieted loggers whose lines may hold a header's value
# the variables the exporter reads its headers from, the first set one
HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
_SHORTEST_SECRET = 8  # a shorter header value is no key: masking it would garble the line
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")  # the OS's reason inside urllib3's message


def send_spans(url: str, spans: Sequence[ReadableSpan], timeout: float) -> None:
    """Send spans to an OTLP/HTTP endpoint, BATCH at a time, within `timeout` seconds.

    Headers (an API key) come from OTEL_EXPORTER_OTLP_TRACES_HEADERS or
    OTEL_EXPORTER_OTLP_HEADERS, read by the exporter itself; they never appear in a
    message. The exporter's own log lines are kept from the user: the error says it all.
    Spans are read a batch at a time on the sending thread: a lazy sequence (as
    `spans_for_export` returns) makes each batch's spans there, within the timeout.

    Args:
        url: the backend's OTLP/HTTP base URL (`http://host:4318`) or its /v1/traces URL.
        spans: the spans (`spans_for_export`).
        timeout: seconds the whole send may take.

    Raises:
        ExportError: the header variable is malformed, or the backend refused the spans,
            could not be reached or did not answer in time; one line with what it
            answered and how many spans were sent.
        ImportError: the export extra is not installed.
    """
    what = f"spans to {masked(url)}"
    _check_headers(what)
    why = unreachable(url, min(timeout, 2.0))
    if why is not None:  # the exporter would retry it until the timeout
        raise ExportError(f"{what}: cannot connect: {why} (0 of {len(spans)} spans sent)")
    sender = _Sender(traces_endpoint(url), spans, timeout)
    try:
        bounded.within(timeout, what, sender.send)
    except ExportError as exc:
        sender.stop()
        line = f"{_line(exc, what, sender, timeout)} ({sender.sent} of {len(spans)} spans sent)"
        raise ExportError(_without_secrets(line, url)) from None


def _check_headers(what: str) -> None:
    """Refuse a malformed header variable before sending: the exporter would log its
    value (an API key) and send without the header."""
    found = next(((n, os.environ[n]) for n in HEADER_VARIABLES if os.environ.get(n)), None)
    if found is None:
        return
    name, value = found
    from opentelemetry.util.re import parse_env_headers

    # newer exporters parse liberally (values need not be URL-encoded); older ones do not
    liberal = "liberal" in inspect.signature(parse_env_headers).parameters
    quiet = _Quiet(threading.get_ident())  # the parser logs a bad pair as it is
    try:
        # the parser skips a bad pair: one pair at a time, an empty answer is a bad one
        bad = any(
            not (parse_env_headers(pair, liberal=True) if liberal else parse_env_headers(pair))
            for pair in re.split(r"[ \t]*,[ \t]*", value)  # the parser's own delimiter
            if pair
        )
    finally:
        quiet.end()
    if bad:
        raise ExportError(
            f"{what}: {name} is malformed (its value is not shown): expected key=value"
            " pairs separated by commas"
        )


class _Sender:
    """One send, batch by batch, and what a failure line needs to know of it."""

    def __init__(self, endpoint: str, spans: Sequence[ReadableSpan], timeout: float) -> None:
        # imported here, so that a missing extra raises ImportError to the caller
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self.exporter_class = OTLPSpanExporter
        self.endpoint, self.spans, self.timeout = endpoint, spans, timeout
        self.session = _watched_session()
        self.sent = 0
        self.finished = threading.Event()
        self.exporter: Any = None  # its shutdown() is untyped in some versions
        self._lock = threading.Lock()  # stop() runs on both threads: shut down once

    def send(self) -> None:
        """Export every batch, on the thread `bounded.within` runs it on."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        quiet = _Quiet(threading.get_ident())
        try:
            # headers=None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself
            self.exporter = exporter = self.exporter_class(
                endpoint=self.endpoint, timeout=self.timeout, session=self.session
            )
            for first in range(0, len(self.spans), BATCH):
                batch = self.spans[first : first + BATCH]
                if exporter.export(batch) is not SpanExportResult.SUCCESS:
                    raise ExportError(_refusal(self.session, quiet.lines))
                self.sent += len(batch)
        finally:  # on the sending thread: a send that outlives the timeout stays quiet
            self.stop()
            quiet.end()
            self.finished.set()

    def stop(self) -> None:
        """Shut the exporter down: newer ones then stop waiting to retry."""
        with self._lock:
            exporter, self.exporter = self.exporter, None
        if exporter is not None:
            with contextlib.suppress(Exception):  # its own failure is not the send's
                exporter.shutdown()


def _line(error: ExportError, what: str, sender: _Sender, timeout: float) -> str:
    """The one line for a failed send: what the backend answered, if anything."""
    session = sender.session
    response: requests.Response | None = session.answered
    if response is not None and not response.ok and not sender.finished.is_set():
        # the exporter was still retrying (on 5xx, as older exporters do)
        return f"{what}: {_answer(response)}, still retrying when {timeout:g} s ran out"
    if response is None and session.unreachable:
        return f"{what}: cannot connect: {_cause(session.unreachable[-1])}"
    return str(error)


def _watched_session() -> Any:
    """A requests session that remembers the last answer and the last failure to connect:
    the exporter logs them, but differently in each version."""
    import requests

    class Watched(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.answered: requests.Response | None = None
            self.unreachable: list[requests.ConnectionError] = []

        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            try:
                response = super().request(*args, **kwargs)
            except requests.ConnectionError as exc:
                self.unreachable.append(exc)
                raise
            self.answered = response
            return response

    return Watched()


def _refusal(session: Any, logged: list[str]) -> str:
    """What the backend answered to a refused batch, for one line; else the exporter's
    last log line (`_Quiet` keeps none that may hold a header's value)."""
    response: requests.Response | None = session.answered
    if response is not None and not response.ok:
        return _answer(response)
    if session.unreachable:
        return f"cannot connect: {_cause(session.unreachable[-1])}"
    return logged[-1] if logged else "the exporter refused the spans (no reason given)"


def _answer(response: requests.Response) -> str:
    """An error answer as the end of one line: its status, and its body when it is text."""
    said = f"the server answered {response.status_code} {response.reason or ''}".rstrip()
    body = _text_of(response)
    return f"{said}: {body}" if body else said


def _text_of(response: requests.Response) -> str:
    """The start of an error answer's body when it is text (OTLP answers a protobuf Status,
    which is not)."""
    kind = response.headers.get("Content-Type", "")
    if not kind.startswith(("text/", "application/json")):
        return ""
    text = " ".join(response.text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _cause(exc: BaseException) -> str:
    """The OS's reason of a connection failure, without urllib3's wrapping."""
    found = _ERRNO.search(str(exc))
    return found.group(0).strip() if found else f"{type(exc).__name__}: {exc}"[:200]


def _without_secrets(line: str, url: str) -> str:
    """The line with the URL's user and password masked wherever they appear, and the
    header variables' values in what follows the URL (a backend may echo its key)."""
    parts = urlsplit(url)
    line = line.replace(url, masked(url))
    if "@" in parts.netloc:
        line = line.replace(parts.netloc.rpartition("@")[0] + "@", "***@")
    if parts.password:
        line = line.replace(parts.password, "***")
    shown, sep, said = line.partition(": ")  # `spans to URL: why`
    for secret in sorted(_header_values(), key=len, reverse=True):  # a value before its parts
        if len(secret) >= _SHORTEST_SECRET:
            said = said.replace(secret, "***")
    return shown + sep + said


def _header_values() -> set[str]:
    """Each header variable's value, its pairs and their values, raw and decoded."""
    found: set[str] = set()
    for value in filter(None, map(os.environ.get, HEADER_VARIABLES)):
        pairs = [p.strip() for p in value.split(",")]
        values = [p.partition("=")[2].strip() for p in pairs]
        found.update([value, *pairs, *values, *map(unquote, values)])
    return found


class _Quiet(logging.Filter):
    """Keeps the log records that one thread writes to the exporter's loggers from the
    user (they are read for the error line instead, but for those that may hold a
    header's value); other threads' pass."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread
        self.lines: list[str] = []
        # a filter acts on the logger a record is made on, not on its parents': each
        # of the libraries' loggers gets it (they exist once their modules are imported)
        self.loggers = [
            logger
            for name, logger in list(logging.Logger.manager.loggerDict.items())
            if isinstance(logger, logging.Logger) and name.startswith(_QUIETED)
        ]
        for logger in self.loggers:
            logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        if not record.name.startswith(_UNSHOWN):  # never a line that may hold a header
            self.lines.append(" ".join(record.getMessage().split()))
        return False

    def end(self) -> None:
        for logger in self.loggers:
            logger.removeFilter(self)
