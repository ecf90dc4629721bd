"""The baseline file: series summaries and bounded samples, versioned, written atomically."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_llmobs.gate.aggregate import PERCENTILES
from pytest_llmobs.gate.jsonfile import dumps
from pytest_llmobs.gate.model import LatencySummary, QualitySummary, SeriesKey, SeriesStats
from pytest_llmobs.gate.shape import Shape
from pytest_llmobs.gate.stored import bounded, by_attribute, by_kind, kept_values, significant

SCHEMA_PREFIX = "pytest-llmobs/"  # of every file this plugin writes
BASELINE_SCHEMA = SCHEMA_PREFIX + "baseline"
RUN_SCHEMA = SCHEMA_PREFIX + "run"
# 2: tokens and cost under keys of their own ("tokens", "cost_usd"), no longer under
# "quality", where a reader of version 1 would miss them and stop gating them. Both read.
SCHEMA_VERSION = 2
# A file this plugin writes holds at most SAMPLE_LIMIT samples per series and metric
# (~9 KB); larger files are refused before reading, so loading stays bounded in memory.
MAX_FILE_BYTES = 128 * 1024 * 1024
LATENCY_FIELDS = (*tuple(f"p{p:g}" for p in PERCENTILES), "mean", "max")
# The top-level schema line as `baseline_document` and the run report write it (sorted
# keys, two spaces: nested keys have more), by which a truncated file is known as ours
SCHEMA_LINE = re.compile(rf'^  "schema": "{re.escape(SCHEMA_PREFIX)}[a-z]+",\r?$', re.MULTILINE)


class BaselineError(Exception):
    """A baseline or run file cannot be used; the message names the file and the problem."""


class NewerVersion(BaselineError):
    """A file of a newer schema version than this pytest-llmobs reads."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class SeriesFile:
    """A loaded baseline or run report: its series and metadata."""

    path: Path
    schema: str
    series: tuple[SeriesStats, ...]
    metadata: Mapping[str, Any]
    settings: Shape | None = None  # what shaped its series; None in older files
    tests: frozenset[str] | None = None  # the test ids that ran; None in older files


def series_to_json(stats: SeriesStats) -> dict[str, Any]:
    """A series as plain JSON types, samples bounded and rounded (to SIGNIFICANT digits,
    so a $0.000002 cost keeps its precision as a 2,000 ms latency does) for small, stable
    files."""
    return {
        "name": stats.key.name,
        "key": stats.key.label,
        "group": dict(stats.key.group),
        "count": stats.count,
        "cache_hits": stats.cache_hits,
        "errors": stats.errors,
        "error_rate": round(stats.error_rate, 6),
        "latency_ms": {k: significant(v) for k, v in asdict(stats.latency).items()},
        **by_kind(
            {a: {"count": q.count, "mean": significant(q.mean)} for a, q in stats.quality.items()}
        ),
        "cases": _cases_to_json(stats),
    }


def _cases_to_json(stats: SeriesStats) -> dict[str, Any]:
    """Samples by test case ("" for spans outside tests or without case information)."""
    cases: dict[str, Any] = {
        case: {"latency_ms": values}
        for case, values in _kept(stats.latency_samples, stats.latency_case, stats.cases)
    }
    scores: dict[str, dict[str, list[float]]] = {}
    for attr, values in stats.quality_samples.items():
        owner = stats.quality_case.get(attr)
        for case, kept in _kept(values, owner, stats.cases):
            scores.setdefault(case, {})[attr] = kept
    for case, found in scores.items():
        entry = cases.setdefault(case, {"latency_ms": []})
        entry.update((k, v) for k, v in by_kind(found).items() if v)  # no empty "quality"
    present = range(len(stats.cases)) if stats.present is None else stats.present.tolist()
    for i in present:  # cases of cache hits alone, too
        cases.setdefault(stats.cases[i], {"latency_ms": []})
    return cases


def _kept(
    values: np.ndarray[Any, Any], case: np.ndarray[Any, Any] | None, cases: tuple[str, ...]
) -> list[tuple[str, list[float]]]:
    """Each case's values, sorted and rounded; bounded to SAMPLE_LIMIT for the series."""
    if len(values) == 0:
        return []
    rounded, owner, names = kept_values(values, case, cases)
    starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    parts = np.split(rounded, starts[1:])
    return [
        (names[i], part.tolist()) for i, part in zip(owner[starts].tolist(), parts, strict=True)
    ]


