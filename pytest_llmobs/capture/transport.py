"""SpanTables as plain payloads (str, int, bytes, lists, dicts) and merged back into one.

pytest-xdist ships worker output through execnet, which takes only plain Python types:
numeric columns travel as raw little-endian bytes, which is fast and exact; attribute
values and events (detail) as lists of plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_llmobs.gate.model import RECEIVED_NO_TEST, AttrValue, SpanEvent, SpanTable

PAYLOAD_VERSION = 3
_COLUMNS = {
    "name_idx": "<i8",
    "test_idx": "<i8",
    "start_ns": "<i8",
    "duration_ns": "<i8",
    "error": "|b1",
    "trace_hi": "<u8",
    "trace_lo": "<u8",
    "span_id": "<u8",
    "parent_id": "<u8",
}


class PayloadError(Exception):
    """A payload cannot be read back; the message says what is wrong."""


def to_payload(table: SpanTable) -> dict[str, Any]:
    """The table as plain types only."""
    return {
        "version": PAYLOAD_VERSION,
        "names": list(table.names),
        "tests": list(table.tests),
        "columns": {
            name: np.ascontiguousarray(getattr(table, name), dtype=dtype).tobytes()
            for name, dtype in _COLUMNS.items()
        },
        "numeric": {
            key: [rows.astype("<i8").tobytes(), values.astype("<f8").tobytes()]
            for key, (rows, values) in table.numeric.items()
        },
        "detailed": table.has_detail.astype("|b1").tobytes(),
        "detail": {
            key: [rows.astype("<i8").tobytes(), list(values)]
            for key, (rows, values) in table.detail.items()
        },
        "events": [[e.row, e.name, e.time_ns, dict(e.attributes)] for e in table.events],
        "received": None if table.received is None else table.received.astype("|i1").tobytes(),
    }


def from_payload(payload: Any) -> SpanTable:
    """Read a payload back.

    Raises:
        PayloadError: it is not a payload of this version, or its columns disagree.
    """
    try:
        if payload["version"] != PAYLOAD_VERSION:
            raise PayloadError(f"payload version {payload['version']!r} is not {PAYLOAD_VERSION}")
        columns = {
            name: np.frombuffer(payload["columns"][name], dtype=dtype).astype(dtype[1:])
            for name, dtype in _COLUMNS.items()
        }
        numeric = {
            str(key): (
                np.frombuffer(rows, dtype="<i8").astype(np.int64),
                np.frombuffer(values, dtype="<f8").astype(np.float64),
            )
            for key, (rows, values) in payload["numeric"].items()
        }
        detail = {
            str(key): (np.frombuffer(rows, dtype="<i8").astype(np.int64), tuple(values))
            for key, (rows, values) in payload["detail"].items()
        }
        events = tuple(
            SpanEvent(int(row), str(name), int(time_ns), dict(attributes))
            for row, name, time_ns, attributes in payload["events"]
        )
        received = payload["received"]
        table = SpanTable(
            names=tuple(str(n) for n in payload["names"]),
            tests=tuple(str(t) for t in payload["tests"]),
            numeric=numeric,
            detailed=np.frombuffer(payload["detailed"], dtype="|b1").astype(np.bool_),
            detail=detail,
            events=events,
            received=None if received is None else np.frombuffer(received, "|i1").astype(np.int8),
            **columns,
        )
    except PayloadError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"malformed payload ({type(exc).__name__}: {exc})") from None
    _check(table)
    return table


def _check(table: SpanTable) -> None:
    n = len(table.name_idx)
    if any(len(getattr(table, name)) != n for name in _COLUMNS):
        raise PayloadError("columns of different lengths")
    if n and (
        np.max(table.name_idx) >= len(table.names) or np.max(table.test_idx) >= len(table.tests)
    ):
        raise PayloadError("an index points past its name list")
    if any(c is not None and len(c) != n for c in (table.detailed, table.received)):
        raise PayloadError("columns of different lengths")
    if (
        table.received is not None
        and len(table.received)
        and not 0 <= table.received.min() <= table.received.max() <= RECEIVED_NO_TEST
    ):
        raise PayloadError("a received span's attribution is not one of 0 to 3")
    attributes = [*table.numeric.values(), *table.detail.values()]
    for rows, values in attributes:
        if len(rows) != len(values) or (len(rows) and (np.max(rows) >= n or np.min(rows) < 0)):  # type: ignore[arg-type]
            raise PayloadError("attribute rows do not match the spans")
    if any(not 0 <= e.row < n for e in table.events):
        raise PayloadError("event rows do not match the spans")


def merge(tables: Sequence[SpanTable]) -> SpanTable:
    """One table holding the spans of all, names and test ids re-interned."""
    if len(tables) == 1:
        return tables[0]  # a serial run: no copy of a million spans
    names = tuple(dict.fromkeys(n for t in tables for n in t.names))
    tests = tuple(dict.fromkeys(("", *(x for t in tables for x in t.tests))))
    name_pos = {n: i for i, n in enumerate(names)}
    test_pos = {x: i for i, x in enumerate(tests)}
    columns: dict[str, list[Any]] = {name: [] for name in _COLUMNS}
    numeric: dict[str, tuple[list[Any], list[Any]]] = {}
    detail: dict[str, tuple[list[Any], list[AttrValue]]] = {}
    events: list[SpanEvent] = []
    offset = 0
    for t in tables:
        name_map = np.array([name_pos[n] for n in t.names] or [0], dtype=np.int64)
        test_map = np.array([test_pos[x] for x in t.tests] or [0], dtype=np.int64)
        for name in _COLUMNS:
            columns[name].append(getattr(t, name))
        columns["name_idx"][-1] = name_map[t.name_idx]
        columns["test_idx"][-1] = test_map[t.test_idx]
        for key, (rows, values) in t.numeric.items():
            parts = numeric.setdefault(key, ([], []))
            parts[0].append(rows + offset)
            parts[1].append(values)
        for key, (rows, found) in t.detail.items():
            row_parts, value_parts = detail.setdefault(key, ([], []))
            row_parts.append(rows + offset)
            value_parts.extend(found)
        events.extend(SpanEvent(e.row + offset, e.name, e.time_ns, e.attributes) for e in t.events)
        offset += len(t)
    merged = {
        name: np.concatenate(parts or [np.empty(0)]).astype(_COLUMNS[name][1:])
        for name, parts in columns.items()
    }
    return SpanTable(
        names=names,
        tests=tests,
        numeric={
            k: (np.concatenate(r).astype(np.int64), np.concatenate(v).astype(np.float64))
            for k, (r, v) in numeric.items()
        },
        detailed=np.concatenate([t.has_detail for t in tables] or [np.empty(0, dtype=np.bool_)]),
        detail={k: (np.concatenate(r).astype(np.int64), tuple(v)) for k, (r, v) in detail.items()},
        events=tuple(events),
        received=_received(tables),
        **merged,
    )


def _received(tables: Sequence[SpanTable]) -> Any:
    """The tables' received markers as one column (zeros for a table without), or None."""
    if all(t.received is None for t in tables):
        return None
    return np.concatenate(
        [np.zeros(len(t), np.int8) if t.received is None else t.received for t in tables]
    )
