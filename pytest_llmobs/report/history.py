"""Run history: each run's summary appended to a local SQLite file, read back for trends.

One file, no server: keep it as a cached CI artifact (README, "In CI"). A run appends
one row to `runs` and one per series to `series`; nothing is ever rewritten.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pytest_llmobs.gate.model import SeriesStats

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    git_commit TEXT,
    verdict TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    series TEXT NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    p50 REAL NOT NULL,
    p95 REAL NOT NULL,
    p99 REAL NOT NULL,
    quality TEXT NOT NULL,
    PRIMARY KEY (run_id, series)
);
"""


class HistoryError(Exception):
    """The history file cannot be used; the message names it."""


@dataclass(frozen=True)
class SeriesPoint:
    """One series in one run."""

    count: int
    errors: int
    p50: float
    p95: float
    p99: float
    quality: dict[str, float] = field(default_factory=dict)  # attribute -> mean

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Run:
    """One run's summary, oldest runs first in a History."""

    created_at: str
    git_commit: str | None
    verdict: str
    series: dict[str, SeriesPoint]  # by series label


def append(
    path: Path, created_at: str, git_commit: str | None, verdict: str,
    series: tuple[SeriesStats, ...],
) -> None:  # fmt: skip
    """Append one run's summary.

    Raises:
        HistoryError: the file cannot be opened or is not a history file.
    """
    with _connect(path) as db:
        cursor = db.execute(
            "INSERT INTO runs (created_at, git_commit, verdict) VALUES (?, ?, ?)",
            (created_at, git_commit, verdict),
        )
        db.executemany(
            "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    cursor.lastrowid,
                    s.key.label,
                    s.count,
                    s.errors,
                    s.latency.p50,
                    s.latency.p95,
                    s.latency.p99,
                    json.dumps({a: q.mean for a, q in sorted(s.quality.items())}),
                )
                for s in series
            ],
        )


def load(path: Path, last: int = 100) -> list[Run]:
    """The last runs, oldest first.

    Raises:
        FileNotFoundError: there is no file at path.
        HistoryError: the file is not a readable history file.
    """
    if not path.is_file():
        raise FileNotFoundError(path)
    with _connect(path) as db:
        runs = db.execute(
            "SELECT id, created_at, git_commit, verdict FROM runs ORDER BY id DESC LIMIT ?",
            (last,),
        ).fetchall()
        found = []
        for run_id, created_at, commit, verdict in reversed(runs):
            rows = db.execute(
                "SELECT series, count, errors, p50, p95, p99, quality FROM series"
                " WHERE run_id = ? ORDER BY series",
                (run_id,),
            ).fetchall()
            points = {
                label: SeriesPoint(count, errors, p50, p95, p99, _quality(quality))
                for label, count, errors, p50, p95, p99, quality in rows
            }
            found.append(Run(created_at, commit, verdict, points))
    return found


def _quality(text: str) -> dict[str, float]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30)  # waits for another writer: xdist-safe
    except (OSError, sqlite3.Error) as exc:
        raise HistoryError(f"{path}: cannot open the history: {exc}") from None
    try:
        with db:  # one transaction: a run's rows land together or not at all
            db.executescript(_SCHEMA)
            yield db
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{path}: not a usable history file: {exc}") from None
    finally:
        db.close()
