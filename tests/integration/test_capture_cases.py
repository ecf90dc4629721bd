"""Capture works whatever the app does with its TracerProvider, and costs nothing when off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import counts

APP_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

def make_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter
"""


def test_a_app_never_sets_a_provider(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        tracer = trace.get_tracer(__name__)

        @pytest.mark.parametrize("i", range(4))
        def test_work(i):
            for _ in range(3):
                with tracer.start_as_current_span("work"):
                    with tracer.start_as_current_span("step"):
                        pass
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0
    assert counts(report) == {"work": 12, "step": 12}


def test_b_app_sets_its_provider_at_import(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(app=APP_PROVIDER)
    pytester.makepyfile(
        """
        from opentelemetry import trace
        import app

        exporter = app.make_provider()  # at import time of the test module
        tracer = trace.get_tracer(__name__)

        def test_one():
            for _ in range(5):
                with tracer.start_as_current_span("llm_inference"):
                    pass

        def test_app_still_gets_every_span():
            assert len(exporter.get_finished_spans()) == 5
        """
    )
    result, report = run_llmobs()
    result.assert_outcomes(passed=2)
    assert counts(report) == {"llm_inference": 5}


def test_c_app_sets_its_provider_in_a_session_fixture(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(app=APP_PROVIDER)
    pytester.makeconftest(
        """
        import pytest
        import app

        @pytest.fixture(scope="session")
        def exporter():
            return app.make_provider()
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from opentelemetry import trace

        @pytest.mark.parametrize("i", range(3))
        def test_calls(exporter, i):
            tracer = trace.get_tracer("t")
            with tracer.start_as_current_span("llm_request"):
                with tracer.start_as_current_span("llm_inference"):
                    pass

        def test_app_still_gets_every_span(exporter):
            assert len(exporter.get_finished_spans()) == 6
        """
    )
    result, report = run_llmobs()
    result.assert_outcomes(passed=4)
    assert counts(report) == {"llm_request": 3, "llm_inference": 3}


def test_c_tracer_taken_at_import_follows_the_provider_set_later(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    # The tracer exists before the app's provider: the spans must still reach the app.
    pytester.makepyfile(app=APP_PROVIDER)
    pytester.makeconftest(
        """
        import pytest
        from opentelemetry import trace
        import app

        @pytest.fixture(scope="session")
        def exporter():
            # apps often configure only when nothing is configured yet
            assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
            return app.make_provider()
        """
    )
    pytester.makepyfile(
        """
        from opentelemetry import trace

        tracer = trace.get_tracer(__name__)

        def test_before_the_app_configures():
            with tracer.start_as_current_span("early"):
                pass

        def test_after(exporter):
            for _ in range(3):
                with tracer.start_as_current_span("late"):
                    pass
            assert [s.name for s in exporter.get_finished_spans()] == ["late"] * 3
        """
    )
    result, report = run_llmobs()
    result.assert_outcomes(passed=2)
    assert counts(report) == {"early": 1, "late": 3}


def test_d_spans_ended_on_worker_threads(pytester: pytest.Pytester, run_llmobs: Any) -> None:
    pytester.makepyfile(
        """
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from opentelemetry import trace

        tracer = trace.get_tracer(__name__)

        def call(_):
            with tracer.start_as_current_span("threaded_call"):
                pass

        def test_pool():
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(call, range(40)))

        def test_thread():
            thread = threading.Thread(target=lambda: [call(i) for i in range(10)])
            thread.start()
            thread.join()
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0
    assert counts(report) == {"threaded_call": 50}


LAZY_PROXY = """
class Lazy:
    @property
    def __class__(self):
        raise RuntimeError("settings are not configured")

SETTINGS = Lazy()
"""


@pytest.mark.parametrize("beside", ["", LAZY_PROXY], ids=["alone", "beside-a-lazy-proxy"])
def test_provider_created_before_the_session_is_found(
    pytester: pytest.Pytester, run_llmobs: Any, beside: str
) -> None:
    # conftest.py is imported before pytest_configure: its provider already exists then.
    # Beside it, a lazy proxy (Django's LazyObject answers `__class__` from the object it
    # sets up on first use): the search for existing providers must not run user code.
    pytester.makeconftest(
        "from opentelemetry.sdk.trace import TracerProvider\nPROVIDER = TracerProvider()\n" + beside
    )
    pytester.makepyfile(
        """
        from conftest import PROVIDER

        def test_uses_a_private_provider():
            with PROVIDER.get_tracer("t").start_as_current_span("private"):
                pass
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0, result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()
    assert counts(report) == {"private": 1}


def test_non_sdk_provider_gets_one_clear_warning(
    pytester: pytest.Pytester, run_llmobs: Any
) -> None:
    pytester.makepyfile(
        """
        from opentelemetry import trace

        class VendorProvider(trace.TracerProvider):
            def get_tracer(self, *args, **kwargs):
                return trace.NoOpTracer()

        trace.set_tracer_provider(VendorProvider())

        def test_one():
            with trace.get_tracer("t").start_as_current_span("invisible"):
                pass
        """
    )
    result, report = run_llmobs()
    assert result.ret == 0
    assert report["series"] == []
    [warning] = report["warnings"]
    assert "VendorProvider" in warning
    assert "has no add_span_processor()" in warning
    result.stdout.fnmatch_lines(["warning: the global TracerProvider is *VendorProvider*"])


def test_without_llmobs_nothing_is_installed_or_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys
        from opentelemetry import trace

        def test_nothing_heavy():
            heavy = {"numpy", "scipy", "opentelemetry.sdk", "pytest_llmobs.run.session"}
            assert heavy.isdisjoint(sys.modules), heavy & set(sys.modules)
            # nothing of the folders that capture, analyse or report a run
            folders = ("capture", "analysis", "report", "command", "export")
            loaded = [m for m in sys.modules if m.split(".")[1:2] and m.split(".")[1] in folders]
            assert [m for m in loaded if m.startswith("pytest_llmobs.")] == []
            assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*= llmobs: *")
