"""Decode OTLP/HTTP trace bodies (protobuf or JSON, optionally gzip) into :class:`SpanRecord`s.

Two kinds of failure are kept apart, as the OTLP specification asks:

* a body that cannot be parsed at all (bad gzip, bad protobuf, bad JSON, wrong top-level shape)
  raises :class:`MalformedBody`: the request gets 400 and nothing is written;
* a single span that is unusable (ids of the wrong length, a timestamp that is not a number, ...)
  becomes a :class:`Rejected` entry, so the other spans of the batch are still stored and the
  exporter learns about it through ``partial_success``.

OTLP/JSON differs from the canonical protobuf JSON mapping: trace and span ids are hex strings,
not base64, and enums are integers. Some senders still send base64 ids; those are accepted when
they decode to exactly 16 / 8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import types
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmtrace.store.rows import SpanRecord
from llmtrace_server import otlp_wire
from llmtrace_server.otlp_salvage import BrokenWireFormat, salvage

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}
_JSON_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_MAX_DEPTH = 16  # nested array/kvlist attribute values
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# The wire reader (llmtrace_server.otlp_wire) when mypyc compiled it: it then takes about half the
# protobuf library's time per span; as plain Python (an editable install) it takes three times as
# long, so protobuf decodes every body.
WIRE_READER = not isinstance(otlp_wire.read_trace_request, types.FunctionType)


class MalformedBody(ValueError):
    """The request body cannot be decoded; the message says what is wrong (it becomes the 400 body)."""


class UnsupportedMedia(ValueError):
    """Neither protobuf nor JSON, or a Content-Encoding other than gzip."""


@dataclass(slots=True)
class Rejected:
    """A span that could not be decoded or mapped, with the reason."""

    index: int
    trace_id: str
    span_id: str
    reason: str


@dataclass(slots=True)
class DecodedBatch:
    records: list[tuple[int, SpanRecord]] = field(default_factory=list)  # (index in the batch, record)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.records) + len(self.rejected)


class BodyTooLarge(ValueError):
    """The body (or what it inflates to) is over the configured limit."""


def media_type(content_type: str | None) -> str:
    """``PROTOBUF`` or ``JSON`` from a Content-Type header; raise :class:`UnsupportedMedia` otherwise."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMedia(f"Content-Type must be {PROTOBUF} or {JSON}, got {kind or 'nothing'!r}")


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding: gzip``; the inflated size is capped too (a tiny gzip can inflate to GBs)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMedia(f"Content-Encoding must be gzip or identity, got {encoding!r}")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedBody(f"body is not valid gzip: {exc}") from None
    if len(data) > max_bytes:
        raise BodyTooLarge(f"gzip body inflates to more than {max_bytes} bytes")
    if not inflater.eof:
        raise MalformedBody("body is not valid gzip: the stream is truncated")
    return data


def decode(body: bytes, media: str) -> DecodedBatch:
    """Decode an ExportTraceServiceRequest body of ``media`` type."""
    if media == PROTOBUF:
        return _decode_protobuf(body)
    return _decode_json(body)


# --- protobuf --------------------------------------------------------------------------------


def _decode_protobuf(body: bytes) -> DecodedBatch:
    if WIRE_READER:
        records = otlp_wire.read_trace_request(body)
        if records is not None:
            return DecodedBatch(records)
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        return _salvaged(body, exc)
    return _pb_batch(request)


