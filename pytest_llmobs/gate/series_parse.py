"""Series read back from a baseline or run report, every field checked, samples bounded
as the writer bounds them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pytest_llmobs.gate.aggregate import PERCENTILES
from pytest_llmobs.gate.model import LatencySummary, QualitySummary, SeriesKey, SeriesStats
from pytest_llmobs.gate.stored import bounded, by_attribute

LATENCY_FIELDS = (*tuple(f"p{p:g}" for p in PERCENTILES), "mean", "max")


class SeriesError(ValueError):
    """A series is malformed; the message says where in the document, not which file."""


def series_from_document(doc: dict[str, Any], every: bool = False) -> tuple[SeriesStats, ...]:
    """The series of a file's document, samples bounded as the plugin bounds them; or
    every one, as a shard keeps them for `llmobs combine`.

    Raises:
        SeriesError: a field is missing, of the wrong type or out of range.
    """
    series = _field(doc, "series", list, "series")
    return tuple(_series(item, f"series[{i}]", every) for i, item in enumerate(series))


def _series(item: Any, where: str, every: bool) -> SeriesStats:
    if not isinstance(item, dict):
        raise SeriesError(f"{where} must be an object")
    name = _field(item, "name", str, where)
    group = _field(item, "group", dict, where) if "group" in item else {}
    count = _number(item, "count", where, integer=True)
    errors = _number(item, "errors", where, integer=True)
    if errors > count:
        raise SeriesError(f"{where}.errors ({errors}) exceeds its count ({count})")
    latency = _field(item, "latency_ms", dict, where)
    quality = _attributes(item, where, dict)
    samples = _case_samples(_field(item, "cases", dict, where), f"{where}.cases", every)
    for attr in quality:  # a summary without samples (edited by hand) compares on none
        samples["quality_samples"].setdefault(attr, np.empty(0))
        samples["quality_case"].setdefault(attr, np.empty(0, dtype=np.int64))
    return SeriesStats(
        key=SeriesKey(name, tuple(sorted((str(k), str(v)) for k, v in group.items()))),
        count=int(count),
        errors=int(errors),
        latency=LatencySummary(
            **{f: _number(latency, f, f"{where}.latency_ms") for f in LATENCY_FIELDS}
        ),
        quality={
            attr: QualitySummary(
                count=int(_number(q, "count", f"{where}.{place}", integer=True)),
                mean=_number(q, "mean", f"{where}.{place}", signed=True),
            )
            for attr, (place, q) in quality.items()
        },
        cache_hits=int(
            _number(item, "cache_hits", where, integer=True) if "cache_hits" in item else 0
        ),
        **samples,
    )


def _case_samples(cases: dict[str, Any], where: str, every: bool) -> dict[str, Any]:
    """The flat sample arrays of a series, with the case index of each sample (numbers of
    all cases checked and converted at once: a shard holds thousands of cases)."""
    names = tuple(sorted(cases))
    latency: list[tuple[int, str, Any]] = []
    quality: dict[str, list[tuple[int, str, Any]]] = {}
    for index, case in enumerate(names):
        entry = _objects({case: cases[case]}, where)[case]
        place = f"{where}[{case!r}]"
        latency.append((index, f"{place}.latency_ms", entry.get("latency_ms")))
        for attr, (at, values) in _attributes(entry, place, list).items():
            quality.setdefault(attr, []).append((index, f"{place}.{at}", values))

    # A file written by hand or by another tool may hold far more samples than this
    # plugin writes: keep what it would have kept, so comparing stays bounded too.
    def keep(parts: list[tuple[int, str, Any]]) -> tuple[Any, Any]:
        values, case = _flat_numbers(parts)
        return (values, case) if every else bounded(values, case)

    flat_quality = {a: keep(parts) for a, parts in sorted(quality.items())}
    latency_values, latency_case = keep(latency)
    return {
        "latency_samples": latency_values,
        "latency_case": latency_case,
        "quality_samples": {a: values for a, (values, _) in flat_quality.items()},
        "quality_case": {a: case for a, (_, case) in flat_quality.items()},
        "cases": names,
    }


def _flat_numbers(parts: list[tuple[int, str, Any]]) -> tuple[Any, Any]:
    """The values of (case index, place, list of numbers) parts, concatenated, and each
    one's case index.

    Raises:
        SeriesError: a part is not a list of finite numbers; the message names its place.
    """
    flat: list[Any] = []
    sizes = []
    for _, place, values in parts:
        if not isinstance(values, list):
            raise SeriesError(f"{place} must be a list of numbers")
        flat.extend(values)
        sizes.append(len(values))
    if not all(type(v) in (int, float) for v in flat):
        bad = next(p for _, p, v in parts if not all(type(x) in (int, float) for x in v))
        raise SeriesError(f"{bad} must be a list of numbers")
    values = np.array(flat, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        at = int(np.searchsorted(np.cumsum(sizes), int(np.argmin(finite)), side="right"))
        raise SeriesError(f"{parts[at][1]} must hold finite numbers only")
    case = np.repeat(np.array([i for i, _, _ in parts], dtype=np.int64), sizes)
    return values, case


def _field(obj: Any, name: str, kind: type, where: str) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise SeriesError(f"{where}.{name} must be a {kind.__name__}, got {value!r:.40}")
    return value


def _objects(obj: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    for key, value in obj.items():
        if not isinstance(value, dict):
            raise SeriesError(f"{where}.{key} must be an object")
    return obj


def _number(
    obj: Any, name: str, where: str, *, integer: bool = False, signed: bool = False
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
        raise SeriesError(f"{where}.{name} must be {kind}, got {value!r:.40}")
    return float(number)


def _attributes(entry: dict[str, Any], where: str, kind: type) -> dict[str, tuple[str, Any]]:
    """The quality, token and cost values of an entry (summaries or samples, of `kind`), by
    attribute, each with its place: under their own keys, or all under "quality" (version 1).
    """
    try:
        found = by_attribute(entry)
    except ValueError as exc:
        raise SeriesError(f"{where}.{exc}") from None
    for place, value in found.values():
        if not isinstance(value, kind):
            what = "an object" if kind is dict else "a list of numbers"
            raise SeriesError(f"{where}.{place} must be {what}")
    return found
