"""What the `llmobs` command reads: saved run reports, baselines and history files, and
the pyproject.toml whose rules apply; each refused with a message that names it."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_llmobs.config.pyproject_table import PYPROJECT_TABLE
from pytest_llmobs.config.settings import (
    ConfigError,
    Settings,
    Source,
    ci_environment,
    load_pyproject,
    resolve,
)
from pytest_llmobs.config.toml_ini import ini_values
from pytest_llmobs.gate import baseline
from pytest_llmobs.report import history
from pytest_llmobs.report.result import RunResult
from pytest_llmobs.report.run import result_from_document


class BadInput(Exception):
    """An input file cannot be used; the message names it."""


def load_series(path: Path) -> baseline.SeriesFile:
    """A baseline or run report, as a file of series."""
    try:
        return baseline.load(path)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except baseline.BaselineError as exc:
        raise BadInput(str(exc)) from None


def run_report(path: Path, what: str) -> tuple[baseline.SeriesFile, RunResult]:
    """A run report (a judged run's or a shard's), as a file of series and as it was
    judged; refused when it is a baseline, named as what was expected instead."""
    try:
        run, doc = baseline.load_document(path)  # read and parsed once: shards are large
        if run.schema == baseline.BASELINE_SCHEMA:
            raise BadInput(f"{path}: a baseline, not {what}")
        return run, result_from_document(path, run, doc)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except baseline.BaselineError as exc:
        raise BadInput(str(exc)) from None


def saved_run(path: Path) -> tuple[baseline.SeriesFile, RunResult]:
    """A run report, as a file of series and as it was judged; refused when it is a
    baseline or a shard's, or reports a run that never captured (stopped by its
    configuration)."""
    run, result = run_report(path, "a run report (the file --llmobs-json writes)")
    if result.shard is not None:
        raise BadInput(
            f"{path}: a shard (--llmobs-shard), which is not judged alone: combine the"
            " shards first with `llmobs combine SHARD.json... -o RUN.json`"
        )
    if result.capture is None and result.errors:  # written for a run its settings stopped
        why = "; ".join(result.errors)
        raise BadInput(f"{path}: the run it reports stopped before any test: {why}")
    return run, result


def history_runs(path: Path, last: int = 100) -> list[history.Run]:
    """The last runs of a history file, oldest first."""
    try:
        return history.load(path, last)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except history.HistoryError as exc:
        raise BadInput(str(exc)) from None


def command_settings(config: Path | None, nearest: bool = True) -> Settings:
    """The settings of a pyproject.toml (config, else the nearest one, unless not
    `nearest`: then the defaults): its pytest table's llmobs ini keys, then its
    `[tool.llmobs]` table (the plugin's order), CI mode as the plugin decides it (those,
    else the environment variable CI)."""
    path = _pyproject(config) if nearest else config
    if config is not None and not config.is_file():
        raise BadInput(f"{config}: no such file")
    try:
        sources = [load_pyproject(path)] if path is not None else []
        if path is not None and (keys := ini_values(path)):
            sources.insert(0, Source(f"the pytest table of {path}", keys, path.parent, "ini"))
        sources.append(ci_environment(os.environ, Path.cwd()))
        return resolve(sources, path.parent if path is not None else Path.cwd())
    except ConfigError as exc:
        raise BadInput(str(exc)) from None


def rules_from(config: Path | None) -> str:
    """Which file the rules came from, so a job's log shows which were applied."""
    path = _pyproject(config)
    if path is None:
        return f"rules: the defaults (no pyproject.toml in {Path.cwd()} or above)"
    if not load_pyproject(path).values:  # read once already: it parses
        return f"rules: the defaults ({path.resolve()} has no {PYPROJECT_TABLE} table)"
    return f"rules: {PYPROJECT_TABLE} in {path.resolve()}"


def _pyproject(config: Path | None) -> Path | None:
    """The pyproject.toml whose settings apply: --config, else the nearest one."""
    return config or nearest_pyproject(Path.cwd())


def nearest_pyproject(start: Path) -> Path | None:
    """The pyproject.toml in start or the nearest folder above it."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None
