"""Which of the baseline's test cases this run judged, and why the others were not.

A baseline test case that did not run was deselected (-k, -m, --deselect, --lf), lies
outside this run's paths, was skipped (its body did not run: a skip marker, a missing
API key, a setup error, a module skipped whole), or is gone: its file was asked for (or
no longer exists) but it did not run, so it was renamed (a parametrize id follows the
prompt's text) or removed. Deselection and narrower paths are a choice; what skipped
and gone test cases measured was not judged as asked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

SHOWN = 3  # test ids named in a sentence; the run report lists every one


@dataclass(frozen=True)
class RanTests:
    """The test ids of both runs, and how this run chose its tests.

    `now` and `before` ran their body in this run and the baseline's. Of this run:
    `skipped` were selected but their body did not run, `skipped_files` were skipped
    whole (a module-level skip), `deselected` were left out by -k, -m, --deselect or
    --lf, `collected` were selected at all; `narrowed` are the files of which the
    command line named single tests (`file.py::test_x`); `partial` says a plugin left
    tests out while collecting (--lf); `paths` are the folders and files the run
    collected from, relative to the rootdir ("" for all of it; None when not known);
    `root` is the rootdir, to tell a baseline file that is gone from one left out.
    """

    now: frozenset[str]
    before: frozenset[str]
    skipped: frozenset[str] = frozenset()
    deselected: frozenset[str] = frozenset()
    narrowed: frozenset[str] = frozenset()
    collected: frozenset[str] = frozenset()
    partial: bool = False
    skipped_files: frozenset[str] = frozenset()
    paths: tuple[str, ...] | None = None
    root: Path | None = None
    ignored: tuple[str, ...] = ()  # --ignore, relative to the rootdir
    ignored_globs: tuple[str, ...] = ()  # --ignore-glob, as absolute patterns

    @property
    def both(self) -> frozenset[str]:
        return self.now & self.before

    @cached_property  # asked for several times; it looks at every baseline test id
    def skipped_now(self) -> frozenset[str]:
        """Baseline test cases selected in this run whose body did not run."""
        missed = self.before - self.now - self.deselected
        return frozenset(
            t for t in missed if t in self.skipped or _under(file_of(t), self.skipped_files)
        )  # a module, or a folder whose conftest.py skipped, skipped whole

    @cached_property  # asked for several times; it may look for files on disk
    def gone(self) -> frozenset[str]:
        """Baseline test cases this run did not have although it asked for their file:
        renamed (a parametrize id follows the prompt's text) or removed."""
        if self.partial:
            return frozenset()
        seen = self.now | self.skipped | self.deselected | self.collected
        return frozenset(
            t for t in self.before - seen - self.skipped_now
            if file_of(t) not in self.narrowed and (self._asked(t) or not self._exists(t))
        )  # fmt: skip

    def _asked(self, test: str) -> bool:
        """Whether the test's file lies within the paths this run collected from, and was
        not ignored (--ignore, --ignore-glob)."""
        file = file_of(test)
        if _under(file, self.ignored) or (
            self.root is not None
            and any(fnmatch.fnmatch(str(self.root / file), g) for g in self.ignored_globs)
        ):
            return False
        return self.paths is None or _under(file, self.paths)

    def _exists(self, test: str) -> bool:
        return self.root is None or (self.root / file_of(test)).exists()

    def left_out(self) -> frozenset[str]:
        """Baseline test cases that still exist but this run did not run: deselected,
        skipped, outside the paths asked for, or left out by --lf. A new baseline must not
        drop them: what they measured would never be judged again."""
        stopped = self.collected - self.skipped - self.now  # interrupted: refused apart
        return self.before - self.now - self.gone - stopped

    def failures(self) -> tuple[str, ...]:
        """Why nothing of the baseline could be judged: no test ran although tests were
        selected, or the run asked for the baseline's tests and has none of them."""
        if not self.before:
            return ()
        selected = self.collected | self.skipped
        if not self.now:
            if not selected and self.deselected and not self.skipped_files:
                return ()  # every test deselected: pytest says so (exit status 5)
            ran = f" ({len(selected)} selected, none ran)" if selected else ""
            return (f"no test ran in this run{ran}: nothing was judged against the baseline",)
        if self.before & (self.now | selected | self.deselected) or not self.gone:
            return ()  # a selection: what it left out is listed, not failed
        return (
            f"this run shares no test id with the baseline (it has e.g. {min(self.before)!r}, "
            f"this run {min(self.now)!r}): it was recorded from another rootdir, or the "
            "tests were renamed; run from the folder it was recorded in, or re-record it "
            "with --llmobs-update-baseline",
        )

    def unjudged(self) -> tuple[str, ...]:
        """What the baseline's test cases measured that this run could not judge as asked:
        CI mode fails on it, a local run only says it."""
        found = []
        skipped, gone = sorted(self.skipped_now), sorted(self.gone)
        if skipped:
            were = "was" if len(skipped) == 1 else "were"
            found.append(
                f"{_count(skipped)} of the baseline {were} selected but did not run (skipped, "
                f"or an error in setup): {listed(skipped)}; what they measured was not judged"
            )
        if gone and self.both:
            new = len(self.now - self.before)
            found.append(
                f"{_count(gone)} of the baseline did not run although their files were asked "
                f"for (renamed or removed; {new} test case(s) are new): {listed(gone)}; what "
                "they measured was not judged: re-record the baseline with --llmobs-update-baseline"
            )
        return tuple(found)


def _under(file: str, prefixes: Iterable[str]) -> bool:
    """Whether a file (as test ids name it) is one of, or lies in one of, these paths."""
    return any(p in ("", file) or file.startswith(p + "/") for p in prefixes)


def file_of(test_id: str) -> str:
    """The file part of a test id."""
    return test_id.partition("::")[0]


def _count(tests: list[str]) -> str:
    return f"{len(tests)} test case{'s' if len(tests) != 1 else ''}"


def listed(items: Iterable[str], shown: int = SHOWN) -> str:
    """The first few items, and how many more: `a, b, c and 37 more`."""
    found = list(items)
    text = ", ".join(found[:shown])
    return text + (f" and {len(found) - shown} more" if len(found) > shown else "")