def baseline_document(
    series: Sequence[SeriesStats],
    metadata: Mapping[str, Any],
    settings: Shape | None = None,
    tests: Iterable[str] | None = None,
) -> str:
    """The text of a baseline file: series, and what shaped them, when known."""
    doc: dict[str, Any] = {
        "schema": BASELINE_SCHEMA,
        "version": SCHEMA_VERSION,
        "metadata": dict(metadata),
        "series": [series_to_json(s) for s in series],
    }
    if settings is not None:
        doc["settings"] = settings.to_json()
    if tests is not None:
        doc["tests"] = sorted(tests)
    return dumps(doc) + "\n"


def load(path: Path, schemas: Sequence[str] = (BASELINE_SCHEMA, RUN_SCHEMA)) -> SeriesFile:
    """Read a baseline (or a run report, which holds the same series).

    Raises:
        FileNotFoundError: there is no file at path.
        BaselineError: the file exists but is not a usable baseline.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BaselineError(
                f"{path}: {size / 2**20:.0f} MB is more than a baseline may be "
                f"({MAX_FILE_BYTES // 2**20} MB); record it again with "
                "`pytest --llmobs --llmobs-update-baseline`, which bounds its samples"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "empty" if not raw.strip() else f"not valid JSON ({exc})"
        raise BaselineError(f"{path}: {what}") from None
    return _parse(path, doc, schemas)


def foreign(path: Path) -> str | None:
    """Why the file at path must not be overwritten with a baseline: it is no file of this
    plugin (a baseline path pointed at another file); None when there is none, or it is
    empty, or a file this plugin wrote, even a truncated one.

    A file of this plugin is a JSON object whose `schema` starts `pytest-llmobs/`; one that
    is no longer valid JSON (cut short) must start as the writer starts it and hold its
    top-level schema line: another file that only mentions the schema (a README) is no
    baseline.
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # no more than a baseline may hold
    except OSError:  # none there, or unreadable: writing it says why
        return None
    if not raw.strip():
        return None
    text = raw[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
    if len(raw) <= MAX_FILE_BYTES:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            pass  # cut short, or no JSON at all: told apart by the text below
        else:
            schema = doc.get("schema") if isinstance(doc, dict) else None
            ours = isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX)
            return None if ours else _foreign(path)
    if text.startswith("{") and SCHEMA_LINE.search(text):
        return None
    return _foreign(path)


def _foreign(path: Path) -> str:
    return (
        f"{path} is not a pytest-llmobs baseline: give the baseline's path, or delete the "
        "file to record a new one there"
    )


def _parse(path: Path, doc: Any, schemas: Sequence[str]) -> SeriesFile:
    if not isinstance(doc, dict) or doc.get("schema") not in schemas:
        raise BaselineError(f"{path}: not a pytest-llmobs file (no known 'schema' field)")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(f"{path}: 'version' must be a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise NewerVersion(
            f"{path}: schema version {version} needs a newer pytest-llmobs "
            f"(this one reads version {SCHEMA_VERSION}); upgrade pytest-llmobs",
            version,
        )
    if version < 1:
        raise BaselineError(f"{path}: unknown schema version {version}")
    series = _field(path, doc, "series", list, "series")
    metadata = doc.get("metadata", {})
    parsed = tuple(_series(path, item, f"series[{i}]") for i, item in enumerate(series))
    try:
        settings = Shape.from_json(doc["settings"]) if "settings" in doc else None
    except ValueError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    tests = doc.get("tests")
    if tests is not None and (
        not isinstance(tests, list) or not all(isinstance(t, str) for t in tests)
    ):
        raise BaselineError(f"{path}: tests must be a list of test ids, got {tests!r:.40}")
    return SeriesFile(
        path, doc["schema"], parsed, metadata if isinstance(metadata, dict) else {},
        settings, None if tests is None else frozenset(tests),
    )  # fmt: skip


