"""What this run asked pytest for, read off its config: the paths, what --ignore left
out, single tests named, --lf; with the tests that ran, the run's side of `RanTests`."""

from __future__ import annotations

import os
from collections.abc import Set
from pathlib import Path

import pytest

from pytest_llmobs.gate.selection import RanTests
from pytest_llmobs.run.xdist import Marks


def ran_tests(config: pytest.Config, ran: Set[str], started: Set[str], marked: Marks) -> RanTests:
    """This run's test ids and how it chose them (`before` is left for the baseline's).

    Args:
        config: the run's config.
        ran: the test ids whose body ran.
        started: the test ids that reported anything (the selected ones that started).
        marked: what collection decided (deselected, collected, files skipped whole).
    """
    now = frozenset(ran)
    narrowed, paths = _asked(config)
    ignored, globs = _ignored(config)
    partial = bool(config.getoption("lf", False))  # --lf drops tests without deselecting
    return RanTests(
        now, frozenset(), frozenset(started) - now, frozenset(marked.deselected), narrowed,
        frozenset(marked.collected), partial, frozenset(marked.skipped_files), paths,
        config.rootpath, ignored, globs,
    )  # fmt: skip


def _asked(config: pytest.Config) -> tuple[frozenset[str], tuple[str, ...]]:
    """What the command line asked for, relative to the rootdir as test ids are: the files
    of which it named single tests (`file.py::test_x`), and every file and folder."""
    narrowed, paths = set(), []
    for arg in config.args:
        path, sep, _ = arg.partition("::")
        relative = _relative(config, path)
        if relative is None:  # outside the rootdir: no test id starts there
            continue
        paths.append(relative)
        if sep:
            narrowed.add(relative)
    return frozenset(narrowed), tuple(paths)


def _ignored(config: pytest.Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What --ignore and --ignore-glob left out: paths relative to the rootdir, and the
    globs as pytest matches them (absolute)."""
    here = config.invocation_params.dir
    paths = (_relative(config, p) for p in config.getoption("ignore", None) or [])
    globs = (os.path.abspath(here / g) for g in config.getoption("ignore_glob", None) or [])
    return tuple(p for p in paths if p is not None), tuple(globs)


def _relative(config: pytest.Config, path: str) -> str | None:
    """A path as test ids name it: relative to the rootdir, links kept as pytest keeps
    them ("" for the rootdir itself); None outside the rootdir."""
    full = os.path.abspath(config.invocation_params.dir / path)
    relative = os.path.relpath(full, os.path.abspath(config.rootpath))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return "" if relative == "." else Path(relative).as_posix()
