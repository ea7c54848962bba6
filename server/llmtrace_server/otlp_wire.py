"""Read an OTLP ``ExportTraceServiceRequest`` straight from the protobuf wire format into SpanRecords.

Why: decoding with the protobuf library (upb) builds a message object per span, attribute and
value, and then every field is read back through a Python attribute access; that was a third of
ingest's CPU. This reader walks the bytes once and builds only what the row mapping needs. It
pays only when mypyc compiles it (``hatch_build.py``): as plain Python it is slower than upb, so
:mod:`llmtrace_server.otlp` uses it only in the compiled build.

It produces exactly what :func:`llmtrace_server.otlp._pb_batch` makes from the protobuf library's
parse, and nothing else: whenever the body holds something where the two could differ (a string
that is not valid UTF-8, a singular message sent twice (protobuf merges them), a known field with
the wrong wire type, groups, field number 0, a varint over 64 bits, values nested deeper than the
mapping accepts, ``*_strindex`` fields or unknown ``AnyValue`` fields, a truncated field),
:func:`read_trace_request` returns None and the caller decodes the body with the protobuf library,
whose errors and partial rejections then apply unchanged. Field numbers are those of
opentelemetry-proto (``tests/server/test_otlp_wire.py`` pins them to the descriptors).
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Final

from llmtrace._internal import semconv as sc
from llmtrace.store.rows import READ_ATTRIBUTE_NAMES, SpanRecord

_MAX_DEPTH: Final = 16  # as llmtrace_server.otlp: deeper array/kvlist values reject the span there
_DOUBLE: Final = struct.Struct("<d")
_STATUS_CODES: Final = {0: "unset", 1: "ok", 2: "error"}

# Tags (field number << 3 | wire type) of the fields read. Wire types: 0 varint, 1 fixed64,
# 2 length-delimited, 5 fixed32.
_REQUEST_RESOURCE_SPANS: Final = 1 << 3 | 2
_RS_RESOURCE: Final = 1 << 3 | 2
_RS_SCOPE_SPANS: Final = 2 << 3 | 2
_RS_SCHEMA_URL: Final = 3 << 3 | 2
_SS_SCOPE: Final = 1 << 3 | 2
_SS_SPANS: Final = 2 << 3 | 2
_SS_SCHEMA_URL: Final = 3 << 3 | 2
_SPAN_TRACE_ID: Final = 1 << 3 | 2
_SPAN_SPAN_ID: Final = 2 << 3 | 2
_SPAN_TRACE_STATE: Final = 3 << 3 | 2
_SPAN_PARENT: Final = 4 << 3 | 2
_SPAN_NAME: Final = 5 << 3 | 2
_SPAN_KIND: Final = 6 << 3 | 0
_SPAN_START: Final = 7 << 3 | 1
_SPAN_END: Final = 8 << 3 | 1
_SPAN_ATTRIBUTES: Final = 9 << 3 | 2
_SPAN_DROPPED_ATTRIBUTES: Final = 10 << 3 | 0
_SPAN_EVENTS: Final = 11 << 3 | 2
_SPAN_DROPPED_EVENTS: Final = 12 << 3 | 0
_SPAN_LINKS: Final = 13 << 3 | 2
_SPAN_DROPPED_LINKS: Final = 14 << 3 | 0
_SPAN_STATUS: Final = 15 << 3 | 2
_SPAN_FLAGS: Final = 16 << 3 | 5
_EVENT_TIME: Final = 1 << 3 | 1
_EVENT_NAME: Final = 2 << 3 | 2
_EVENT_ATTRIBUTES: Final = 3 << 3 | 2
_EVENT_DROPPED: Final = 4 << 3 | 0
_LINK_TRACE_ID: Final = 1 << 3 | 2
_LINK_SPAN_ID: Final = 2 << 3 | 2
_LINK_TRACE_STATE: Final = 3 << 3 | 2
_LINK_ATTRIBUTES: Final = 4 << 3 | 2
_LINK_DROPPED: Final = 5 << 3 | 0
_LINK_FLAGS: Final = 6 << 3 | 5
_STATUS_MESSAGE: Final = 2 << 3 | 2
_STATUS_CODE: Final = 3 << 3 | 0
_RESOURCE_ATTRIBUTES: Final = 1 << 3 | 2
_RESOURCE_DROPPED: Final = 2 << 3 | 0
_RESOURCE_ENTITY_REFS: Final = 3 << 3 | 2
_SCOPE_NAME: Final = 1 << 3 | 2
_SCOPE_VERSION: Final = 2 << 3 | 2
_SCOPE_ATTRIBUTES: Final = 3 << 3 | 2
_SCOPE_DROPPED: Final = 4 << 3 | 0
_KV_KEY: Final = 1 << 3 | 2
_KV_VALUE: Final = 2 << 3 | 2
_ANY_STRING: Final = 1 << 3 | 2
_ANY_BOOL: Final = 2 << 3 | 0
_ANY_INT: Final = 3 << 3 | 0
_ANY_DOUBLE: Final = 4 << 3 | 1
_ANY_ARRAY: Final = 5 << 3 | 2
_ANY_KVLIST: Final = 6 << 3 | 2
_ANY_BYTES: Final = 7 << 3 | 2
_VALUES: Final = 1 << 3 | 2  # ArrayValue.values and KeyValueList.values

# Each message's known field numbers as a bit set: such a field with another wire type than the
# one read is not skipped as unknown (protobuf could read it differently).
_REQUEST_FIELDS: Final = 1 << 1
_RS_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3
_SS_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3
_SPAN_FIELDS: Final = ((1 << 17) - 1) & ~1  # 1..16
_EVENT_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4
_LINK_FIELDS: Final = ((1 << 7) - 1) & ~1  # 1..6
_STATUS_FIELDS: Final = 1 << 2 | 1 << 3
_RESOURCE_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3
_SCOPE_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4
_ENTITY_REF_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4
_KV_FIELDS: Final = 1 << 1 | 1 << 2 | 1 << 3  # 3: key_strindex, which this reader does not resolve
_VALUES_FIELDS: Final = 1 << 1


# Attribute keys met in almost every span, as their UTF-8 bytes -> one shared str. A key found here
# costs a dict probe instead of a str allocation and UTF-8 decode; the shared str's hash is
# computed once, not again by every dict the key goes into (the attributes, the row mapping's
# field table). Any other key is decoded as before.
_KNOWN_KEYS: Final[dict[bytes, str]] = {
    name.encode(): name
    for name in (
        *READ_ATTRIBUTE_NAMES,
        sc.SERVICE_NAME,
        sc.EXCEPTION_TYPE,
        sc.EXCEPTION_MESSAGE,
        "exception.stacktrace",
        sc.OPENINFERENCE_SPAN_KIND,
        sc.TRACELOOP_SPAN_KIND,
        "server.address",
        "server.port",
        "gen_ai.system",
        "gen_ai.request.temperature",
        "gen_ai.request.max_tokens",
        "gen_ai.request.top_p",
        "gen_ai.response.id",
        "gen_ai.agent.name",
        "gen_ai.tool.name",
        "gen_ai.tool.call.id",
        "gen_ai.tool.type",
        "telemetry.sdk.name",
        "telemetry.sdk.language",
        "telemetry.sdk.version",
    )
}


class _Unsupported(Exception):
    """The body holds something only the protobuf library reads faithfully."""


def read_trace_request(body: bytes) -> list[tuple[int, SpanRecord]] | None:
    """Every span of ``body`` as ``(index in the request, record)``, or None: decode it with protobuf."""
    records: list[tuple[int, SpanRecord]] = []
    try:
        pos = 0
        end = len(body)
        while pos < end:
            tag, pos = _tag(body, pos, end)
            if tag == _REQUEST_RESOURCE_SPANS:
                start, pos = _length(body, pos, end)
                _resource_spans(body, start, pos, records)
            else:
                pos = _skip(body, pos, end, tag, _REQUEST_FIELDS)
    except _Unsupported:
        return None
    return records


def _resource_spans(buf: bytes, pos: int, end: int, records: list[tuple[int, SpanRecord]]) -> None:
    resource_start = -1
    resource_end = -1
    scopes: list[tuple[int, int]] = []  # read after the resource, which may come after them
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _RS_SCOPE_SPANS:
            start, pos = _length(buf, pos, end)
            scopes.append((start, pos))
        elif tag == _RS_RESOURCE:
            if resource_start >= 0:
                raise _Unsupported  # protobuf merges a repeated singular message
            resource_start, pos = _length(buf, pos, end)
            resource_end = pos
        elif tag == _RS_SCHEMA_URL:
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        else:
            pos = _skip(buf, pos, end, tag, _RS_FIELDS)
    resource = _resource(buf, resource_start, resource_end) if resource_start >= 0 else {}
    for start, stop in scopes:
        _scope_spans(buf, start, stop, resource, records)


def _resource(buf: bytes, pos: int, end: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _RESOURCE_ATTRIBUTES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, attributes, 0)
        elif tag == _RESOURCE_DROPPED:
            _, pos = _varint(buf, pos, end)
        elif tag == _RESOURCE_ENTITY_REFS:
            start, pos = _length(buf, pos, end)
            _check_strings(buf, start, pos, _ENTITY_REF_FIELDS)
        else:
            pos = _skip(buf, pos, end, tag, _RESOURCE_FIELDS)
    return attributes


def _scope_spans(
    buf: bytes, pos: int, end: int, resource: dict[str, Any], records: list[tuple[int, SpanRecord]]
) -> None:
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _SS_SPANS:
            start, pos = _length(buf, pos, end)
            records.append((len(records), _span(buf, start, pos, resource)))
        elif tag == _SS_SCOPE:  # not stored, but protobuf would refuse a bad one
            start, pos = _length(buf, pos, end)
            _scope(buf, start, pos)
        elif tag == _SS_SCHEMA_URL:
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        else:
            pos = _skip(buf, pos, end, tag, _SS_FIELDS)


def _span(buf: bytes, pos: int, end: int, resource: dict[str, Any]) -> SpanRecord:
    trace_id = ""
    span_id = ""
    parent_span_id = ""
    name = ""
    start_ns = 0
    end_ns = 0
    status_code = "unset"
    status_message = ""
    status_seen = False
    attributes: dict[str, Any] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    event_times: list[int] = []
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _SPAN_ATTRIBUTES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, attributes, 0)
        elif tag == _SPAN_TRACE_ID:
            start, pos = _length(buf, pos, end)
            trace_id = buf[start:pos].hex()
        elif tag == _SPAN_SPAN_ID:
            start, pos = _length(buf, pos, end)
            span_id = buf[start:pos].hex()
        elif tag == _SPAN_PARENT:
            start, pos = _length(buf, pos, end)
            parent_span_id = buf[start:pos].hex()
        elif tag == _SPAN_NAME:
            start, pos = _length(buf, pos, end)
            name = _text(buf, start, pos)
        elif tag == _SPAN_START:
            start_ns = _fixed64(buf, pos, end)
            pos += 8
        elif tag == _SPAN_END:
            end_ns = _fixed64(buf, pos, end)
            pos += 8
        elif tag == _SPAN_STATUS:
            if status_seen:
                raise _Unsupported  # protobuf merges a repeated singular message
            status_seen = True
            start, pos = _length(buf, pos, end)
            status_code, status_message = _status(buf, start, pos)
        elif tag == _SPAN_EVENTS:
            start, pos = _length(buf, pos, end)
            event_time, event = _event(buf, start, pos)
            events.append(event)
            event_times.append(event_time)
        elif tag in (_SPAN_KIND, _SPAN_DROPPED_ATTRIBUTES, _SPAN_DROPPED_EVENTS, _SPAN_DROPPED_LINKS):
            _, pos = _varint(buf, pos, end)
        elif tag == _SPAN_TRACE_STATE:
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        elif tag == _SPAN_LINKS:
            start, pos = _length(buf, pos, end)
            _link(buf, start, pos)
        elif tag == _SPAN_FLAGS:
            pos = _fixed32_end(pos, end)
        else:
            pos = _skip(buf, pos, end, tag, _SPAN_FIELDS)
    return SpanRecord(  # (positional, as llmtrace_server.otlp builds it)
        trace_id,
        span_id,
        name,
        start_ns,
        end_ns,
        parent_span_id,
        status_code,
        status_message,
        attributes,
        resource,
        events if events else (),
        event_times if events else (),
    )


def _status(buf: bytes, pos: int, end: int) -> tuple[str, str]:
    code = 0
    message = ""
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _STATUS_CODE:
            code, pos = _varint(buf, pos, end)
            if code > 0x7FFFFFFF:
                raise _Unsupported  # a negative or over-long enum: protobuf's int32 reading decides
        elif tag == _STATUS_MESSAGE:
            start, pos = _length(buf, pos, end)
            message = _text(buf, start, pos)
        else:
            pos = _skip(buf, pos, end, tag, _STATUS_FIELDS)
    return _STATUS_CODES.get(code, "unset"), message


def _event(buf: bytes, pos: int, end: int) -> tuple[int, tuple[str, dict[str, Any]]]:
    time_ns = 0
    name = ""
    attributes: dict[str, Any] = {}
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _EVENT_ATTRIBUTES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, attributes, 0)
        elif tag == _EVENT_NAME:
            start, pos = _length(buf, pos, end)
            name = _text(buf, start, pos)
        elif tag == _EVENT_TIME:
            time_ns = _fixed64(buf, pos, end)
            pos += 8
        elif tag == _EVENT_DROPPED:
            _, pos = _varint(buf, pos, end)
        else:
            pos = _skip(buf, pos, end, tag, _EVENT_FIELDS)
    return time_ns, (name, attributes)


def _link(buf: bytes, pos: int, end: int) -> None:
    """Check a link as protobuf would (links are not stored)."""
    ignored: dict[str, Any] = {}
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag in (_LINK_TRACE_ID, _LINK_SPAN_ID):
            _, pos = _length(buf, pos, end)
        elif tag == _LINK_TRACE_STATE:
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        elif tag == _LINK_ATTRIBUTES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, ignored, 0)
        elif tag == _LINK_DROPPED:
            _, pos = _varint(buf, pos, end)
        elif tag == _LINK_FLAGS:
            pos = _fixed32_end(pos, end)
        else:
            pos = _skip(buf, pos, end, tag, _LINK_FIELDS)


def _scope(buf: bytes, pos: int, end: int) -> None:
    """Check an InstrumentationScope as protobuf would (it is not stored)."""
    ignored: dict[str, Any] = {}
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag in (_SCOPE_NAME, _SCOPE_VERSION):
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        elif tag == _SCOPE_ATTRIBUTES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, ignored, 0)
        elif tag == _SCOPE_DROPPED:
            _, pos = _varint(buf, pos, end)
        else:
            pos = _skip(buf, pos, end, tag, _SCOPE_FIELDS)


def _check_strings(buf: bytes, pos: int, end: int, fields: int) -> None:
    """Check a message whose known fields are all strings (EntityRef) as protobuf would."""
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        number = tag >> 3
        if tag & 7 == 2 and number < 64 and (fields >> number) & 1:
            start, pos = _length(buf, pos, end)
            _check_text(buf, start, pos)
        else:
            pos = _skip(buf, pos, end, tag, fields)


def _key_value(buf: bytes, pos: int, end: int, into: dict[str, Any], depth: int) -> None:
    key = ""
    value: Any = None
    value_seen = False
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _KV_KEY:
            start, pos = _length(buf, pos, end)
            key = _key(buf, start, pos)
        elif tag == _KV_VALUE:
            if value_seen:
                raise _Unsupported  # protobuf merges a repeated singular message
            value_seen = True
            start, pos = _length(buf, pos, end)
            value = _any_value(buf, start, pos, depth)
        else:
            pos = _skip(buf, pos, end, tag, _KV_FIELDS)
    into[key] = value


def _any_value(buf: bytes, pos: int, end: int, depth: int) -> Any:
    """One AnyValue holding at most one field (more: protobuf decides which wins, or merges)."""
    if pos == end:
        return None
    tag, pos = _tag(buf, pos, end)
    value: Any
    if tag == _ANY_STRING:
        start, pos = _length(buf, pos, end)
        value = _text(buf, start, pos)
    elif tag == _ANY_INT:
        number, pos = _varint(buf, pos, end)
        value = number - (1 << 64) if number >= 1 << 63 else number
    elif tag == _ANY_DOUBLE:
        if pos + 8 > end:
            raise _Unsupported
        value = _DOUBLE.unpack_from(buf, pos)[0]
        pos += 8
    elif tag == _ANY_BOOL:
        flag, pos = _varint(buf, pos, end)
        if flag > 1:
            raise _Unsupported
        value = flag == 1
    elif tag == _ANY_ARRAY:
        if depth >= _MAX_DEPTH:
            raise _Unsupported  # the protobuf path rejects this span with its reason
        start, pos = _length(buf, pos, end)
        value = _array(buf, start, pos, depth + 1)
    elif tag == _ANY_KVLIST:
        if depth >= _MAX_DEPTH:
            raise _Unsupported
        start, pos = _length(buf, pos, end)
        value = _kvlist(buf, start, pos, depth + 1)
    elif tag == _ANY_BYTES:
        start, pos = _length(buf, pos, end)
        value = base64.b64encode(buf[start:pos]).decode()
    else:
        raise _Unsupported  # string_value_strindex, an unknown field, or a wrong wire type
    if pos != end:
        raise _Unsupported
    return value


def _array(buf: bytes, pos: int, end: int, depth: int) -> list[Any]:
    items: list[Any] = []
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _VALUES:
            start, pos = _length(buf, pos, end)
            items.append(_any_value(buf, start, pos, depth))
        else:
            pos = _skip(buf, pos, end, tag, _VALUES_FIELDS)
    return items


def _kvlist(buf: bytes, pos: int, end: int, depth: int) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        if tag == _VALUES:
            start, pos = _length(buf, pos, end)
            _key_value(buf, start, pos, entries, depth)
        else:
            pos = _skip(buf, pos, end, tag, _VALUES_FIELDS)
    return entries


# --- the wire format ---------------------------------------------------------------------------


def _tag(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(field number << 3 | wire type, position after it); field number 0 is refused."""
    byte = buf[pos]
    if byte < 0x80:
        if byte < 8:
            raise _Unsupported
        return byte, pos + 1
    tag, pos = _varint(buf, pos, end)
    if tag > 0xFFFFFFFF or tag < 8:
        raise _Unsupported
    return tag, pos


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >> 64:
                raise _Unsupported
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Unsupported
    raise _Unsupported  # truncated


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(start, end) of a length-delimited field's bytes."""
    size, start = _varint(buf, pos, end)
    stop = start + size
    if stop > end:
        raise _Unsupported
    return start, stop


