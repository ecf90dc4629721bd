"""Guard against pytest's early parse reading an llmobs option's value as a test path.

pytest finds the rootdir and the config file before plugins load, when it does not know
`--llmobs-json` yet: the next word, if that file exists, counts as a test path and may
move the rootdir and the config file (pytest issues #906, #8846). A gate run under the
wrong config passes what it must fail, so such a run stops before any test.
"""

from __future__ import annotations

import inspect
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.settings import OPTIONS

VALUE_FLAGS = frozenset(o.flag for o in OPTIONS if o.kind != "bool")


def separated(args: Sequence[str]) -> list[tuple[str, str]]:
    """Each llmobs option given with its value as the next word: (flag, value)."""
    found = []
    for i, arg in enumerate(args[:-1]):
        if arg == "--":  # what follows is positional
            break
        if arg in VALUE_FLAGS:
            found.append((arg, args[i + 1]))
    return found


def moved_setup(config: pytest.Config) -> str | None:
    """Why this run must stop, when a separate word moved the rootdir or config file.

    Returns:
        One line naming the options, the rootdir and config file pytest chose because of
        them and the ones it would have chosen, and the fix; None when nothing moved.
    """
    raw = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *config.invocation_params.args]
    words = separated(raw)
    here = config.invocation_params.dir
    existing = [(f, v) for f, v in words if (here / v.split("::")[0]).exists()]
    if not existing:
        return None  # a word that names no file is not taken for a test path
    chosen = (config.rootpath, config.inipath)
    would = _setup_without(config, raw)
    if would == chosen:
        return None
    given = ", ".join(f"{f} {v}" for f, v in existing)
    value = "these values as test paths, since they exist" if len(existing) > 1 else (
        "the value as a test path, since it exists"
    )  # fmt: skip
    fix = " ".join(f"{f}={v}" for f, v in words)
    moved = f"rootdir {chosen[0]} and config file {chosen[1] or 'none'}"
    if would is None:  # pytest's own logic could not be asked: assume the worst
        return f"{given}: pytest may have read {value}, and chosen {moved}; write {fix}"
    return (
        f"{given}: pytest read {value}, and so chose {moved} instead of rootdir {would[0]} "
        f"and config file {would[1] or 'none'}; write {fix}"
    )


def _setup_without(config: pytest.Config, raw: Sequence[str]) -> tuple[Path, Path | None] | None:
    """The rootdir and config file pytest would choose from the test paths alone.

    Asks pytest's own function, so the answer follows pytest's rules in every version;
    None when it cannot be asked (a future pytest that renamed it).
    """
    try:
        # The one private name this plugin uses: no public API answers "what would pytest
        # have chosen", and re-implementing its rules would drift from them.
        from _pytest.config.findpaths import determine_setup
    except ImportError:
        return None
    paths = [a for a in config.getoption("file_or_dir") or [] if a in raw]
    known: dict[str, Any] = {
        "inifile": config.getoption("inifilename"),
        "override_ini": config.getoption("override_ini"),
        "args": paths,
        "rootdir_cmd_arg": config.getoption("rootdir") or None,
        "invocation_dir": config.invocation_params.dir,
    }
    try:
        accepted = inspect.signature(determine_setup).parameters
        result = determine_setup(**{k: v for k, v in known.items() if k in accepted})
    except Exception:  # a config file that only the other choice would read, say
        return None
    return Path(result[0]), None if result[1] is None else Path(result[1])
