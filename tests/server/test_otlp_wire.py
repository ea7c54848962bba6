"""The wire reader (llmtrace_server.otlp_wire) against the protobuf library's path it stands in for.

Every body here is read both ways: the reader must give exactly the SpanRecords that
``otlp._pb_batch`` makes from protobuf's parse, or None (the caller then uses protobuf). It must
never return records for a body protobuf refuses or reads otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
import types
from typing import Any

import otlp_build as ob
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, EntityRef, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from llmtrace_server import otlp, otlp_wire

_LEN, _VARINT, _FIXED64, _FIXED32 = 2, 0, 1, 5
_WIRE_TYPES = {  # FieldDescriptor.type -> wire type
    1: _FIXED64, 3: _VARINT, 5: _VARINT, 6: _FIXED64, 7: _FIXED32, 8: _VARINT, 9: _LEN, 11: _LEN,
    12: _LEN, 13: _VARINT, 14: _VARINT,
}  # fmt: skip


def _canon(value: Any) -> Any:
    """Comparable form: floats by their bits (NaN equals itself), containers recursively."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_canon(v) for v in value])
    return value


def _records(records: list[tuple[int, Any]]) -> Any:
    return [(i, {f.name: _canon(getattr(r, f.name)) for f in dataclasses.fields(r)}) for i, r in records]


def _protobuf(body: bytes) -> otlp.DecodedBatch | None:
    try:
        return otlp._pb_batch(ExportTraceServiceRequest.FromString(body))
    except DecodeError:
        return None


def _same_or_declined(body: bytes) -> bool:
    """True when the reader agreed with protobuf; False when it declined (returned None)."""
    records = otlp_wire.read_trace_request(body)
    if records is None:
        return False
    reference = _protobuf(body)
    assert reference is not None, "the reader read a body protobuf refuses"
    assert not reference.rejected, "the reader kept spans the protobuf path rejects"
    assert _records(records) == _records(reference.records)
    return True


