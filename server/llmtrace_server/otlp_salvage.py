"""Recover the valid spans of a protobuf body that one bad span made unparseable.

protobuf refuses a whole message when any string field in it is not valid UTF-8, so one span
with such a name or attribute would cost the batch all its spans (a 400). When parsing fails,
this walks the wire format down to the spans (ExportTraceServiceRequest.resource_spans = 1,
ResourceSpans.resource = 1 / scope_spans = 2, ScopeSpans.scope = 1 / spans = 2), parses each span
on its own and rebuilds a request from those that parse; the others become per-span rejections.
A body whose wire format itself is broken is still malformed as a whole.

Only the failure path runs this; a valid body never does.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_LEN = 2  # wire type of strings, bytes and messages
_BAD_SPAN = "the span cannot be parsed (e.g. a string field that is not valid UTF-8)"
_BAD_RESOURCE = "its resource cannot be parsed (e.g. a string that is not valid UTF-8)"


class BrokenWireFormat(ValueError):
    """Not even the message framing can be read."""


def salvage(body: bytes) -> tuple[ExportTraceServiceRequest, list[int], list[tuple[int, str, str, str]]]:
    """(a request of the spans that parse, their indexes in ``body``, the rejected spans as
    (index, trace_id, span_id, reason)). Raises :class:`BrokenWireFormat`."""
    request = ExportTraceServiceRequest()
    kept: list[int] = []
    rejected: list[tuple[int, str, str, str]] = []
    index = 0
    for number, resource_spans in _messages(body):
        if number != 1:
            continue
        out = request.resource_spans.add()
        resource_ok = True
        parsed: list[tuple[int, Span]] = []  # this resource's spans that parse
        for field, value in _messages(resource_spans):
            if field == 1:
                try:
                    out.resource.ParseFromString(value)
                except DecodeError:
                    resource_ok = False
            elif field == 2:
                scope_out = out.scope_spans.add()
                for inner, data in _messages(value):
                    if inner == 1:
                        try:
                            scope_out.scope.ParseFromString(data)
                        except DecodeError:
                            scope_out.scope.Clear()  # the scope is not stored: its spans still are
                    elif inner == 2:
                        try:
                            span = Span.FromString(data)
                        except DecodeError:
                            trace_id, span_id = _ids(data)
                            rejected.append((index, trace_id, span_id, _BAD_SPAN))
                        else:
                            scope_out.spans.append(span)
                            parsed.append((index, span))
                        index += 1
        if resource_ok:
            kept.extend(position for position, _ in parsed)
        else:  # every span of a resource that cannot be read is rejected
            rejected.extend((i, span.trace_id.hex(), span.span_id.hex(), _BAD_RESOURCE) for i, span in parsed)
            del request.resource_spans[-1]
    return request, kept, rejected


def _ids(span: bytes) -> tuple[str, str]:
    """The trace and span id (fields 1 and 2) of a span that does not parse, as hex ('' if absent)."""
    found = {1: "", 2: ""}
    try:
        for number, value in _messages(span):
            if number in found and not found[number]:
                found[number] = value.hex()
    except BrokenWireFormat:
        pass
    return found[1], found[2]


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, value) of the length-delimited fields of ``data``; other fields are skipped."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, position = _varint(data, position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == _LEN:
            length, position = _varint(data, position)
            if position + length > end:
                raise BrokenWireFormat("a field runs past the end of its message")
            yield number, data[position : position + length]
            position += length
        else:
            raise BrokenWireFormat(f"unsupported wire type {wire}")
    if position != end:
        raise BrokenWireFormat("a field runs past the end of its message")


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise BrokenWireFormat("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