def _fixed64(buf: bytes, pos: int, end: int) -> int:
    if pos + 8 > end:
        raise _Unsupported
    return (
        buf[pos]
        | buf[pos + 1] << 8
        | buf[pos + 2] << 16
        | buf[pos + 3] << 24
        | buf[pos + 4] << 32
        | buf[pos + 5] << 40
        | buf[pos + 6] << 48
        | buf[pos + 7] << 56
    )


def _fixed32_end(pos: int, end: int) -> int:
    if pos + 4 > end:
        raise _Unsupported
    return pos + 4


def _text(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsupported from None  # protobuf refuses it; its salvage rejects just that span


def _key(buf: bytes, start: int, end: int) -> str:
    """An attribute key: the shared str of a known one (:data:`_KNOWN_KEYS`), else decoded."""
    raw = buf[start:end]
    known = _KNOWN_KEYS.get(raw)
    if known is not None:
        return known
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unsupported from None


def _check_text(buf: bytes, start: int, end: int) -> None:
    _text(buf, start, end)


def _skip(buf: bytes, pos: int, end: int, tag: int, known: int) -> int:
    """Skip an unknown field (protobuf keeps it aside); a known one with another wire type is refused."""
    number = tag >> 3
    if number < 64 and (known >> number) & 1:
        raise _Unsupported
    wire = tag & 7
    if wire == 0:
        _, pos = _varint(buf, pos, end)
        return pos
    if wire == 2:
        _, pos = _length(buf, pos, end)
        return pos
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    else:
        raise _Unsupported  # groups (3, 4) and the invalid wire types 6, 7
    if pos > end:
        raise _Unsupported
    return pos