def _body(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    return ob.request(list(spans), resource).SerializeToString()


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _tag(number, _LEN) + _varint(len(payload)) + payload


def _span_body(span_bytes: bytes) -> bytes:
    """A request of one resource, one scope and a span given as raw bytes."""
    return _field(1, _field(2, _field(2, span_bytes)))


# --- the reader is what ingest uses only when compiled -----------------------------------------


def test_wire_reader_is_used_exactly_when_it_is_compiled() -> None:
    compiled = not otlp_wire.__file__.endswith(".py")
    assert otlp.WIRE_READER is compiled
    assert isinstance(otlp_wire.read_trace_request, types.FunctionType) is not compiled


@pytest.mark.parametrize("wire_reader", [True, False])
def test_decode_gives_the_same_batch_either_way(monkeypatch: pytest.MonkeyPatch, wire_reader: bool) -> None:
    """Through ``otlp.decode``, with the reader on or off: a clean body, and a body with a span
    whose name is not UTF-8 (the reader declines; protobuf's salvage rejects that span alone)."""
    good = ob.span({"gen_ai.request.model": "gpt-4o", "n": 3})
    clean = _body(good)
    bad = ob.span({"k": "v"}, name="BADNAME")
    broken = _body(good, bad).replace(b"BADNAME", b"BAD\xffAME")
    monkeypatch.setattr(otlp, "WIRE_READER", wire_reader)
    assert _records(otlp.decode(clean, otlp.PROTOBUF).records) == _records(_protobuf(clean).records)  # type: ignore[union-attr]
    batch = otlp.decode(broken, otlp.PROTOBUF)
    assert [i for i, _ in batch.records] == [0]
    assert [r.index for r in batch.rejected] == [1]


# --- field numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "tags"),
    [
        (ExportTraceServiceRequest, {"resource_spans": "_REQUEST_RESOURCE_SPANS"}),
        (ResourceSpans, {"resource": "_RS_RESOURCE", "scope_spans": "_RS_SCOPE_SPANS", "schema_url": "_RS_SCHEMA_URL"}),
        (ScopeSpans, {"scope": "_SS_SCOPE", "spans": "_SS_SPANS", "schema_url": "_SS_SCHEMA_URL"}),
        (
            Span,
            {
                "trace_id": "_SPAN_TRACE_ID", "span_id": "_SPAN_SPAN_ID", "trace_state": "_SPAN_TRACE_STATE",
                "parent_span_id": "_SPAN_PARENT", "name": "_SPAN_NAME", "kind": "_SPAN_KIND",
                "start_time_unix_nano": "_SPAN_START", "end_time_unix_nano": "_SPAN_END",
                "attributes": "_SPAN_ATTRIBUTES", "dropped_attributes_count": "_SPAN_DROPPED_ATTRIBUTES",
                "events": "_SPAN_EVENTS", "dropped_events_count": "_SPAN_DROPPED_EVENTS", "links": "_SPAN_LINKS",
                "dropped_links_count": "_SPAN_DROPPED_LINKS", "status": "_SPAN_STATUS", "flags": "_SPAN_FLAGS",
            },
        ),
        (
            Span.Event,
            {"time_unix_nano": "_EVENT_TIME", "name": "_EVENT_NAME", "attributes": "_EVENT_ATTRIBUTES",
             "dropped_attributes_count": "_EVENT_DROPPED"},
        ),
        (
            Span.Link,
            {"trace_id": "_LINK_TRACE_ID", "span_id": "_LINK_SPAN_ID", "trace_state": "_LINK_TRACE_STATE",
             "attributes": "_LINK_ATTRIBUTES", "dropped_attributes_count": "_LINK_DROPPED", "flags": "_LINK_FLAGS"},
        ),
        (Status, {"message": "_STATUS_MESSAGE", "code": "_STATUS_CODE"}),
        (
            Resource,
            {"attributes": "_RESOURCE_ATTRIBUTES", "dropped_attributes_count": "_RESOURCE_DROPPED",
             "entity_refs": "_RESOURCE_ENTITY_REFS"},
        ),
        (
            InstrumentationScope,
            {"name": "_SCOPE_NAME", "version": "_SCOPE_VERSION", "attributes": "_SCOPE_ATTRIBUTES",
             "dropped_attributes_count": "_SCOPE_DROPPED"},
        ),
        (KeyValue, {"key": "_KV_KEY", "value": "_KV_VALUE"}),
        (
            AnyValue,
            {"string_value": "_ANY_STRING", "bool_value": "_ANY_BOOL", "int_value": "_ANY_INT",
             "double_value": "_ANY_DOUBLE", "array_value": "_ANY_ARRAY", "kvlist_value": "_ANY_KVLIST",
             "bytes_value": "_ANY_BYTES"},
        ),
    ],
)  # fmt: skip
def test_tags_are_the_proto_descriptors_fields(message: Any, tags: dict[str, str]) -> None:
    fields = {f.name: f for f in message.DESCRIPTOR.fields}
    for name, constant in tags.items():
        field = fields[name]
        assert getattr(otlp_wire, constant) == field.number << 3 | _WIRE_TYPES[field.type], name
    # Each message's set of known numbers is every field of the descriptor (read or refused).
    masks = {
        ExportTraceServiceRequest: "_REQUEST_FIELDS", ResourceSpans: "_RS_FIELDS", ScopeSpans: "_SS_FIELDS",
        Span: "_SPAN_FIELDS", Span.Event: "_EVENT_FIELDS", Span.Link: "_LINK_FIELDS", Status: "_STATUS_FIELDS",
        Resource: "_RESOURCE_FIELDS", InstrumentationScope: "_SCOPE_FIELDS", KeyValue: "_KV_FIELDS",
    }  # fmt: skip
    if message in masks:
        assert getattr(otlp_wire, masks[message]) == sum(1 << f.number for f in fields.values())
    entity = sum(1 << f.number for f in EntityRef.DESCRIPTOR.fields)
    assert entity == otlp_wire._ENTITY_REF_FIELDS
    assert all(f.type == 9 for f in EntityRef.DESCRIPTOR.fields)  # _check_strings reads strings only


