"""Build OTLP ExportTraceServiceRequest bodies (protobuf and OTLP/JSON) for server tests."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

_counter = itertools.count(1)


def new_ids() -> tuple[str, str]:
    """A fresh (trace_id, span_id) pair as lowercase hex, unique within the test process."""
    n = next(_counter)
    return f"{0xABC0000000000000 + n:032x}", f"{0x5000000000000000 + n:016x}"


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Sequence):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, Mapping):
        out = AnyValue()
        out.kvlist_value.values.extend(key_values(value))
        return out
    raise TypeError(type(value))


def key_values(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def span(
    attrs: Mapping[str, Any] | None = None,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    parent_span_id: str = "",
    name: str = "chat gpt-4o-mini",
    start_ns: int | None = None,
    duration_ms: float = 250.0,
    error: bool = False,
    raw_trace_id: bytes | None = None,
    raw_span_id: bytes | None = None,
) -> Span:
    t, s = new_ids()
    start = start_ns if start_ns is not None else time.time_ns() - 60_000_000_000
    return Span(
        trace_id=raw_trace_id if raw_trace_id is not None else bytes.fromhex(trace_id or t),
        span_id=raw_span_id if raw_span_id is not None else bytes.fromhex(span_id or s),
        parent_span_id=bytes.fromhex(parent_span_id),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * 1_000_000),
        attributes=key_values(attrs or {}),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def request(spans: Sequence[Span], resource: Mapping[str, Any] | None = None) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(key_values(resource or {"service.name": "checkout"}))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def to_json(req: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: camelCase keys, hex ids (not protobuf-JSON's base64), integer enums."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    messages = [sp for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    objects = [
        sp for rs in doc["resourceSpans"] for ss in rs.get("scopeSpans", []) for sp in ss.get("spans", [])
    ]
    for message, obj in zip(messages, objects, strict=True):
        obj["traceId"] = message.trace_id.hex()
        obj["spanId"] = message.span_id.hex()
        if message.parent_span_id:
            obj["parentSpanId"] = message.parent_span_id.hex()
    return json.dumps(doc).encode()
