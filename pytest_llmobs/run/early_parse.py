"""Guard against pytest choosing another rootdir or config file than the user meant.

pytest finds the rootdir and the config file before plugins load, when it does not know
`--llmobs-json` yet: the next word, if that file exists, counts as a test path and may
move the rootdir and the config file (pytest issues #906, #8846). A gate run under the
wrong config passes what it must fail, so such a run stops before any test; so does a
run whose settings sit in a pyproject.toml pytest does not read.
"""

from __future__ import annotations

import inspect
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_llmobs.config.options import OPTIONS

VALUE_FLAGS = frozenset(o.flag for o in OPTIONS if o.kind != "bool")
Setup = tuple[Path, Path | None]  # a rootdir and a config file


def separated(args: Sequence[str]) -> list[tuple[str, str]]:
    """Each llmobs option given with its value as the next word: (flag, value)."""
    found = []
    for i, arg in enumerate(args[:-1]):
        if arg == "--":  # what follows is positional
            break
        if arg in VALUE_FLAGS:
            found.append((arg, args[i + 1]))
    return found


def typed(config: pytest.Config) -> set[str]:
    """The llmobs flags typed on this command line (`@file` arguments expanded, nothing
    after `--`), with or without `=value`; not those from addopts or PYTEST_ADDOPTS."""
    found = set()
    for arg in expanded(_args(config)):
        if arg == "--":
            break
        found.add(arg.partition("=")[0])
    return found & {o.flag for o in OPTIONS}


def expanded(args: Sequence[str], depth: int = 0) -> list[str]:
    """The arguments with `@file` replaced by the file's lines, as pytest's parser does."""
    result: list[str] = []
    for arg in args:
        if arg.startswith("@") and depth < 10:
            try:
                lines = Path(arg[1:]).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                result.append(arg)  # pytest itself will say what is wrong with it
                continue
            result.extend(expanded(lines, depth + 1))
        else:
            result.append(arg)
    return result


def moved_setup(config: pytest.Config, enabled: bool) -> str | None:
    """Why this run must stop, when a separate word moved the rootdir or config file.

    Args:
        config: the run's config.
        enabled: whether the gate is on; then a move by any other plugin's option is
            caught too, since the gate's settings come from the config file (so is one
            that hides a config file which would have turned the gate on).

    Returns:
        One line naming the words, the rootdir and config file pytest chose because of
        them and the ones it would have chosen, and the fix; None when nothing moved.
    """
    raw = expanded([*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *_args(config)])
    # (--help and --version parse no test paths at all)
    here, positional = config.invocation_params.dir, config.getoption("file_or_dir", None) or []
    # words that are no test path yet name a file: pytest's early parse took them for one
    strays = {a for a in raw if not a.startswith("-") and a not in positional}
    strays = {a for a in strays if _exists(here / a.split("::")[0])}
    if not strays:
        return None
    ours = [(f, v) for f, v in separated(raw) if v in strays]
    chosen: Setup = (config.rootpath, config.inipath)
    paths = [a for a in positional if a in raw]
    found = _setup(config, paths)
    if found is None:  # pytest's own logic could not be asked: assume the worst for ours
        return _may_have(ours, chosen, raw) if ours else None
    would = found[:2]
    if would == chosen:
        return None
    moved = f"rootdir {chosen[0]} and config file {chosen[1] or 'none'}"
    instead = f"instead of rootdir {would[0]} and config file {would[1] or 'none'}"
    # in the order pytest saw them: it takes the config file of the first that has one
    words = {*paths, *(v for _, v in ours)}
    with_ours = _setup(config, [a for a in raw if a in words]) if ours else None
    if with_ours is not None and with_ours[:2] == chosen:
        given = ", ".join(f"{f} {v}" for f, v in ours)
        what = "these values as test paths, since they exist" if len(ours) > 1 else (
            "the value as a test path, since it exists"
        )  # fmt: skip
        fix = " ".join(f"{f}={v}" for f, v in separated(raw))
        return f"{given}: pytest read {what}, and so chose {moved} {instead}; write {fix}"
    if not (enabled or _enables(found[2])):
        return None
    return (
        f"pytest chose {moved} {instead}, which the test paths alone give: the value of "
        "an option given as a separate word (such as `--cov src`) was read as a test path;"
        " give option values with = (--option=value)"
    )


def _may_have(ours: list[tuple[str, str]], chosen: Setup, raw: Sequence[str]) -> str:
    given = ", ".join(f"{f} {v}" for f, v in ours)
    fix = " ".join(f"{f}={v}" for f, v in separated(raw))
    moved = f"rootdir {chosen[0]} and config file {chosen[1] or 'none'}"
    return (
        f"{given}: pytest may have read the value as a test path and so chosen {moved}; write {fix}"
    )


def _enables(inicfg: Any) -> bool:
    """Whether an ini configuration turns the gate on (`llmobs = true`, or `--llmobs` in
    addopts); values are plain in pytest 8, wrapped (`.value`) in pytest 9."""
    if not isinstance(inicfg, dict):
        return False
    on, addopts = (getattr(inicfg.get(k), "value", inicfg.get(k)) for k in ("llmobs", "addopts"))
    words = addopts.split() if isinstance(addopts, str) else addopts or []
    return str(on).strip().lower() in ("true", "1", "yes") or "--llmobs" in words


def pyprojects(config: pytest.Config) -> set[Path]:
    """The pyproject.toml files a user may mean for settings: in the folder pytest runs
    from, and in the folders from each test path up to the rootdir."""
    here, root = config.invocation_params.dir, config.rootpath
    found = set()
    for arg in (".", *(a.partition("::")[0] for a in config.args)):
        start = here / arg
        folder = start if start.is_dir() else start.parent
        for above in (folder, *folder.parents):
            if (above / "pyproject.toml").is_file():
                found.add(above / "pyproject.toml")
            if above in (root, here) or above in root.parents:
                break
    return found


def _args(config: pytest.Config) -> list[str]:
    return [str(a) for a in config.invocation_params.args]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a file either way
        return False


def _setup(config: pytest.Config, paths: Sequence[str]) -> tuple[Path, Path | None, Any] | None:
    """The rootdir, config file and ini values pytest would choose for these test paths.

    Asks pytest's own function, so the answer follows pytest's rules in every version;
    None when it cannot be asked (a future pytest that renamed it).
    """
    try:
        # Private, as is Config._get_unknown_ini_keys (plugin.py): no public API answers
        # "what would pytest have chosen", and re-implementing its rules would drift.
        from _pytest.config.findpaths import determine_setup  # noqa: TID251
    except ImportError:
        return None
    known: dict[str, Any] = {
        "inifile": config.getoption("inifilename", None),
        "override_ini": config.getoption("override_ini", None),
        "args": list(paths),
        "rootdir_cmd_arg": config.getoption("rootdir", None) or None,
        "invocation_dir": config.invocation_params.dir,
    }
    try:
        accepted = inspect.signature(determine_setup).parameters
        result = determine_setup(**{k: v for k, v in known.items() if k in accepted})
    except Exception:  # a config file that only the other choice would read, say
        return None
    return Path(result[0]), None if result[1] is None else Path(result[1]), result[2]
