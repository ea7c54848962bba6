"""OTLP/JSON decoding details: hex vs base64 ids, int64 as strings, snake_case keys, status names."""

from __future__ import annotations

import base64
import json

from llmtrace_server import otlp

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def body(span: dict, resource: list | None = None) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": resource or [{"key": "service.name", "value": {"stringValue": "svc"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "x"}, "spans": [span]}],
                }
            ]
        }
    ).encode()


def base_span(**over: object) -> dict:
    span = {
        "traceId": TRACE,
        "spanId": SPAN,
        "name": "chat",
        "startTimeUnixNano": "1764000000000000000",
        "endTimeUnixNano": 1764000000500000000,
        "attributes": [
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
            {"key": "temperature", "value": {"doubleValue": 0.5}},
            {"key": "stream", "value": {"boolValue": True}},
            {"key": "finish", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}},
            {"key": "meta", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}}},
        ],
        "status": {"code": 2, "message": "boom"},
        "events": [
            {"name": "exception", "attributes": [{"key": "exception.type", "value": {"stringValue": "E"}}]}
        ],
    }
    span.update(over)
    return span


def test_values_and_types_decode_like_protobuf() -> None:
    batch = otlp.decode(body(base_span()), otlp.JSON)
    assert batch.rejected == []
    [(index, record)] = batch.records
    assert index == 0 and (record.trace_id, record.span_id, record.parent_span_id) == (TRACE, SPAN, "")
    assert (record.start_ns, record.end_ns) == (1764000000000000000, 1764000000500000000)
    assert record.attributes == {
        "gen_ai.usage.input_tokens": 12,
        "temperature": 0.5,
        "stream": True,
        "finish": ["stop"],
        "meta": {"a": 1},
    }
    assert (record.status_code, record.status_message) == ("error", "boom")
    assert record.events == [("exception", {"exception.type": "E"})]
    assert record.resource == {"service.name": "svc"}


def test_ids_in_uppercase_hex_or_base64_and_snake_case_keys() -> None:
    b64_trace = base64.b64encode(bytes.fromhex(TRACE)).decode()
    b64_span = base64.b64encode(bytes.fromhex(SPAN)).decode()
    for trace_id, span_id in ((TRACE.upper(), SPAN.upper()), (b64_trace, b64_span)):
        [(_, record)] = otlp.decode(body(base_span(traceId=trace_id, spanId=span_id)), otlp.JSON).records
        assert (record.trace_id, record.span_id) == (TRACE, SPAN)
    snake = {
        "trace_id": TRACE,
        "span_id": SPAN,
        "name": "n",
        "start_time_unix_nano": "1764000000000000000",
        "end_time_unix_nano": "1764000000000000001",
        "status": {"code": "STATUS_CODE_OK"},
    }
    [(_, record)] = otlp.decode(body(snake), otlp.JSON).records
    assert (record.span_id, record.status_code) == (SPAN, "ok")


def test_unusable_spans_are_rejected_alone() -> None:
    bad = [
        base_span(spanId="xyz"),
        base_span(startTimeUnixNano="yesterday"),
        base_span(attributes=[{"key": "k", "value": {"intValue": "twelve"}}]),
        base_span(attributes="not a list"),
        "not an object",
    ]
    document = json.loads(body(base_span()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"] += bad
    batch = otlp.decode(json.dumps(document).encode(), otlp.JSON)
    assert [i for i, _ in batch.records] == [0]
    assert [r.index for r in batch.rejected] == [1, 2, 3, 4, 5]
    assert "spanId" in batch.rejected[0].reason and "startTimeUnixNano" in batch.rejected[1].reason


def test_deeply_nested_attribute_values_are_rejected_not_crashed() -> None:
    value: dict = {"stringValue": "x"}
    for _ in range(50):
        value = {"arrayValue": {"values": [value]}}
    batch = otlp.decode(body(base_span(attributes=[{"key": "deep", "value": value}])), otlp.JSON)
    assert batch.records == [] and "nested" in batch.rejected[0].reason
