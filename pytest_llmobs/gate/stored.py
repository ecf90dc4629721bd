"""Series as a file keeps them: samples bounded to about SAMPLE_LIMIT a series, values to
SIGNIFICANT digits; and series brought to that form in memory, so the gate judges a run
exactly as its saved run report will be judged again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import numpy as np

from pytest_llmobs.gate.model import LatencySummary, QualitySummary, SeriesStats
from pytest_llmobs.gate.semconv import COST_ATTRIBUTE, TOKEN_METRICS, metric_of

SAMPLE_LIMIT = 1000
SIGNIFICANT = 6  # digits a stored value keeps, whatever its magnitude
# Where a file keeps the means (and samples) of a series' numeric attributes: quality
# scores under "quality" by attribute, token counts under "tokens" by kind, the cost
# under "cost_usd". Files of version 1 kept all three under "quality" by attribute.
TOKENS, COST = "tokens", "cost_usd"
_TOKEN_KINDS = {metric.partition(".")[2]: attr for metric, attr in TOKEN_METRICS.items()}
V = TypeVar("V")


def significant(value: float) -> float:
    """A value rounded to SIGNIFICANT digits."""
    return float(f"{value:.{SIGNIFICANT}g}")


def significants(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Values rounded to SIGNIFICANT digits, each by its own magnitude (vectorised: the
    result of dividing by a power of ten that floats hold exactly prints as a short
    decimal)."""
    result = values.astype(np.float64)
    scaled = np.flatnonzero((result != 0) & (np.abs(result) > 1e-280) & np.isfinite(result))
    if len(scaled) == 0:
        return result
    chosen = result[scaled]
    exponent = (SIGNIFICANT - 1) - np.floor(np.log10(np.abs(chosen))).astype(np.int64)
    up = exponent >= 0
    power = 10.0 ** np.abs(exponent)
    result[scaled] = np.where(
        up, np.round(chosen * power) / power, np.round(chosen / power) * power
    )
    return result


