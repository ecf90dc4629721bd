"""Which of the baseline's test cases this run judged, and why the others were not.

A baseline test case that did not run was deselected (-k, -m, --deselect, --lf), lies
outside this run's paths, was skipped (its body did not run: a skip marker, a missing
API key, a setup error), or is gone: its file ran but it did not, so it was renamed (a
parametrize id follows the prompt's text) or removed. Deselection and narrower paths
are a choice; what skipped and gone test cases measured was not judged as asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SHOWN = 3  # test ids named in a sentence; the run report lists every one


@dataclass(frozen=True)
class RanTests:
    """The test ids of both runs: whose body ran now (`now`) and then (`before`), those of
    this run selected but not run (`skipped`) or deselected, and the files of which the
    command line named single tests (`narrowed`: `file.py::test_x`)."""

    now: frozenset[str]
    before: frozenset[str]
    skipped: frozenset[str] = frozenset()
    deselected: frozenset[str] = frozenset()
    narrowed: frozenset[str] = frozenset()

    @property
    def both(self) -> frozenset[str]:
        return self.now & self.before

    @property
    def skipped_now(self) -> frozenset[str]:
        """Baseline test cases selected in this run whose body did not run."""
        return (self.before & self.skipped) - self.now

    @property
    def gone(self) -> frozenset[str]:
        """Baseline test cases not in this run although their file was: renamed, removed."""
        files = {file_of(t) for t in (*self.now, *self.skipped, *self.deselected)}
        files -= self.narrowed  # only the tests named there were asked for
        seen = self.now | self.skipped | self.deselected
        return frozenset(t for t in self.before - seen if file_of(t) in files)

    def failures(self) -> tuple[str, ...]:
        """Why nothing of the baseline could be judged: no test ran, or none it knows."""
        if not self.before:
            return ()
        if not self.now:
            skipped = f" ({len(self.skipped)} selected, none ran)" if self.skipped else ""
            return (f"no test ran in this run{skipped}: nothing was judged against the baseline",)
        if self.before & (self.now | self.skipped | self.deselected):
            return ()  # some of its test cases were collected: a selection, judged as such
        return (
            f"this run shares no test id with the baseline (it has e.g. {min(self.before)!r}, "
            f"this run {min(self.now)!r}): it was recorded from another rootdir, the tests "
            "were renamed, or only new tests ran; run from the folder it was recorded in, "
            "or re-record it with --llmobs-update-baseline",
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
        if gone:
            new = len(self.now - self.before)
            found.append(
                f"{_count(gone)} of the baseline did not run although their files did (renamed "
                f"or removed; {new} test case(s) are new): {listed(gone)}; what they measured "
                "was not judged: re-record the baseline with --llmobs-update-baseline"
            )
        return tuple(found)


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
