"""Entry module of the pytest plugin: options, then the run's session object when enabled."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest  # noqa: TID251 (the pytest face of the package: pytest11 = llmobs)

from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.run.read_settings import read_settings

if TYPE_CHECKING:
    from pytest_llmobs.run.fixture import LlmobsFixture
    from pytest_llmobs.run.session import LlmobsSession

session_key: pytest.StashKey[LlmobsSession] = pytest.StashKey()

_METAVARS = {
    "path": "PATH", "names": "NAMES", "float": "NUMBER", "rate": "RATE", "int": "N",
    "count": "N", "number": "NUMBER", "severity": "SEVERITY", "endpoint": "HOST:PORT",
    "seconds": "SECONDS", "url": "URL", "text": "NAME", "timeout": "SECONDS",
}  # fmt: skip
_TYPED_INI = pytest.version_tuple >= (9, 2)  # addini takes type expressions (str | float)


def pytest_addoption(parser: pytest.Parser) -> None:
    """At start-up: every setting as a command line flag and an ini key."""
    group = parser.getgroup(
        "llmobs", "LLM observability regression gate (give values with =, as --llmobs-json=PATH)"
    )
    for option in OPTIONS:
        if option.kind == "bool":
            group.addoption(option.flag, action="store_true", default=None, help=option.help)
        else:
            metavar = _METAVARS[option.kind]
            group.addoption(option.flag, default=None, metavar=metavar, help=option.help)
        # converted with the other sources, so a bad value gets our message
        parser.addini(option.ini, option.help, type=option.ini_type(_TYPED_INI), default=None)


def pytest_configure(config: pytest.Config) -> None:
    """After option parsing: build and register the session object if --llmobs is on."""
    config.addinivalue_line(
        "markers",
        "llmobs({metric: spec}, **specs): judge the spans of this test as series of their "
        'own, with these rules, e.g. @pytest.mark.llmobs(latency_p95="+50%")',
    )
    settings = read_settings(config)
    if not settings.enabled:
        return
    # Only if the SDK is loaded already can a provider exist that must be searched for.
    sdk_loaded = any(
        m in sys.modules for m in ("opentelemetry.sdk.trace", "opentelemetry.sdk._logs")
    )
    from pytest_llmobs.run.session import LlmobsSession

    llmobs = LlmobsSession(config, settings, find_existing=sdk_loaded)
    config.stash[session_key] = llmobs
    config.pluginmanager.register(llmobs, "llmobs-session")
    llmobs.start()


@pytest.fixture
def llmobs(request: pytest.FixtureRequest) -> LlmobsFixture:
    """The running test's spans, span tree and tokens, and `score()` to record a quality
    score for it (needs `pytest --llmobs`)."""
    session = request.config.stash.get(session_key, None)
    if session is None:
        pytest.fail("the llmobs fixture needs `pytest --llmobs`", pytrace=False)
    from pytest_llmobs.run.fixture import LlmobsFixture

    return LlmobsFixture(session.recorder, session.settings.aliases)


def pytest_unconfigure(config: pytest.Config) -> None:
    """At the very end: take the capture out again."""
    llmobs = config.stash.get(session_key, None)
    if llmobs is not None:
        llmobs.stop()
        config.pluginmanager.unregister(llmobs)
        del config.stash[session_key]