def bounded(
    values: np.ndarray[Any, Any], case: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The values sorted by (case, value), at most about SAMPLE_LIMIT of them, with their cases.

    Beyond the limit, every case keeps one value and the rest of the limit is shared in
    proportion to the cases' other values (largest remainders), each case's kept values
    evenly spaced order statistics of its own: the same run gives the same bytes, and a
    bounded sample bounded again stays as it is.
    """
    order = np.lexsort((values, case))
    ordered, owner = values[order], case[order]
    if len(values) <= SAMPLE_LIMIT:
        return ordered, owner
    starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    sizes = np.diff(np.append(starts, len(owner)))
    keep = _shares(sizes)
    first = np.repeat(starts, keep)
    size = np.repeat(sizes, keep)
    count = np.repeat(keep, keep)
    rank = np.arange(int(keep.sum())) - np.repeat(np.cumsum(keep) - keep, keep)
    spaced = np.round(rank * (size - 1) / np.maximum(count - 1, 1)).astype(np.int64)
    position = first + np.where(count > 1, spaced, (size - 1) // 2)
    return ordered[position], owner[position]


def _shares(sizes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """How many values each case keeps: one each, and what is left of SAMPLE_LIMIT in
    proportion to their other values, by largest remainders (so at most the limit, or one
    a case when there are more cases than that)."""
    spare = SAMPLE_LIMIT - len(sizes)
    if spare <= 0:
        return np.ones(len(sizes), dtype=np.int64)
    share = spare * (sizes - 1) / (int(sizes.sum()) - len(sizes))
    keep = np.floor(share).astype(np.int64)
    left = spare - int(keep.sum())
    keep[np.argsort(keep - share, kind="stable")[:left]] += 1  # largest remainders first
    return 1 + keep


def as_stored(series: Sequence[SeriesStats]) -> tuple[SeriesStats, ...]:
    """Series exactly as a run report or baseline file holds them, read back (bounded
    samples, rounded values, cases by name), without the detour through JSON. The gate
    judges these, so that a run judged now and its run report judged later (`llmobs
    compare`) give the same numbers."""
    return tuple(_stored(s) for s in series)


def _stored(stats: SeriesStats) -> SeriesStats:
    # cases by name, as a file names them, before bounding: which cases keep one value
    # more (a tie of remainders) then depends on their names only, not on the order in
    # which tests ran, so a run split into shards and combined keeps the same samples
    pairs = [(stats.latency_samples, stats.latency_case)]
    pairs += [(v, stats.quality_case.get(a)) for a, v in stats.quality_samples.items()]
    present = range(len(stats.cases)) if stats.present is None else stats.present.tolist()
    names = {stats.cases[i] for i in present}
    for values, case in pairs:
        if case is None or len(case) != len(values):
            names.add("")  # no case information: spans outside tests
        else:
            names.update(stats.cases[i] for i in np.unique(case).tolist())
    cases = tuple(sorted(names))
    position = {name: i for i, name in enumerate(cases)}
    rank = np.array([position.get(name, -1) for name in stats.cases], dtype=np.int64)

    def kept(values: np.ndarray[Any, Any], case: np.ndarray[Any, Any] | None) -> tuple[Any, Any]:
        if case is None or len(case) != len(values):
            owner = np.full(len(values), position.get("", 0), dtype=np.int64)
        else:
            owner = rank[case]
        values, owner = bounded(values, owner)
        return significants(values), owner

    latency_values, latency_case = kept(*pairs[0])
    samples = {a: kept(*pair) for a, pair in zip(stats.quality_samples, pairs[1:], strict=True)}
    for attr in stats.quality:  # a summary without samples compares on none, as loaded
        samples.setdefault(attr, (np.empty(0), np.empty(0, dtype=np.int64)))
    return SeriesStats(
        key=stats.key, count=stats.count, errors=stats.errors,
        latency=LatencySummary(
            **{k: significant(v) for k, v in asdict(stats.latency).items()}
        ),
        quality={
            attr: QualitySummary(q.count, significant(q.mean)) for attr, q in stats.quality.items()
        },
        latency_samples=latency_values, quality_samples={a: v for a, (v, _) in samples.items()},
        cases=cases, latency_case=latency_case,
        quality_case={a: c for a, (_, c) in samples.items()}, cache_hits=stats.cache_hits,
    )  # fmt: skip


def kept_values(
    values: np.ndarray[Any, Any],
    case: np.ndarray[Any, Any] | None,
    cases: tuple[str, ...],
    every: bool = False,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], tuple[str, ...]]:
    """The values a file keeps (bounded, rounded; or every one as it is, sorted by case
    and value alike), each one's case, and the case names."""
    if case is None or len(case) != len(values):
        case, cases = np.zeros(len(values), dtype=np.int64), ("",)
    if every:
        order = np.lexsort((values, case))
        return values[order], case[order], cases
    kept, owner = bounded(values, case)
    return significants(kept), owner, cases


def by_kind(by_attribute: Mapping[str, V]) -> dict[str, Any]:
    """Values keyed by attribute, as a file keeps them: `{"quality": {attribute: v},
    "tokens": {"input": v, "output": v}, "cost_usd": v}`; "tokens" and "cost_usd" only
    when there are any."""
    kept: dict[str, Any] = {"quality": {}}
    for attribute, value in by_attribute.items():
        metric = metric_of(attribute)
        if metric.startswith("tokens."):
            kept.setdefault(TOKENS, {})[metric.partition(".")[2]] = value
        elif metric == "cost":
            kept[COST] = value
        else:
            kept["quality"][attribute] = value
    return kept


def by_attribute(entry: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """The values of a series' or a case's entry in a file, keyed by attribute, each with
    its place in the entry (`tokens.input`); the inverse of `by_kind`, which also reads
    tokens and cost under "quality", where files of version 1 keep them.

    Raises:
        ValueError: a part is not an object, a token kind is unknown, or one attribute is
            given twice; the message starts with the place.
    """
    if "quality" not in entry and TOKENS not in entry and COST not in entry:
        return {}  # most entries: a case of latencies alone (a shard has thousands)
    found: dict[str, tuple[str, Any]] = {}
    places = [(f"quality.{a}", a, v) for a, v in _object(entry, "quality").items()]
    for kind, value in _object(entry, TOKENS).items():
        if kind not in _TOKEN_KINDS:
            known = " or ".join(sorted(_TOKEN_KINDS))
            raise ValueError(f"{TOKENS}.{kind}: unknown token count (known: {known})")
        places.append((f"{TOKENS}.{kind}", _TOKEN_KINDS[kind], value))
    if COST in entry:
        places.append((COST, COST_ATTRIBUTE, entry[COST]))
    for place, attribute, value in places:
        if attribute in found:
            raise ValueError(f"{place}: given twice, also as {found[attribute][0]}")
        found[attribute] = (place, value)
    return dict(sorted(found.items()))  # as version 1 gave them: in the order of their names


def _object(entry: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = entry.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be an object")
    return value