# --- hand-built cases ------------------------------------------------------------------------


def _full_span() -> Span:
    span = ob.span(
        {
            "text": "héllo ✓ \U0001f600",
            "empty": "",
            "int": -(2**63),
            "big": 2**63 - 1,
            "zero": 0,
            "float": 1.5,
            "nan": math.nan,
            "inf": -math.inf,
            "true": True,
            "false": False,
            "bytes": b"\x00\xff",
            "list": ["a", "", 1, 2.5, True, [], ["nested", {"k": "v"}]],
            "map": {"a": 1, "b": {"c": [1, 2]}, "": ""},
        },
        parent_span_id="0102030405060708",
        error=True,
    )
    span.status.message = "boom"
    span.trace_state = "a=b"
    span.flags = 257
    span.dropped_attributes_count = 3
    span.attributes.add(key="none")  # an AnyValue with nothing set
    span.attributes.add(key="text", value=AnyValue(string_value="last wins"))
    event = span.events.add(time_unix_nano=123, name="exception")
    event.attributes.extend(ob.key_values({"exception.type": "ValueError", "exception.message": "x"}))
    span.events.add(name="first token")
    link = span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="x=y", flags=1)
    link.attributes.extend(ob.key_values({"l": [1]}))
    return span


def test_every_kind_of_value_and_field() -> None:
    request = ob.request([_full_span(), ob.span({"a": 1}), Span()], {"service.name": "s", "n": 1})
    request.resource_spans[0].schema_url = "https://example"
    request.resource_spans[0].resource.dropped_attributes_count = 2
    request.resource_spans[0].resource.entity_refs.add(type="service", id_keys=["service.name"])
    scope = request.resource_spans[0].scope_spans[0]
    scope.scope.version = "1"
    scope.scope.attributes.extend(ob.key_values({"x": "y"}))
    scope.schema_url = "u"
    second = request.resource_spans.add()  # a resource without attributes, two scopes
    second.scope_spans.add().spans.append(ob.span({"b": "c"}))
    second.scope_spans.add().spans.append(ob.span({"d": ["e"]}))
    request.resource_spans.add()  # empty
    assert _same_or_declined(request.SerializeToString())


def test_empty_body_and_status_codes() -> None:
    assert otlp_wire.read_trace_request(b"") == []
    for code in (0, 1, 2, 7, 2**31 - 1):
        span = ob.span()
        span.status.code = code  # type: ignore[assignment]
        assert _same_or_declined(_body(span))


def test_fields_in_any_order() -> None:
    """Protobuf concatenation is a merge: the resource after its scopes, the ids after attributes."""
    scopes = ResourceSpans(scope_spans=[ScopeSpans(spans=[ob.span({"a": 1})])]).SerializeToString()
    resource = ResourceSpans(resource=Resource(attributes=ob.key_values({"service.name": "late"})))
    span = ob.span({"x": "y"})
    ids = Span(trace_id=span.trace_id, span_id=span.span_id).SerializeToString()
    span_rest = Span(name="n", attributes=span.attributes, end_time_unix_nano=9).SerializeToString()
    body = _field(1, scopes + resource.SerializeToString()) + _span_body(span_rest + ids)
    records = otlp_wire.read_trace_request(body)
    assert records is not None and records[0][1].resource == {"service.name": "late"}
    assert _same_or_declined(body)


def test_repeated_scalar_fields_last_wins_and_unknown_fields_are_skipped() -> None:
    unknown = _tag(99, _VARINT) + _varint(5) + _field(100, b"\xff\xfe") + _tag(101, _FIXED32) + b"abcd"
    unknown += _tag(102, _FIXED64) + b"12345678" + _tag(2**29 - 1, _VARINT) + b"\x01"
    span = Span(name="first", trace_id=b"\x01" * 16).SerializeToString()
    span += Span(name="second").SerializeToString() + unknown
    kv = _field(1, b"k") + _field(2, _field(1, b"v")) + unknown
    span += _field(9, kv)
    body = _field(1, _field(2, _field(2, span) + unknown) + unknown) + unknown
    records = otlp_wire.read_trace_request(body)
    assert records is not None and records[0][1].name == "second" and records[0][1].attributes == {"k": "v"}
    assert _same_or_declined(body)