def _salvaged(body: bytes, error: DecodeError) -> DecodedBatch:
    """The spans of a body protobuf refused as a whole that parse on their own (one span with a
    string that is not valid UTF-8 must not cost the others); see :mod:`llmtrace_server.otlp_salvage`."""
    try:
        request, positions, failed = salvage(body)
    except BrokenWireFormat:
        raise MalformedBody(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {error}") from None
    decoded = _pb_batch(request)
    batch = DecodedBatch()
    batch.records = [(positions[index], record) for index, record in decoded.records]
    batch.rejected = [Rejected(positions[r.index], r.trace_id, r.span_id, r.reason) for r in decoded.rejected]
    batch.rejected += [
        Rejected(index, trace_id, span_id, reason) for index, trace_id, span_id, reason in failed
    ]
    batch.rejected.sort(key=lambda r: r.index)
    return batch


def _pb_batch(request: ExportTraceServiceRequest) -> DecodedBatch:
    batch = DecodedBatch()
    index = 0
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    status = span.status
                    events = span.events
                    record = SpanRecord(  # (positional: the per-span hot path)
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.name,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        span.parent_span_id.hex(),
                        _STATUS_CODES.get(status.code, "unset"),
                        status.message,
                        _pb_attributes(span.attributes),
                        resource,
                        [(e.name, _pb_attributes(e.attributes)) for e in events] if events else (),
                        [e.time_unix_nano for e in events] if events else (),
                    )
                except (ValueError, RecursionError) as exc:
                    batch.rejected.append(Rejected(index, span.trace_id.hex(), span.span_id.hex(), str(exc)))
                else:
                    batch.records.append((index, record))
                index += 1
    return batch


# AnyValue kinds whose field holds the Python value as is (the common case, read inline).
_SCALAR_KINDS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


def _pb_attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    """KeyValues as a dict. The hot loop of ingest: scalars are read without a call per value."""
    result: dict[str, Any] = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value  # most GenAI attributes are strings: one read, no WhichOneof
        if text:
            result[kv.key] = text
            continue
        kind = value.WhichOneof("value")
        result[kv.key] = getattr(value, kind) if kind in _SCALAR_KINDS else _pb_value(value, kind, 0)
    return result


def _pb_value(value: Any, kind: str | None, depth: int) -> Any:
    """An AnyValue whose set field is ``kind`` (its ``WhichOneof``) as a Python value."""
    if kind is None:
        return None
    if kind == "array_value":
        _check_depth(depth)
        items = []
        for item in value.array_value.values:
            text = item.string_value  # e.g. finish reasons: string arrays are the common case
            if text:
                items.append(text)
                continue
            item_kind = item.WhichOneof("value")
            items.append(
                getattr(item, item_kind)
                if item_kind in _SCALAR_KINDS
                else _pb_value(item, item_kind, depth + 1)
            )
        return items
    if kind == "kvlist_value":
        _check_depth(depth)
        return {
            kv.key: _pb_value(kv.value, kv.value.WhichOneof("value"), depth + 1)
            for kv in value.kvlist_value.values
        }
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _check_depth(depth: int) -> None:
    if depth >= _MAX_DEPTH:
        raise ValueError(f"attribute values nested more than {_MAX_DEPTH} levels deep")


# --- JSON ------------------------------------------------------------------------------------


def _decode_json(body: bytes) -> DecodedBatch:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise MalformedBody("OTLP/JSON body must be an object with a resourceSpans array")
    batch = DecodedBatch()
    index = 0
    for resource_spans in _json_list(document, "resourceSpans", "resource_spans", "the body"):
        resource_obj = _json_object(resource_spans, "resource", "resourceSpans[]")
        resource = _json_attributes_or_empty(resource_obj)
        scopes = _json_list(resource_spans, "scopeSpans", "scope_spans", "resourceSpans[]")
        for scope_spans in scopes:
            for span in _json_list(scope_spans, "spans", "spans", "scopeSpans[]"):
                try:
                    record = _json_span(span, resource)
                except (ValueError, TypeError, RecursionError) as exc:
                    ids = span if isinstance(span, dict) else {}
                    batch.rejected.append(
                        Rejected(
                            index,
                            str(_get(ids, "traceId", "trace_id") or ""),
                            str(_get(ids, "spanId", "span_id") or ""),
                            str(exc),
                        )
                    )
                else:
                    batch.records.append((index, record))
                index += 1
    return batch


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    """OTLP/JSON uses lowerCamelCase; protobuf JSON parsers also accept the original names."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _json_list(obj: Any, camel: str, snake: str, where: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise MalformedBody(f"{where} must be an object")
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedBody(f"{camel} in {where} must be an array")
    return value


def _json_object(obj: Any, key: str, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedBody(f"{where} must be an object")
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedBody(f"{key} in {where} must be an object")
    return value


def _json_attributes_or_empty(resource: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return _json_attributes(resource.get("attributes"))
    except (ValueError, TypeError) as exc:
        raise MalformedBody(f"resource attributes: {exc}") from None


def _json_span(span: Any, resource: Mapping[str, Any]) -> SpanRecord:
    if not isinstance(span, dict):
        raise ValueError("a span must be an object")
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise ValueError("status must be an object")
    code = status.get("code", 0)
    code = _JSON_STATUS_NAMES.get(code, code) if isinstance(code, str) else code
    events = span.get("events") or []
    if not isinstance(events, list):
        raise ValueError("events must be an array")
    return SpanRecord(
        trace_id=_json_id(_get(span, "traceId", "trace_id"), 16, "traceId"),
        span_id=_json_id(_get(span, "spanId", "span_id"), 8, "spanId"),
        parent_span_id=_json_id(_get(span, "parentSpanId", "parent_span_id"), 8, "parentSpanId"),
        name=_json_str(span.get("name"), "name"),
        start_ns=_json_uint64(_get(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"),
        end_ns=_json_uint64(_get(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        status_code=_STATUS_CODES.get(code, "unset") if isinstance(code, int) else "unset",
        status_message=_json_str(status.get("message"), "status.message"),
        attributes=_json_attributes(span.get("attributes")),
        resource=resource,
        events=[_json_event(e) for e in events],
        event_times=[
            _json_uint64(_get(e, "timeUnixNano", "time_unix_nano") or 0, "timeUnixNano") for e in events
        ],
    )


def _json_event(event: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(event, dict):
        raise ValueError("an event must be an object")
    return _json_str(event.get("name"), "event name"), _json_attributes(event.get("attributes"))


def _json_id(value: Any, size: int, name: str) -> str:
    """Hex (the OTLP/JSON rule) or, leniently, base64 of exactly ``size`` bytes; '' when absent."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a hex string, got {type(value).__name__}")
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return raw.hex()
    raise ValueError(f"{name} must be {size * 2} hex characters, got {value[:80]!r}")


