"""What llmobs options do in a run without --llmobs: turn the gate on, stop the run, or warn."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmobs.config.options import OPTIONS
from pytest_llmobs.config.settings import ConfigError, Source, resolve
from pytest_llmobs.run import early_parse


def is_on(value: object) -> bool:
    """Whether a source's value of `llmobs` turns the gate on (`llmobs = false` does not;
    a bad value is left for resolve() to refuse)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no")
    return value not in (None, False, [])


def typed_without_gate(config: pytest.Config, cli: dict[str, object]) -> bool:
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


def warn_unused(config: pytest.Config, sources: list[Source], refused: dict[str, str]) -> None:
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
