"""OTLP ingest through the app: encodings, partial success, malformed bodies, duplicates, limits."""

from __future__ import annotations

import gzip
import json

import otlp_build as ob
import pytest
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmtrace._internal import semconv as sc

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}

CHAT = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
}


def spans(client: TestClient, **params: str) -> list[dict]:
    response = client.get("/api/v1/spans", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def post_pb(client: TestClient, req, **headers: str):
    return client.post("/v1/traces", content=req.SerializeToString(), headers={**PB, **headers})


def test_protobuf_batch_is_stored_with_columns_mapped(client: TestClient) -> None:
    s = ob.span(CHAT)
    response = post_pb(client, ob.request([s]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    [row] = spans(client)
    assert row["trace_id"] == s.trace_id.hex() and row["span_id"] == s.span_id.hex()
    assert (row["model"], row["provider"], row["kind"], row["service_name"]) == (
        "gpt-4o-mini",
        "openai",
        "llm",
        "checkout",
    )
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 200)
    # gpt-4o-mini list prices: $0.15 / $0.60 per million input / output tokens
    assert row["cost_usd"] == pytest.approx(1000 * 0.15e-6 + 200 * 0.60e-6)
    assert row["project"] == "default"


def test_json_and_gzip_bodies(client: TestClient) -> None:
    a, b, c = ob.span(CHAT), ob.span(CHAT), ob.span(CHAT)
    assert client.post("/v1/traces", content=ob.to_json(ob.request([a])), headers=JS).status_code == 200
    gz_json = gzip.compress(ob.to_json(ob.request([b])))
    r = client.post("/v1/traces", content=gz_json, headers={**JS, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {}
    gz_pb = gzip.compress(ob.request([c]).SerializeToString())
    assert post_pb(client, ob.request([])).status_code == 200  # an empty batch is fine too
    r = client.post("/v1/traces", content=gz_pb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200
    got = {row["span_id"] for row in spans(client)}
    assert got == {a.span_id.hex(), b.span_id.hex(), c.span_id.hex()}


def test_partial_success_rejects_only_the_bad_spans(client: TestClient) -> None:
    good = ob.span(CHAT)
    text_tokens = ob.span({**CHAT, sc.GEN_AI_USAGE_INPUT_TOKENS: "12"})
    negative = ob.span({**CHAT, sc.GEN_AI_USAGE_OUTPUT_TOKENS: -3})
    short_id = ob.span(CHAT, raw_span_id=b"\x01\x02")
    future = ob.span(CHAT, start_ns=ob.time.time_ns() + 10 * 86400 * 10**9)
    huge = ob.span({**CHAT, "blob": "x" * 300_000})
    req = ob.request([good, text_tokens, negative, short_id, future, huge])
    response = post_pb(client, req)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 5
    for words in ("must be an integer token count", "non-negative", "span_id", "future", "over the"):
        assert words in partial.error_message
    assert [r["span_id"] for r in spans(client)] == [good.span_id.hex()]


def test_partial_success_in_json(client: TestClient) -> None:
    body = json.loads(ob.to_json(ob.request([ob.span(CHAT), ob.span(CHAT)])))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["startTimeUnixNano"] = "soon"
    response = client.post("/v1/traces", json=body)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1 and "startTimeUnixNano" in partial["errorMessage"]
    assert len(spans(client)) == 1


def test_malformed_bodies_get_400_and_write_nothing(client: TestClient) -> None:
    good = ob.request([ob.span(CHAT)]).SerializeToString()
    cases = [
        (good[:-7], PB, "protobuf"),
        (b"\xff\xff\xff\xff", PB, "protobuf"),
        (b'{"resourceSpans": [', JS, "JSON"),
        (b'{"resourceSpans": 3}', JS, "array"),
        (b"[1, 2]", JS, "object"),
        (b"\x1f\x8b\x08\x00garbage", {**PB, "Content-Encoding": "gzip"}, "gzip"),
        (gzip.compress(good)[:-10], {**PB, "Content-Encoding": "gzip"}, "gzip"),
    ]
    for body, headers, words in cases:
        response = client.post("/v1/traces", content=body, headers=headers)
        assert response.status_code == 400, (body, response.status_code)
        if headers["Content-Type"] == "application/json":
            message = response.json()["message"]
        else:
            message = status_pb2.Status.FromString(response.content).message
        assert words in message
    assert spans(client) == []


def test_unsupported_media_and_oversized_bodies(make_client) -> None:
    client = make_client(max_body_bytes=2000)
    assert client.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    big = ob.request([ob.span({**CHAT, "note": "y" * 3000})]).SerializeToString()
    response = client.post("/v1/traces", content=big, headers=PB)
    assert response.status_code == 413
    bomb = gzip.compress(b"\x00" * 100_000)
    assert len(bomb) < 2000
    response = client.post("/v1/traces", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert spans(client) == []


def test_resent_batch_and_in_batch_duplicates_are_stored_once(client: TestClient) -> None:
    a, b = ob.span(CHAT), ob.span(CHAT)
    req = ob.request([a, b, a])
    for _ in range(3):
        assert post_pb(client, req).status_code == 200
    rows = spans(client)
    assert sorted(r["span_id"] for r in rows) == sorted([a.span_id.hex(), b.span_id.hex()])
    metrics = client.get("/api/v1/metrics", params={"interval": "1h"}).json()
    assert sum(p["calls"] for p in metrics["series"][0]["points"]) == 2
    minute = client.get("/api/v1/metrics", params={"interval": "1m"}).json()
    assert sum(p["calls"] for p in minute["series"][0]["points"]) == 2


def test_spans_resent_in_differently_composed_batches_are_stored_once(client: TestClient) -> None:
    a, b, c = ob.span(CHAT), ob.span(CHAT), ob.span(CHAT)
    for batch in ([a, b], [b, c], [c, a, b]):  # an exporter that re-batched after a failure
        assert post_pb(client, ob.request(batch)).status_code == 200
    assert sorted(r["span_id"] for r in spans(client)) == sorted(s.span_id.hex() for s in (a, b, c))
    hourly = client.get("/api/v1/metrics", params={"interval": "1h"}).json()
    assert sum(p["calls"] for p in hourly["series"][0]["points"]) == 3


def test_store_failure_is_503_and_the_retry_is_stored_once(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    batch = ob.request([ob.span(CHAT), ob.span(CHAT)])
    store.client.command(f"DETACH TABLE {store.database}.spans")
    try:
        response = post_pb(client, batch)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert "store unavailable" in status_pb2.Status.FromString(response.content).message
    finally:
        store.client.command(f"ATTACH TABLE {store.database}.spans")
    assert post_pb(client, batch).status_code == 200  # the exporter's retry
    assert len(spans(client)) == 2


def test_decode_worker_processes_give_the_same_answers(make_client) -> None:
    client = make_client(decode_workers=1)
    good, bad = ob.span(CHAT), ob.span({**CHAT, sc.GEN_AI_USAGE_INPUT_TOKENS: "many"})
    response = post_pb(client, ob.request([good, bad]))
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 1
    assert client.post("/v1/traces", content=b"\xff\xff", headers=PB).status_code == 400
    assert [r["span_id"] for r in spans(client)] == [good.span_id.hex()]
