"""What OTLP/HTTP requests of every signal share: the body, its media type, ids and
attribute values, read within limits.

A request comes from outside the run, so nothing in it is trusted: a string value longer
than MAX_ATTRIBUTE_CHARS is cut, and more than MAX_ITEMS attributes, events or array
elements on one owner are dropped; both are counted (not refused), so a service that
sends a whole document as an attribute still has its span kept. Anything malformed
raises OtlpError with the HTTP status to answer, where the check is made: any other
exception while decoding is the receiver's own bug (answered 500), never the client's.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_ATTRIBUTE_CHARS = 64 * 1024  # a longer string value is cut, and counted
MAX_ITEMS = 1024  # attributes or events of one owner, elements of one array; more: dropped
CUT = f"attribute value(s) over {MAX_ATTRIBUTE_CHARS} characters cut"
DROPPED = f"attribute(s), event(s) or array element(s) beyond {MAX_ITEMS} on one owner dropped"
INVALID = "the JSON body is not a valid OTLP request"  # a 400's reason, before the detail
# array and kvlist values nested in one another, at most: the walker recurses on them
MAX_DEPTH = 64
_64_BITS = range(-(2**63), 2**64)  # an int64 attribute or a fixed64 timestamp


class OtlpError(Exception):
    """A request the receiver cannot use; `status` is the HTTP status to answer with.

    The message's text before its first colon is the reason the run's errors and warnings
    count requests by, so anything the request itself says (a header, a path) goes after
    it: a flood of odd requests adds one line, not one per request.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def reason(self) -> str:
        return str(self).split(":")[0]


@dataclass
class Tally:
    """What of a request could not be kept (items not kept), or not whole (values cut)."""

    rejected: dict[str, int] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def shorten(self, reason: str) -> None:
        self.cut[reason] = self.cut.get(reason, 0) + 1


def body_of(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """The request body, gunzipped when the request says so (Content-Encoding is
    case-insensitive), within limit bytes."""
    coding = (encoding or "").strip().lower()
    if coding in ("", "identity"):
        return raw
    if coding != "gzip":
        raise OtlpError(415, f"unsupported Content-Encoding: send gzip or none, not {encoding!r}")
    return _gunzip(raw, limit)


MAX_MEMBERS = 1024  # gzip members of one body (exporters send one)


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Every member of a gzip body (several, concatenated, are a valid gzip body),
    within limit bytes in all."""
    parts: list[bytes] = []
    size, rest = 0, raw
    while True:
        if len(parts) == MAX_MEMBERS:  # each member copies the rest: bounded
            raise OtlpError(400, f"the gzip body has over {MAX_MEMBERS} members")
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, limit - size + 1)  # never 0: unbounded
        except zlib.error as exc:
            raise OtlpError(400, f"the gzip body cannot be decompressed: {exc}") from None
        size += len(part)
        if size > limit:
            raise OtlpError(413, f"the decompressed body is over {limit} bytes")
        if not inflater.eof:
            raise OtlpError(400, "the gzip body is truncated")
        parts.append(part)
        rest = inflater.unused_data  # the next member
        if not rest:
            return b"".join(parts)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, without its parameters: application/json."""
    return content_type.split(";")[0].strip().lower()


def unsupported(content_type: str) -> OtlpError:
    return OtlpError(
        415, f"unsupported Content-Type: send {PROTOBUF} or {JSON}, not {content_type!r}"
    )


def parse_proto(message: Any, body: bytes) -> Any:
    """The body as the given request message type (a class of opentelemetry-proto)."""
    from google.protobuf.message import DecodeError

    try:
        return message.FromString(body)
    except DecodeError as exc:
        name = message.__name__
        raise OtlpError(400, f"the protobuf body is not an {name}: {exc}") from None


def walk_json(body: bytes, message: str, walk: Callable[[dict[str, Any]], None]) -> None:
    """Parse the body and walk it. A body of the wrong shape is a 400 saying where, raised
    by the walker where it checks; anything else it raises is the receiver's own failure."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise OtlpError(400, f"the JSON body cannot be parsed: {exc}") from None
    if not isinstance(request, dict):
        raise OtlpError(400, f"the JSON body is not an {message} object")
    walk(request)


def invalid(detail: str) -> OtlpError:
    """A 400 for an OTLP/JSON body of the wrong shape; detail says where (our own words)."""
    return OtlpError(400, f"{INVALID}: {detail}")


def valid_ids(trace: bytes, span: bytes) -> bool:
    """Whether a trace and a span id are of their size and not all zeros (none)."""
    return len(trace) == 16 and len(span) == 8 and trace != bytes(16) and span != bytes(8)


def json_id(owner: dict[str, Any], key: str) -> bytes:
    """An OTLP/JSON id, which is hex (not base64, as protobuf's JSON mapping has it)."""
    found = owner.get(key) or ""
    with contextlib.suppress(ValueError, TypeError):  # a string of no hex, another type
        return bytes.fromhex(found)
    raise invalid(f"{key} is not a hex string")


def json_int(owner: dict[str, Any], key: str) -> int:
    """An OTLP/JSON integer (absent: 0): a number, or the decimal string 64-bit ones
    are sent as; neither a boolean nor beyond 64 bits."""
    found = owner.get(key)
    if found is None:
        return 0
    if isinstance(found, float) and found.is_integer():
        found = int(found)
    elif isinstance(found, str) and len(found) < 30:  # int() of 4,300 digits refuses
        with contextlib.suppress(ValueError):
            found = int(found)
    if isinstance(found, int) and not isinstance(found, bool) and found in _64_BITS:
        return found
    raise invalid(f"{key} is not a 64-bit integer")


def bounded(items: Iterable[Any], tally: Tally) -> list[Any]:
    """The first MAX_ITEMS of items; more are counted as dropped."""
    found = list(items)
    if len(found) > MAX_ITEMS:
        tally.shorten(DROPPED)
    return found[:MAX_ITEMS]


def proto_attributes(pairs: Any, tally: Tally) -> dict[str, Any]:
    """Protobuf KeyValues as the recorder reads an SDK span's attributes."""
    return {kv.key: _proto_value(kv.value, tally) for kv in bounded(pairs, tally)}


def _proto_value(value: Any, tally: Tally) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_proto_value(v, tally) for v in bounded(value.array_value.values, tally))
    if kind == "kvlist_value":
        pairs = bounded(value.kvlist_value.values, tally)
        return _cut(json.dumps({kv.key: str(_proto_value(kv.value, tally)) for kv in pairs}), tally)
    if kind == "bytes_value":
        return _cut(value.bytes_value.hex(), tally)
    if kind is None:
        return None
    found = getattr(value, kind)
    return _cut(found, tally) if isinstance(found, str) else found


def json_attributes(owner: dict[str, Any], tally: Tally) -> dict[str, Any]:
    """OTLP/JSON attributes (a list of key and value objects) as protobuf's would be."""
    return {_key(p): _json_value(json_dict(p, "value"), tally, 0)
            for p in bounded(json_list(owner, "attributes"), tally)}  # fmt: skip


def _key(pair: dict[str, Any]) -> str:
    key = pair.get("key")
    if not isinstance(key, str):
        raise invalid("an attribute has no key")
    return key


def _json_bool(owner: dict[str, Any], key: str) -> bool:
    """A JSON boolean only, as the protobuf JSON mapping reads a bool: "false" is no bool."""
    found = owner[key]
    if not isinstance(found, bool):
        raise invalid(f"{key} is not true or false")
    return found


def _json_double(owner: dict[str, Any], key: str) -> float:
    """A number, or a string of one ("NaN", "Infinity" among them)."""
    found = owner[key]
    try:
        if isinstance(found, (int, float, str)) and not isinstance(found, bool):
            return float(found)
    except (ValueError, OverflowError):  # a string of no number; an integer beyond a float
        pass
    raise invalid(f"{key} is not a number")


_SCALARS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "stringValue": lambda owner, key: str(owner[key]),
    "boolValue": _json_bool,
    "intValue": json_int,
    "doubleValue": _json_double,
}