_DECLINED = {
    "invalid UTF-8 in an attribute": _span_body(_field(9, _field(1, b"k") + _field(2, _field(1, b"\xc3(")))),
    "invalid UTF-8 in a span name": _span_body(_field(5, b"\xed\xa0\x80")),  # a surrogate
    "invalid UTF-8 in a scope name": _field(1, _field(2, _field(1, _field(1, b"\xff")))),
    "invalid UTF-8 in a trace_state": _span_body(_field(3, b"\x80")),
    "status twice": _span_body(_field(15, b"") + _field(15, _tag(3, 0) + b"\x02")),
    "resource twice": _field(1, _field(1, b"") + _field(1, b"")),
    "an attribute's value twice": _span_body(_field(9, _field(2, _field(1, b"a")) + _field(2, b""))),
    "two fields in one AnyValue": _span_body(_field(9, _field(2, _field(1, b"a") + _tag(3, 0) + b"\x01"))),
    "string_value_strindex": _span_body(_field(9, _field(2, _tag(8, 0) + b"\x01"))),
    "key_strindex": _span_body(_field(9, _tag(3, 0) + b"\x01")),
    "an unknown AnyValue field": _span_body(_field(9, _field(2, _tag(20, 0) + b"\x01"))),
    "a known field with the wrong wire type": _span_body(_tag(5, _VARINT) + b"\x01"),
    "start time as a varint": _span_body(_tag(7, _VARINT) + b"\x01"),
    "a group": _span_body(_tag(50, 3) + _tag(50, 4)),
    "wire type 7": _span_body(_tag(50, 7)),
    "field number 0": _span_body(b"\x00\x01"),
    "a varint over 64 bits": _span_body(_tag(6, _VARINT) + b"\xff" * 9 + b"\x7f"),
    "a varint over 10 bytes": _span_body(_tag(6, _VARINT) + b"\x80" * 10 + b"\x01"),
    "a truncated length": _field(1, b"")[:1] + b"\x05",
    "a truncated fixed64": _span_body(_tag(7, _FIXED64) + b"\x01\x02"),
    "a negative status code": _span_body(_field(15, _tag(3, 0) + _varint(2**64 - 1))),
    "a bool over 1": _span_body(_field(9, _field(2, _tag(2, 0) + b"\x02"))),
}


@pytest.mark.parametrize("body", _DECLINED.values(), ids=_DECLINED.keys())
def test_declines_what_protobuf_may_read_otherwise(body: bytes) -> None:
    assert otlp_wire.read_trace_request(body) is None


def test_declines_values_nested_deeper_than_the_mapping_accepts() -> None:
    value: Any = "leaf"
    for _ in range(16):
        value = [value]
    assert _same_or_declined(_body(ob.span({"deep": value})))  # 16 levels: read
    deeper = _body(ob.span({"deep": [value]}))
    assert otlp_wire.read_trace_request(deeper) is None
    rejected = _protobuf(deeper)
    assert rejected is not None and len(rejected.rejected) == 1  # what the fallback then says


# --- generated and mutated bodies ------------------------------------------------------------


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return "".join(rng.choice("ab é✓\U0001f600\x00") for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randrange(-(10**12), 10**12)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1e308, math.inf, math.nan, rng.random()])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return rng.randbytes(rng.randrange(6))
    if kind == 5:
        return "x" * rng.randrange(2000)
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(4))}