def _json_str(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _json_uint64(value: Any, name: str) -> int:
    """OTLP/JSON sends 64-bit integers as decimal strings (numbers are accepted too)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"{name} must be an integer (Unix nanoseconds), got {value!r}"[:200])


def _json_attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError("attributes must be an array of {key, value}")
    result: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValueError("each attribute must be an object with a string key")
        result[item["key"]] = _json_value(item.get("value"), 0)
    return result


def _json_value(value: Any, depth: int) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('an attribute value must be an AnyValue object such as {"stringValue": ...}')
    for key, item in value.items():
        kind = key.replace("_", "").lower()
        if kind == "stringvalue":
            return _json_str(item, "stringValue")
        if kind == "boolvalue":
            if not isinstance(item, bool):
                raise ValueError("boolValue must be true or false")
            return item
        if kind == "intvalue":
            return _json_int64(item)
        if kind == "doublevalue":
            return _json_double(item)
        if kind in ("arrayvalue", "kvlistvalue"):
            _check_depth(depth)
            values = item.get("values") if isinstance(item, dict) else None
            values = [] if values is None else values
            if not isinstance(values, list):
                raise ValueError(f"{key}.values must be an array")
            if kind == "arrayvalue":
                return [_json_value(v, depth + 1) for v in values]
            nested = {}
            for kv in values:
                if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
                    raise ValueError("each kvlistValue entry must have a string key")
                nested[kv["key"]] = _json_value(kv.get("value"), depth + 1)
            return nested
        if kind == "bytesvalue":
            return _json_str(item, "bytesValue")
    return None


def _json_int64(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("intValue must be an integer")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            pass
    if number is None:
        raise ValueError(f"intValue must be an integer, got {value!r}"[:200])
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"intValue is out of the int64 range: {value!r}"[:200])
    return number


def _json_double(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("doubleValue must be a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise ValueError(f"doubleValue must be a number, got {value!r}"[:200])


def json_document(body: bytes, top: str) -> dict[str, Any]:
    """An OTLP/JSON body as its top-level object (``top`` names the array it must hold)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise MalformedBody(f"OTLP/JSON body must be an object with a {top} array")
    return document


# Shared with the log and metric decoders (llmtrace_server.otlp_logs): one reading of AnyValue,
# ids and integers for every OTLP signal.
pb_attributes = _pb_attributes
pb_value = _pb_value
json_get = _get
json_list = _json_list
json_attributes = _json_attributes
json_value = _json_value
json_id = _json_id
json_str = _json_str
json_uint64 = _json_uint64