def _json_value(value: dict[str, Any], tally: Tally, depth: int) -> Any:
    """An AnyValue; a field set to null is absent, as protobuf's JSON mapping has it."""
    if depth > MAX_DEPTH:
        raise invalid(f"values nested over {MAX_DEPTH} deep")
    for kind, convert in _SCALARS.items():
        if value.get(kind) is not None:
            found = convert(value, kind)
            return _cut(found, tally) if isinstance(found, str) else found
    if value.get("arrayValue") is not None:
        values = bounded(json_list(json_dict(value, "arrayValue"), "values"), tally)
        return tuple(_json_value(v, tally, depth + 1) for v in values)
    if value.get("kvlistValue") is not None:
        pairs = bounded(json_list(json_dict(value, "kvlistValue"), "values"), tally)
        as_text = {_key(p): str(_json_value(json_dict(p, "value"), tally, depth + 1))
                   for p in pairs}  # fmt: skip
        return _cut(json.dumps(as_text), tally)
    if value.get("bytesValue") is not None:
        return _cut(str(value["bytesValue"]), tally)
    return None


def json_list(owner: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A repeated message field of an OTLP/JSON object: absent or null is empty; it
    must be a list of objects."""
    found = owner.get(key)
    if found is None:
        return []
    if not isinstance(found, list):
        raise invalid(f"{key} is not a list")
    if not all(isinstance(item, dict) for item in found):
        raise invalid(f"{key} holds a value that is not an object")
    return found


def json_dict(owner: dict[str, Any], key: str) -> dict[str, Any]:
    """A message field of an OTLP/JSON object: absent or null is empty; else an object."""
    found = owner.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise invalid(f"{key} is not an object")
    return found


def _cut(text: str, tally: Tally) -> str:
    if len(text) <= MAX_ATTRIBUTE_CHARS:
        return text
    tally.shorten(CUT)
    return text[:MAX_ATTRIBUTE_CHARS]
