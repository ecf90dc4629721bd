"""The run's metrics for Prometheus: a textfile for node exporter, or a Pushgateway push."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.client import HTTPException, InvalidURL, RemoteDisconnected
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from pytest_llmobs.export.bounded import ExportError, within
from pytest_llmobs.export.urls import masked
from pytest_llmobs.gate.jsonfile import write_atomic
from pytest_llmobs.report.prometheus_metrics import Labels, MetricFamily

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

# what Pushgateway users write: a scheme (or none: http), then credentials before an "@"
# how the Pushgateway quotes a metric it refuses: `collected metric "x" { label:<...> }`
_DUMP = re.compile(r"\{[^{}]*\}")
_Auth = tuple[str, str] | None
_Handler = Callable[..., Callable[[], None]]


def exposition(families: Iterable[MetricFamily], extra_labels: Labels = ()) -> str:
    """The families in Prometheus' text exposition format (0.0.4), label values escaped.

    Args:
        families: the gauges (report/prometheus_metrics.run_metrics).
        extra_labels: labels added to every sample that has no label of that name.

    Returns:
        The exposition text.

    Raises:
        ImportError: prometheus_client is not installed.
    """
    from prometheus_client import generate_latest

    return generate_latest(_registry(tuple(families), extra_labels)).decode("utf-8")


def write_textfile(path: Path, families: Iterable[MetricFamily], extra_labels: Labels) -> None:
    """Write the exposition atomically (temporary file in the same folder, then rename),
    so node exporter's textfile collector never reads half a file. Name it `*.prom`.

    Raises:
        OSError: the file could not be written (the caller reports it).
        ImportError: prometheus_client is not installed.
    """
    write_atomic(path, exposition(families, extra_labels))


def push(
    url: str,
    job: str,
    grouping: Mapping[str, str],
    families: Iterable[MetricFamily],
    timeout: float,
) -> None:
    """Replace the metrics of the group (job and grouping key) on a Pushgateway (PUT).

    A URL without a scheme is http (`localhost:9091`). Credentials in the URL
    (`https://user:password@host`) are sent as basic auth and never shown in a message.

    Args:
        url: the Pushgateway's base URL.
        job: the `job` of the group.
        grouping: the other labels of the grouping key (suite, branch).
        families: the gauges.
        timeout: seconds the push may take at most.

    Raises:
        ExportError: one line, for a malformed URL, a refused connection, an unknown or
            unreachable host, no answer within the timeout, or an answer that is not a
            Pushgateway's (a status other than 2xx, quoted, or an HTML page).
        ImportError: prometheus_client is not installed.
    """
    from prometheus_client import push_to_gateway

    shown = masked(url)
    target, auth = _target(url, shown)
    registry = _registry(tuple(families), ())

    def send() -> None:
        try:
            push_to_gateway(target, job, registry, dict(grouping), timeout, handler=_handler(auth))
        except Exception as exc:
            raise _Failure(_why(exc, timeout, auth)) from None

    within(timeout, f"metrics to {shown}", send)


class _Failure(Exception):
    """Why a push failed, already in words (bounded.within adds what and where)."""


def _registry(families: Sequence[MetricFamily], extra: Labels) -> CollectorRegistry:
    """A registry whose one collector yields the families as gauges."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector, CollectorRegistry

    def gauge(family: MetricFamily) -> GaugeMetricFamily:
        metric = GaugeMetricFamily(family.name, family.help, unit=family.unit)
        for labels, value in family.samples:
            own = dict(labels)
            own.update((k, v) for k, v in extra if k not in own)
            metric.add_sample(family.name, own, value)
        return metric

    class Families(Collector):
        def collect(self) -> Iterable[GaugeMetricFamily]:
            return [gauge(f) for f in families]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    return registry


def _target(url: str, shown: str) -> tuple[str, _Auth]:
    """The URL to push to, without credentials, and the credentials.

    Raises:
        ExportError: the URL is malformed or not http(s).
    """

    def bad(why: str) -> ExportError:
        return ExportError(f"metrics to {shown}: malformed URL: {why}")

    text = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise bad("it contains spaces or control characters")
    if "://" not in text:
        text = "http://" + text  # as prometheus_client reads `localhost:9091`
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise bad(f"scheme {parts.scheme}:// (use http:// or https://)")
    if not parts.hostname:
        raise bad("no host")
    if parts.query or parts.fragment:
        raise bad("a Pushgateway URL has no ?query or #fragment")
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), auth


def _handler(auth: _Auth) -> _Handler:
    """A push_to_gateway handler: basic auth from the URL, and an answer that is not a
    Pushgateway's (an HTML page, as a login proxy sends with 200) is a failure."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def handle() -> None:
            request = urllib.request.Request(url, data=data, method=method)
            for name, value in headers:
                request.add_header(name, value)
            if auth is not None:
                token = base64.b64encode(":".join(auth).encode("utf-8")).decode("ascii")
                request.add_header("Authorization", f"Basic {token}")
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                kind = answer.headers.get_content_type()
                if kind == "text/html":
                    status = f"HTTP {answer.status} {answer.reason}"
                    raise _Failure(f"{status} with an HTML page: is it a Pushgateway?")

        return handle

    return handler


def _why(exc: Exception, timeout: float, auth: _Auth) -> str:
    """An exception of the push in words, without the URL's credentials."""
    if isinstance(exc, _Failure):
        return str(exc)
    if isinstance(exc, urllib.error.HTTPError):
        return _status(exc)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: is the Pushgateway running, at this port?"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, InvalidURL):
        return f"malformed URL: {reason}"
    if isinstance(reason, RemoteDisconnected):
        return "the server closed the connection without an answer: is it a Pushgateway?"
    if isinstance(reason, HTTPException):
        return f"not an HTTP answer ({type(reason).__name__}): is it a Pushgateway?"
    text = str(getattr(reason, "strerror", None) or reason) or type(reason).__name__
    for secret in auth or ():
        if len(secret) >= 3:  # masking a shorter one would mask common letters
            text = text.replace(secret, "***")
    return text


def _status(error: urllib.error.HTTPError) -> str:
    """A refusal in one line: the status, and the Pushgateway's own reason for a 400."""
    status = f"HTTP {error.code} {error.reason}"
    if error.code == 400:  # the Pushgateway says what is wrong with the metrics
        with contextlib.suppress(OSError):
            body = " ".join(error.read(4000).decode("utf-8", "replace").split())
            body = _DUMP.sub("{...}", body)  # the metric's whole dump hides the reason
            return f"{status}: {body}" if body else status
    if 300 <= error.code < 400:  # urllib follows no redirect of a PUT
        return f"{status}: it redirects to {masked(error.headers.get('Location', '?'))}"
    if error.code in (401, 403):
        return f"{status}: give credentials in the URL (https://user:password@host)"
    if error.code >= 500:
        return status
    return f"{status}: is it a Pushgateway?"
