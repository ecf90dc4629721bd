"""OpenTelemetry adapter: put the SpanRecorder on every TracerProvider the process has."""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Generator
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from pytest_llmobs.capture.recorder import SpanRecorder


class _FallbackTracer(trace_api.ProxyTracer):
    """Records into the fallback provider until the app sets a global provider of its own.

    From then on it follows the app's provider, exactly as OpenTelemetry's own
    ProxyTracer would: a tracer taken at import time never keeps spans from the app.
    """

    def __init__(self, owner: _FallbackProvider, *args: Any) -> None:
        # args: get_tracer's, kept whole: ProxyTracer keeps no `_attributes` before 1.26
        super().__init__(*args)
        self._owner = owner
        self._get_tracer_args = args
        self._fallback = owner.sdk.get_tracer(*args)

    @property
    def _tracer(self) -> trace_api.Tracer:
        if self._real_tracer:
            return self._real_tracer
        current = trace_api._TRACER_PROVIDER
        if current is None or current is self._owner:
            return self._fallback
        self._real_tracer = current.get_tracer(*self._get_tracer_args)
        return self._real_tracer


class _FallbackProvider(trace_api.ProxyTracerProvider):
    """The global provider while the app has set none: still a ProxyTracerProvider to
    `isinstance` checks (so apps that test for "not configured yet" still configure)."""

    def __init__(self) -> None:
        self.sdk = SdkTracerProvider(shutdown_on_exit=False)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace_api.Tracer:
        args = (instrumenting_module_name, instrumenting_library_version, schema_url)
        # `attributes` only when given: before 1.26, OpenTelemetry's ProxyTracer and SDK
        # get_tracer take three arguments, and its own get_tracer() passes three
        if attributes is None:
            return _FallbackTracer(self, *args)
        return _FallbackTracer(self, *args, attributes)


class _NoOpCount:
    """Counts the spans started through OpenTelemetry's no-op tracer, where an app without
    a provider (and without the fallback) sends them: what it returns is left as it is.

    Both ways in are wrapped: before API 1.40, `start_as_current_span` yields its span
    without calling `start_span`; from 1.40 it calls it, and a per-thread flag keeps that
    span from being counted twice.
    """

    def __init__(self) -> None:
        self.spans = 0  # a lost increment between threads only makes the warning smaller
        self._inside = threading.local()  # in start_as_current_span, before its body
        self._start_span = trace_api.NoOpTracer.start_span
        self._start_as_current_span = trace_api.NoOpTracer.start_as_current_span
        trace_api.NoOpTracer.start_span = self._counted_start_span()  # type: ignore[method-assign]
        trace_api.NoOpTracer.start_as_current_span = self._counted_current_span()  # type: ignore[method-assign]

    def _counted_start_span(self) -> Callable[..., trace_api.Span]:
        original = self._start_span

        @functools.wraps(original)
        def start_span(tracer: Any, *args: Any, **kwargs: Any) -> trace_api.Span:
            if not getattr(self._inside, "on", False):
                self.spans += 1
            return original(tracer, *args, **kwargs)

        return start_span

    def _counted_current_span(self) -> Callable[..., Any]:
        original = self._start_as_current_span

        def counted(
            tracer: Any, *args: Any, **kwargs: Any
        ) -> Generator[trace_api.Span, None, None]:
            self.spans += 1
            with contextlib.ExitStack() as stack:
                was = getattr(self._inside, "on", False)
                self._inside.on = True
                try:  # the span is started here; the body's own spans count again
                    span = stack.enter_context(original(tracer, *args, **kwargs))
                finally:
                    self._inside.on = was
                yield span

        # the context manager class OpenTelemetry uses (contextlib's, or its own that also
        # decorates coroutines), built as its decorator builds it: a decorated function
        # counts on every call, as the original starts a span on every call
        probe = original(trace_api.NoOpTracer(), "probe")  # not entered: no span
        if not isinstance(probe, contextlib._GeneratorContextManager):
            return original  # a shape of another make: counted through start_span only
        kind = type(probe)

        @functools.wraps(original)
        def start_as_current_span(tracer: Any, *args: Any, **kwargs: Any) -> Any:
            return kind(counted, (tracer, *args), kwargs)

        return start_as_current_span

    def uninstall(self) -> None:
        trace_api.NoOpTracer.start_span = self._start_span  # type: ignore[method-assign]
        trace_api.NoOpTracer.start_as_current_span = self._start_as_current_span  # type: ignore[method-assign]


