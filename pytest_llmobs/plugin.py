"""Entry module of the pytest plugin: options, then the run's session object when enabled."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest  # noqa: TID251 (the pytest face of the package: pytest11 = llmobs)

from pytest_llmobs.options import OPTIONS
from pytest_llmobs.run import early_parse
from pytest_llmobs.settings import (
    ConfigError,
    Settings,
    Source,
    ci_environment,
    load_pyproject,
    resolve,
    unread_table,
)
from pytest_llmobs.toml_ini import toml_ini_value
from pytest_llmobs.unmatched import closest

if TYPE_CHECKING:
    from pytest_llmobs.run.fixture import LlmobsFixture
    from pytest_llmobs.run.session import LlmobsSession

session_key: pytest.StashKey[LlmobsSession] = pytest.StashKey()

_METAVARS = {
    "path": "PATH", "names": "NAMES", "float": "NUMBER", "rate": "RATE", "int": "N",
    "count": "N", "number": "NUMBER", "severity": "SEVERITY",
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
    settings = _settings(config)
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


def _settings(config: pytest.Config) -> Settings:
    cli = {o.name: getattr(config.option, o.flag[2:].replace("-", "_")) for o in OPTIONS}
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    try:
        refused: dict[str, str] = {}  # why values of ini keys could not be read
        ini = {o.name: _ini(config, o.ini, refused) for o in OPTIONS}
        here = config.invocation_params.dir
        overridden = _overridden(config)  # -o values, which pytest hands over as the file's
        by_o = {o.name: ini.pop(o.name) for o in OPTIONS if o.ini in overridden}
        sources = [
            Source("command line", cli, here, "flag"),
            Source("-o on the command line", by_o, here, "ini"),
            Source(f"ini file {config.inipath}", ini, ini_dir, "ini"),
        ]
        # cheap, before pyproject.toml is read: a run without the gate costs nothing, and
        # fails on no llmobs key but the one that says whether the gate is on
        enabled = any(_on(s.values.get("enabled")) for s in sources)
        if not enabled:
            enabled = cli["enabled"] = _typed_without_gate(config, cli)
        if refused and (enabled or "llmobs" in refused):
            raise ConfigError(next(iter(refused.values())))
        # settings read from a config file pytest chose by mistake must not be used
        worker = hasattr(config, "workerinput")
        moved = None if worker else early_parse.moved_setup(config, enabled)
        if moved is not None:
            raise ConfigError(moved)
        if not enabled:
            _warn_unused(config, sources, refused)
            return Settings()
        for candidate in early_parse.pyprojects(config):  # settings pytest would not read
            lost = unread_table(candidate, _pyproject(config), config.rootpath)
            if lost:
                raise ConfigError(lost)
        sources.append(load_pyproject(_pyproject(config)))
        sources.append(ci_environment(os.environ, config.invocation_params.dir))
        return replace(resolve(sources, config.rootpath), notes=_unknown_ini(config))
    except ConfigError as exc:
        if cli["json"]:  # nothing is lost: the run report says why no test ran
            from pytest_llmobs.report.run import write_error_report

            write_error_report(config.invocation_params.dir / cli["json"], str(exc))
        raise pytest.UsageError(f"llmobs: {exc}") from None


def _warn_unused(config: pytest.Config, sources: list[Source], refused: dict[str, str]) -> None:
    """A value a run with --llmobs would stop on, said as a warning in a run without it
    (which goes on: it uses none of them); the pyproject table is not read for it."""
    problems = list(refused.values())
    try:
        resolve(sources, config.rootpath)
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        warning = f"llmobs: {problems[0]} (a run with --llmobs stops on it)"
        config.issue_config_time_warning(pytest.PytestConfigWarning(warning), stacklevel=2)


def _on(value: object) -> bool:
    """Whether a source's value of `llmobs` turns the gate on (`llmobs = false` does not;
    a bad value is left for resolve() to refuse)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no")
    return value not in (None, False, [])


def _typed_without_gate(config: pytest.Config, cli: dict[str, object]) -> bool:
    """Whether --llmobs-update-baseline, typed without --llmobs, turns the gate on (it
    clearly means it). Another llmobs option typed without it stops the run: it would do
    nothing (a bad value says so first). Options from addopts or PYTEST_ADDOPTS, often
    set for the runs that add --llmobs, do nothing without it, as before."""
    flags = early_parse.typed(config)
    typed = [o for o in OPTIONS if o.name != "enabled" and o.flag in flags]
    if any(o.name == "update_baseline" for o in typed):
        return True
    if typed:
        given = {o.name: cli[o.name] for o in typed}
        resolve([Source("command line", given, config.invocation_params.dir, "flag")], Path())
        flag = typed[0].flag
        raise ConfigError(f"{flag} does nothing without --llmobs: add --llmobs to this run")
    return False


def _unknown_ini(config: pytest.Config) -> tuple[str, ...]:
    """A line for each `llmobs_*` ini key no option has, with the closest one's name
    (pytest's own warning names the key only)."""
    try:  # private, as pytest has no public answer; pytest's own warning stays if it goes
        unknown = set(config._get_unknown_ini_keys())
    except Exception:  # pragma: no cover - a pytest that changed it warns on its own
        unknown = set()
    known = [o.ini for o in OPTIONS]
    overridden = _overridden(config)
    unknown |= overridden - set(known)  # pytest 8 leaves -o keys out of its answer
    return tuple(
        f"{key} ({'-o on the command line' if key in overridden else f'ini file {config.inipath}'})"
        f" is no llmobs setting and does nothing{closest(key, known)}"
        for key in sorted(unknown)
        if key.startswith("llmobs")
    )


def _overridden(config: pytest.Config) -> set[str]:
    """The ini keys given with -o/--override-ini."""
    return {o.partition("=")[0].strip() for o in config.getoption("override_ini") or ()}


def _ini(config: pytest.Config, name: str, refused: dict[str, str]) -> object:
    """An ini value as written, for resolve() to convert; None with why in `refused` if unread."""
    try:
        return config.getini(name)
    except (TypeError, ValueError, pytest.UsageError, pytest.PytestWarning) as exc:
        # a TOML value's type pytest refuses (natives before 9.2, -W error): read the file
        value = toml_ini_value(config.inipath, name, config.getoption("override_ini") or ())
        if value is None:
            refused[name] = f"{name} (ini file {config.inipath}): {exc}"
        return value


def _pyproject(config: pytest.Config) -> Path:
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    return config.rootpath / "pyproject.toml"