def _random_request(rng: random.Random) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(rng.randrange(1, 3)):
        resource_spans = request.resource_spans.add()
        if rng.random() < 0.8:
            resource_spans.resource.attributes.extend(
                ob.key_values({"service.name": "s", "r": _value(rng, 0)})
            )
        for _ in range(rng.randrange(1, 3)):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = rng.choice(["", "scope"])
            for _ in range(rng.randrange(4)):
                # Names the reader shares (its known-keys table) and names it decodes, mixed.
                attrs = {
                    rng.choice((f"a{i}", *_KNOWN[i::7])): _value(rng, 0) for i in range(rng.randrange(6))
                }
                span = ob.span(attrs, error=rng.random() < 0.3, name=rng.choice(["", "chat x", "é"]))
                if rng.random() < 0.3:
                    event = span.events.add(time_unix_nano=rng.randrange(2**64), name="e")
                    event.attributes.extend(ob.key_values({"m": _value(rng, 0)}))
                if rng.random() < 0.2:
                    span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                if rng.random() < 0.1:
                    span.trace_id = rng.randbytes(rng.randrange(20))  # wrong lengths are the mapping's job
                scope_spans.spans.append(span)
    return request


_KNOWN = sorted(otlp_wire._KNOWN_KEYS.values())


def test_known_keys_read_like_protobuf_and_share_one_str() -> None:
    """Every key of the reader's known-keys table, in spans, events, nested kvlists and the
    resource: the same records as protobuf's, each key the table's own str (not a decoded copy)."""
    kinds: list[Any] = ["text", "", "x" * 70_000, 7, -1, 2.5, True, ["a", 1], {"k": "v"}, b"\x00\xff"]
    attrs = {key: kinds[i % len(kinds)] for i, key in enumerate(_KNOWN)}
    span = ob.span(attrs)
    span.events.add(time_unix_nano=5, name="exception").attributes.extend(ob.key_values(attrs))
    nested = ob.span({"outer": {key: 1 for key in _KNOWN[:5]}})
    body = _body(span, nested, resource=dict(attrs))
    assert _same_or_declined(body)
    records = otlp_wire.read_trace_request(body)
    assert records is not None
    first, second = records[0][1], records[1][1]
    for keys in (first.attributes, first.resource, first.events[0][1], second.attributes["outer"]):
        assert keys and all(key is otlp_wire._KNOWN_KEYS[key.encode()] for key in keys)


def test_a_key_that_only_resembles_a_known_one_is_decoded() -> None:
    """A known key with a byte more, one less, or one not UTF-8: read as any other key, or declined."""
    known = "gen_ai.request.model"
    similar = ob.span({known + "x": "a", known[:-1]: "b", "gen_ai.request.modél": "c"})
    assert _same_or_declined(_body(similar))
    records = otlp_wire.read_trace_request(_body(similar))
    assert records is not None and set(records[0][1].attributes) == {
        known + "x",
        known[:-1],
        "gen_ai.request.modél",
    }
    broken = _body(ob.span({known: "a"})).replace(known.encode(), known.encode()[:-1] + b"\xff")
    assert otlp_wire.read_trace_request(broken) is None  # protobuf refuses the body; its salvage decides
    assert _protobuf(broken) is None


def test_generated_bodies_read_like_protobuf() -> None:
    rng = random.Random(14)
    for _ in range(300):
        assert _same_or_declined(_random_request(rng).SerializeToString())


def test_mutated_bodies_read_like_protobuf_or_are_declined() -> None:
    """Bit flips, truncations, inserted and deleted bytes: the reader agrees with protobuf or declines."""
    rng = random.Random(41)
    agreed = declined = 0
    for i in range(400):
        body = bytearray(_random_request(rng).SerializeToString())
        if not body:
            continue
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(body))
            how = i % 4
            if how == 0:
                body[at] ^= 1 << rng.randrange(8)
            elif how == 1:
                del body[at:]
            elif how == 2:
                body.insert(at, rng.randrange(256))
            else:
                del body[at]
            if not body:
                break
        if _same_or_declined(bytes(body)):
            agreed += 1
        else:
            declined += 1
    assert agreed > 50 and declined > 50, (agreed, declined)  # both outcomes were exercised