def _series(path: Path, item: Any, where: str) -> SeriesStats:
    if not isinstance(item, dict):
        raise BaselineError(f"{path}: {where} must be an object")
    name = _field(path, item, "name", str, where)
    group = _field(path, item, "group", dict, where) if "group" in item else {}
    count = _number(path, item, "count", where, integer=True)
    errors = _number(path, item, "errors", where, integer=True)
    if errors > count:
        raise BaselineError(f"{path}: {where}.errors ({errors}) exceeds its count ({count})")
    latency = _field(path, item, "latency_ms", dict, where)
    quality = _attributes(path, item, where, dict)
    samples = _case_samples(path, _field(path, item, "cases", dict, where), f"{where}.cases")
    for attr in quality:  # a summary without samples (edited by hand) compares on none
        samples["quality_samples"].setdefault(attr, np.empty(0))
        samples["quality_case"].setdefault(attr, np.empty(0, dtype=np.int64))
    return SeriesStats(
        key=SeriesKey(name, tuple(sorted((str(k), str(v)) for k, v in group.items()))),
        count=int(count),
        errors=int(errors),
        latency=LatencySummary(
            **{f: _number(path, latency, f, f"{where}.latency_ms") for f in LATENCY_FIELDS}
        ),
        quality={
            attr: QualitySummary(
                count=int(_number(path, q, "count", f"{where}.{place}", integer=True)),
                mean=_number(path, q, "mean", f"{where}.{place}", signed=True),
            )
            for attr, (place, q) in quality.items()
        },
        cache_hits=int(
            _number(path, item, "cache_hits", where, integer=True) if "cache_hits" in item else 0
        ),
        **samples,
    )


def _case_samples(path: Path, cases: dict[str, Any], where: str) -> dict[str, Any]:
    """The flat sample arrays of a series, with the case index of each sample."""
    names = tuple(sorted(cases))
    latency, quality = [], []
    for case in names:
        entry = _objects(path, {case: cases[case]}, where)[case]
        place = f"{where}[{case!r}]"
        latency.append(_numbers(path, entry.get("latency_ms"), f"{place}.latency_ms"))
        scores = _attributes(path, entry, place, list)
        quality.append({a: _numbers(path, v, f"{place}.{at}") for a, (at, v) in scores.items()})
    attributes = sorted({a for scores in quality for a in scores})
    # A file written by hand or by another tool may hold far more samples than this
    # plugin writes: keep what it would have kept, so comparing stays bounded too.
    flat_quality = {
        a: bounded(*_flatten([q.get(a, np.empty(0)) for q in quality])) for a in attributes
    }
    latency_values, latency_case = bounded(*_flatten(latency))
    return {
        "latency_samples": latency_values,
        "latency_case": latency_case,
        "quality_samples": {a: values for a, (values, _) in flat_quality.items()},
        "quality_case": {a: case for a, (_, case) in flat_quality.items()},
        "cases": names,
    }


def _flatten(parts: list[np.ndarray[Any, Any]]) -> tuple[Any, Any]:
    """Concatenated values, and for each the index of the part it came from."""
    values = np.concatenate(parts) if parts else np.empty(0)
    index = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
    return values, index


def _field(path: Path, obj: Any, name: str, kind: type, where: str) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise BaselineError(f"{path}: {where}.{name} must be a {kind.__name__}, got {value!r:.40}")
    return value


def _objects(path: Path, obj: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    for key, value in obj.items():
        if not isinstance(value, dict):
            raise BaselineError(f"{path}: {where}.{key} must be an object")
    return obj


def _number(
    path: Path, obj: Any, name: str, where: str, *, integer: bool = False, signed: bool = False
) -> float:
    value = obj.get(name) if isinstance(obj, dict) else None
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if (
        number is None
        or (integer and not isinstance(number, int))
        or not math.isfinite(number)
        or (number < 0 and not signed)
    ):
        kind = "a whole number >= 0" if integer else "a finite number" + ("" if signed else " >= 0")
        raise BaselineError(f"{path}: {where}.{name} must be {kind}, got {value!r:.40}")
    return float(number)


def _numbers(path: Path, values: Any, where: str) -> np.ndarray[Any, Any]:
    if not isinstance(values, list) or not all(type(v) in (int, float) for v in values):
        raise BaselineError(f"{path}: {where} must be a list of numbers")
    array = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise BaselineError(f"{path}: {where} must hold finite numbers only")
    return array


def _attributes(
    path: Path, entry: dict[str, Any], where: str, kind: type
) -> dict[str, tuple[str, Any]]:
    """The quality, token and cost values of an entry (summaries or samples, of `kind`), by
    attribute, each with its place: under their own keys, or all under "quality" (version 1).
    """
    try:
        found = by_attribute(entry)
    except ValueError as exc:
        raise BaselineError(f"{path}: {where}.{exc}") from None
    for place, value in found.values():
        if not isinstance(value, kind):
            what = "an object" if kind is dict else "a list of numbers"
            raise BaselineError(f"{path}: {where}.{place} must be {what}")
    return found
