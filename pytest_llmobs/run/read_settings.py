"""The run's settings, read from what pytest parsed (the command line, -o, the ini file),
then from pyproject.toml and the CI's environment, as one frozen Settings."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.config.settings import (
    ConfigError,
    Settings,
    Source,
    ci_environment,
    load_pyproject,
    resolve,
    unread_table,
)
from pytest_llmobs.config.toml_ini import toml_ini_value
from pytest_llmobs.config.unmatched import closest
from pytest_llmobs.run import early_parse
from pytest_llmobs.run.without_gate import is_on, typed_without_gate, warn_unused


def read_settings(config: pytest.Config) -> Settings:
    """The run's settings, resolved once (CLI > env > ini/pyproject > default).

    Args:
        config: the run's config, once pytest parsed its options.

    Returns:
        The settings; those of a run without the gate (`Settings()`) when it is off.

    Raises:
        pytest.UsageError: a setting is bad (with --llmobs-json, its run report says so).
    """
    cli = {o.name: getattr(config.option, o.flag[2:].replace("-", "_")) for o in OPTIONS}
    try:
        return _resolved(config, cli)
    except ConfigError as exc:
        if cli["json"]:  # nothing is lost: the run report says why no test ran
            from pytest_llmobs.report.run import write_error_report

            write_error_report(config.invocation_params.dir / cli["json"], str(exc))
        raise pytest.UsageError(f"llmobs: {exc}") from None


def _resolved(config: pytest.Config, cli: dict[str, object]) -> Settings:
    refused: dict[str, str] = {}  # why values of ini keys could not be read
    sources = _read_by_pytest(config, cli, refused)
    # cheap, before pyproject.toml is read: a run without the gate costs nothing, and
    # fails on no llmobs key but the one that says whether the gate is on
    enabled = any(is_on(s.values.get("enabled")) for s in sources)
    if not enabled and typed_without_gate(config, cli):  # as if --llmobs were typed too
        enabled, typed = True, sources[0]
        sources[0] = replace(typed, values={**typed.values, "enabled": True})
    if refused and (enabled or "llmobs" in refused):
        raise ConfigError(next(iter(refused.values())))
    # settings read from a config file pytest chose by mistake must not be used
    worker = hasattr(config, "workerinput")
    moved = None if worker else early_parse.moved_setup(config, enabled)
    if moved is not None:
        raise ConfigError(moved)
    if not enabled:
        warn_unused(config, sources, refused)
        return Settings()
    for candidate in early_parse.pyprojects(config):  # settings pytest would not read
        lost = unread_table(candidate, _pyproject(config), config.rootpath)
        if lost:
            raise ConfigError(lost)
    pyproject = _pyproject(config)
    sources.append(load_pyproject(pyproject))
    sources.append(ci_environment(os.environ, config.invocation_params.dir))
    settings = resolve(sources, config.rootpath)
    if settings.shard and settings.json is None:
        raise ConfigError(
            "a shard (--llmobs-shard, llmobs_shard, or shard in [tool.llmobs]) is its run"
            " report: add --llmobs-json=SHARD.json"
        )
    notes = (*settings.notes, *_unknown_ini(config))
    return replace(settings, notes=notes, pyproject=pyproject)


def _read_by_pytest(
    config: pytest.Config, cli: dict[str, object], refused: dict[str, str]
) -> list[Source]:
    """The sources pytest read: the command line, -o values and the ini file."""
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    ini = {o.name: _ini(config, o.ini, refused) for o in OPTIONS}
    here = config.invocation_params.dir
    overridden = _overridden(config)  # -o values, which pytest hands over as the file's
    by_o = {o.name: ini.pop(o.name) for o in OPTIONS if o.ini in overridden}
    # a flag typed here wins over the same flag in addopts (pytest puts those first)
    typed = early_parse.typed(config)
    by_hand = {o.name: cli[o.name] for o in OPTIONS if o.flag in typed}
    added = {o.name: cli[o.name] for o in OPTIONS if o.flag not in typed}
    return [
        Source("command line", by_hand, here, "flag"),
        Source("addopts or PYTEST_ADDOPTS", added, here, "flag"),
        Source("-o on the command line", by_o, here, "ini"),
        Source(f"ini file {config.inipath}", ini, ini_dir, "ini"),
    ]


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
