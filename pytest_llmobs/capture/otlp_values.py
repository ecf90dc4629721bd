"""What OTLP/HTTP requests of every signal share: the body, its media type, ids and
attribute values, read within limits.

A request comes from outside the run, so nothing in it is trusted: a string value longer
than MAX_ATTRIBUTE_CHARS is cut, and more than MAX_ITEMS attributes, events or array
elements on one owner are dropped; both are counted (not refused), so a service that
sends a whole document as an attribute still has its span kept. Anything malformed
raises OtlpError with the HTTP status to answer.
"""

from __future__ import annotations

import gzip
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
# the exceptions walking a JSON body of the wrong shape raises; RecursionError: nesting
JSON_ERRORS = (TypeError, ValueError, AttributeError, LookupError, RecursionError)


class OtlpError(Exception):
    """A request the receiver cannot use; `status` is the HTTP status to answer with.

    The message's text before its first colon is the reason the run's warnings count
    requests by, so anything the request itself says (a header, a path) goes after it:
    a flood of odd requests adds one warning, not one per request.
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
    """The request body, gunzipped when the request says so, within limit bytes."""
    if not encoding or encoding == "identity":
        return raw
    if encoding != "gzip":
        raise OtlpError(415, f"unsupported Content-Encoding: send gzip or none, not {encoding!r}")
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        body = inflater.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise OtlpError(400, f"the gzip body cannot be decompressed: {exc}") from None
    if len(body) > limit:
        raise OtlpError(413, f"the decompressed body is over {limit} bytes")
    if not inflater.eof:
        raise OtlpError(400, "the gzip body is truncated")
    return body


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
    """Parse the body and walk it; a body of the wrong shape is a 400 saying where."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise OtlpError(400, f"the JSON body cannot be parsed: {exc}") from None
    if not isinstance(request, dict):
        raise OtlpError(400, f"the JSON body is not an {message} object")
    try:
        walk(request)
    except JSON_ERRORS as exc:
        raise OtlpError(400, f"the JSON body is not a valid OTLP request: {exc!r}") from None


def valid_ids(trace: bytes, span: bytes) -> bool:
    """Whether a trace and a span id are of their size and not all zeros (none)."""
    return len(trace) == 16 and len(span) == 8 and trace != bytes(16) and span != bytes(8)


def json_id(owner: dict[str, Any], key: str) -> bytes:
    """An OTLP/JSON id, which is hex (not base64, as protobuf's JSON mapping has it)."""
    return bytes.fromhex(str(owner.get(key) or ""))


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
    found = {}
    for pair in bounded(json_list(owner, "attributes"), tally):
        found[str(pair["key"])] = _json_value(pair.get("value") or {}, tally)
    return found


def _json_value(value: dict[str, Any], tally: Tally) -> Any:
    for kind, convert in (("stringValue", str), ("boolValue", bool), ("intValue", int),
                          ("doubleValue", float)):  # fmt: skip
        if kind in value:
            found = convert(value[kind])
            return _cut(found, tally) if isinstance(found, str) else found
    if "arrayValue" in value:
        values = bounded(json_list(value["arrayValue"], "values"), tally)
        return tuple(_json_value(v, tally) for v in values)
    if "kvlistValue" in value:
        pairs = bounded(json_list(value["kvlistValue"], "values"), tally)
        as_text = {str(p["key"]): str(_json_value(p.get("value") or {}, tally)) for p in pairs}
        return _cut(json.dumps(as_text), tally)
    if "bytesValue" in value:
        return _cut(str(value["bytesValue"]), tally)
    return None


def json_list(owner: Any, key: str) -> list[Any]:
    """A list field of an OTLP/JSON object: absent is empty, another type an error."""
    found = owner.get(key)
    if found is None:
        return []
    if not isinstance(found, list):
        raise TypeError(f"{key} is not a list")
    return found


def json_dict(owner: Any, key: str) -> dict[str, Any]:
    """An object field of an OTLP/JSON object: absent is empty, another type an error."""
    found = owner.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise TypeError(f"{key} is not an object")
    return found


def _cut(text: str, tally: Tally) -> str:
    if len(text) <= MAX_ATTRIBUTE_CHARS:
        return text
    tally.shorten(CUT)
    return text[:MAX_ATTRIBUTE_CHARS]