def hook_init(cls: type, attach: Callable[[Any], None], find_existing: bool) -> Any:
    """Pass every instance of cls to attach: new ones from a wrapped `__init__`, and
    with `find_existing` those alive now (a walk over every object: 0.1 s in a large
    test process). Returns the original `__init__`, to put back later."""
    original = cls.__init__  # type: ignore[misc]

    @functools.wraps(original)
    def init(instance: Any, *args: Any, **kwargs: Any) -> None:
        original(instance, *args, **kwargs)
        attach(instance)

    cls.__init__ = init  # type: ignore[misc]
    if find_existing:
        for obj in gc.get_objects():
            # type(), not isinstance(): isinstance reads obj.__class__, which a lazy
            # proxy (Django's LazyObject) answers by running user code, or raising
            if issubclass(type(obj), cls):
                attach(obj)
    return original


class CaptureInstaller:
    """Puts one SpanRecorder on every SDK TracerProvider of the process, old or new.

    - providers created from now on: `TracerProvider.__init__` is wrapped;
    - providers that already exist: found once through the garbage collector;
    - no global provider at all: a fallback provider records spans without using up
      OpenTelemetry's set-once guard, so the app may still set its own later, and
      tracers taken before then follow it there. Its spans record (`is_recording()`)
      and propagate (`inject()` writes `traceparent`) as under any SDK provider;
      with `fallback=False` the app stays unconfigured, and the spans it starts while
      it has no provider are counted, not captured, and the count is a warning.
    The app's own processors stay where they are: the recorder only observes.
    """

    def __init__(
        self, recorder: SpanRecorder, find_existing: bool = True, fallback: bool = True
    ) -> None:
        self.recorder = recorder
        self.find_existing = find_existing  # False when no SDK provider can exist yet
        self.fallback = fallback
        self._uncaptured: _NoOpCount | None = None
        self._uncaptured_note: str | None = None
        self.warnings: list[str] = []
        self._attached: list[object] = []
        self._original_init: Callable[..., None] | None = None
        self._fallback: _FallbackProvider | None = None
        self._seen_global: object = None

    def install(self) -> None:
        self._original_init = hook_init(SdkTracerProvider, self._attach, self.find_existing)
        unset = trace_api.get_tracer_provider() is trace_api._PROXY_TRACER_PROVIDER
        if unset and self.fallback:
            self._fallback = _FallbackProvider()
            trace_api._TRACER_PROVIDER = self._fallback
        elif unset:  # the app stays unconfigured: count what that loses
            self._uncaptured = _NoOpCount()
        self.check_global()

    def check_global(self) -> None:
        """Attach to a global provider set since the last look, or say why it cannot be."""
        self._note_uncaptured()
        provider = trace_api._TRACER_PROVIDER
        if provider is None or provider is self._seen_global or provider is self._fallback:
            return
        self._seen_global = provider
        if callable(getattr(provider, "add_span_processor", None)):
            self._attach(provider)
            return
        kind = f"{type(provider).__module__}.{type(provider).__qualname__}"
        self.warnings.append(
            f"the global TracerProvider is {kind}, which is not an OpenTelemetry SDK "
            "TracerProvider and has no add_span_processor(): spans it creates are not captured"
        )

    def _attach(self, provider: Any) -> None:
        if any(p is provider for p in self._attached):
            return
        try:
            provider.add_span_processor(self.recorder)
        except Exception as exc:
            self.warnings.append(f"could not observe a {type(provider).__name__}: {exc}")
            return
        self._attached.append(provider)

    @property
    def service_name(self) -> str | None:
        """The app's service.name, from the resource of a provider it set up (not the
        SDK's `unknown_service` default); None when no provider names one."""
        for provider in self._attached:
            attributes = getattr(getattr(provider, "resource", None), "attributes", {})
            name = attributes.get("service.name")
            if isinstance(name, str) and name and not name.startswith("unknown_service"):
                return name
        return None

    @property
    def uncaptured(self) -> int:
        """The spans the app started without a provider, lost with `fallback=False`."""
        return self._uncaptured.spans if self._uncaptured is not None else 0

    def _note_uncaptured(self) -> None:
        """Keep one warning up to date with the spans the unconfigured app has started."""
        spans = self.uncaptured
        if self._uncaptured_note is not None:
            self.warnings.remove(self._uncaptured_note)
            self._uncaptured_note = None
        if spans:
            self._uncaptured_note = (
                f"{spans} span(s) were started while the app had no TracerProvider and were"
                " not captured: --llmobs-no-fallback installs no recording fallback; set a"
                " provider before the tests start spans, or drop the option"
            )
            self.warnings.append(self._uncaptured_note)

    def uninstall(self) -> None:
        self.recorder.stop()
        if self._uncaptured is not None:
            self._uncaptured.uninstall()
        if self._original_init is not None:
            SdkTracerProvider.__init__ = self._original_init  # type: ignore[method-assign]
        if self._fallback is not None and trace_api._TRACER_PROVIDER is self._fallback:
            trace_api._TRACER_PROVIDER = None
        self._attached.clear()
