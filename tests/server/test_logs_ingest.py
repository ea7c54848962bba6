"""``POST /v1/logs`` and ``POST /v1/metrics`` through the app: encodings, answers, limits, auth."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import otlp_build as ob
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from llmtrace._internal import semconv as sc

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
CHAT = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"}
KEY = "logs-key-0123456789"
DAY_NS = 86_400 * 10**9


def log_request(records: list[dict[str, Any]]) -> ExportLogsServiceRequest:
    """Records given as {trace_id, span_id, event_name, attributes, body, time}."""
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for item in records:
        log = scope.log_records.add()
        log.time_unix_nano = item.get("time", 1)
        log.trace_id = bytes.fromhex(item["trace_id"]) if item.get("trace_id") else b""
        log.span_id = bytes.fromhex(item["span_id"]) if item.get("span_id") else b""
        log.event_name = item.get("event_name", "")
        log.attributes.extend(ob.key_values(item.get("attributes", {})))
        if "body" in item:
            log.body.CopyFrom(ob.any_value(item["body"]))
    return request


def details(trace_id: str, span_id: str, text: str = "hi", answer: str = "yo") -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "event_name": sc.GEN_AI_INFERENCE_DETAILS_EVENT,
        "time": ob.span(CHAT).start_time_unix_nano,
        "attributes": {
            sc.GEN_AI_INPUT_MESSAGES: json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": text}]}]
            ),
            sc.GEN_AI_OUTPUT_MESSAGES: json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": answer}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        },
    }


def span_row(client: TestClient, span_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get("/api/v1/spans", params={"limit": "1000"}, headers=headers or {})
    assert response.status_code == 200, response.text
    return next(r for r in response.json()["data"] if r["span_id"] == span_id)


def test_events_before_and_after_their_span_become_its_input_and_output(client: TestClient) -> None:
    early, late = ob.span(CHAT), ob.span(CHAT)
    ids = [(s.trace_id.hex(), s.span_id.hex()) for s in (early, late)]
    body = log_request([details(*ids[0], text="first")]).SerializeToString()
    response = client.post("/v1/logs", content=body, headers=PB)
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")
    assert (
        client.post(
            "/v1/traces", content=ob.request([early, late]).SerializeToString(), headers=PB
        ).status_code
        == 200
    )
    # JSON and gzip for the late one; sent twice, as a retry would.
    late_body = gzip.compress(
        json.dumps(json_format.MessageToDict(log_request([details(*ids[1], text="second")]))).encode()
    )
    for _ in range(2):
        response = client.post("/v1/logs", content=late_body, headers={**JS, "Content-Encoding": "gzip"})
        assert response.status_code == 200 and response.json() == {}
    for (trace_id, span_id), text in zip(ids, ("first", "second"), strict=True):
        row = span_row(client, span_id)
        assert json.loads(row["input"]) == [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        assert json.loads(row["output"])[0]["parts"][0]["content"] == "yo"
        assert row["output_chars"] == len(row["output"])
        trace = client.get(f"/api/v1/traces/{trace_id}").json()
        assert trace["spans"][0]["input"] == row["input"]


def test_older_per_message_events_are_joined_in_time_order(client: TestClient) -> None:
    s = ob.span(CHAT)
    trace_id, span_id = s.trace_id.hex(), s.span_id.hex()
    t = s.start_time_unix_nano
    records = [
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "event_name": "gen_ai.choice",
            "time": t + 3,
            "body": {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "yo"}},
        },
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "time": t + 1,
            "attributes": {"event.name": "gen_ai.system.message"},
            "body": {"content": "Be brief"},
        },
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "event_name": "gen_ai.user.message",
            "time": t + 2,
            "body": {"content": "hi"},
        },
    ]
    assert (
        client.post("/v1/logs", content=log_request(records).SerializeToString(), headers=PB).status_code
        == 200
    )
    assert (
        client.post("/v1/traces", content=ob.request([s]).SerializeToString(), headers=PB).status_code == 200
    )
    row = span_row(client, span_id)
    assert [(m["role"], m["parts"][0]["content"]) for m in json.loads(row["input"])] == [
        ("system", "Be brief"),
        ("user", "hi"),
    ]
    assert json.loads(row["output"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "yo"}], "finish_reason": "stop"}
    ]


def test_a_spans_own_content_wins_over_events(client: TestClient) -> None:
    s = ob.span({**CHAT, sc.GEN_AI_INPUT_MESSAGES: "own input", sc.GEN_AI_OUTPUT_MESSAGES: "own output"})
    body = log_request([details(s.trace_id.hex(), s.span_id.hex())]).SerializeToString()
    assert client.post("/v1/logs", content=body, headers=PB).status_code == 200
    assert (
        client.post("/v1/traces", content=ob.request([s]).SerializeToString(), headers=PB).status_code == 200
    )
    row = span_row(client, s.span_id.hex())
    assert (row["input"], row["output"]) == ("own input", "own output")


def test_other_records_are_answered_as_partial_success(client: TestClient) -> None:
    s = ob.span(CHAT)
    records = [
        details(s.trace_id.hex(), s.span_id.hex()),
        {"event_name": "", "body": "GET /health 200"},  # an application log line
        {**details("", ""), "trace_id": "", "span_id": ""},  # a GenAI event naming no span
    ]
    response = client.post("/v1/logs", content=log_request(records).SerializeToString(), headers=PB)
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 2
    assert "GenAI events only" in partial.error_message and "names no span" in partial.error_message


def test_malformed_unsupported_and_oversized_bodies(make_client) -> None:
    client: TestClient = make_client(max_body_bytes=2048)
    response = client.post("/v1/logs", content=b"\xff\x00 not protobuf", headers=PB)
    assert response.status_code == 400
    assert "ExportLogsServiceRequest" in status_pb2.Status.FromString(response.content).message
    response = client.post("/v1/logs", content=b"[1, 2]", headers=JS)
    assert response.status_code == 400 and "resourceLogs" in response.json()["message"]
    assert client.post("/v1/logs", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/v1/logs", content=b"x" * 4096, headers=PB).status_code == 413
    bomb = gzip.compress(b"\x00" * 100_000)
    assert (
        client.post("/v1/logs", content=bomb, headers={**PB, "Content-Encoding": "gzip"}).status_code == 413
    )
    bad = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": 5}]}]}]}).encode()
    response = client.post("/v1/logs", content=bad, headers=JS)
    assert response.status_code == 200 and response.json()["partialSuccess"]["rejectedLogRecords"] == "1"


def stored_events(client: TestClient) -> int:
    store = client.app.state.store  # type: ignore[attr-defined]
    return int(store.client.query(f"SELECT count() FROM {store.database}.span_content").result_rows[0][0])


def test_events_outside_the_spans_time_window_are_rejected_alone(client: TestClient) -> None:
    """Spans' rules hold for events: a store refusing a time failed the whole request with 503 (an
    exporter retries that for ever), and a 1970 or expired time was taken and deleted by the TTL."""
    now = time.time_ns()
    spans = [ob.span(CHAT) for _ in range(5)]
    records = [details(s.trace_id.hex(), s.span_id.hex()) for s in spans]
    records[1]["time"] = 0  # no time, no observed time
    records[2]["time"] = now - 100 * DAY_NS  # older than the 90 days the store keeps
    records[3]["time"] = now + 2 * DAY_NS
    records[4]["time"] = 2**64 - 1  # year 2554: more than the column's int64 nanoseconds hold
    response = client.post("/v1/logs", content=log_request(records).SerializeToString(), headers=PB)
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 4
    message = partial.error_message
    assert "has no time" in message and "retention of 90 days" in message and "in the future" in message
    assert stored_events(client) == 1
    client.post("/v1/traces", content=ob.request(spans).SerializeToString(), headers=PB)
    assert span_row(client, spans[0].span_id.hex())["input"]


def test_one_requests_events_over_many_months_are_stored(make_client) -> None:
    """Without a retention any past date is taken; 150 months in one request were more partitions
    than one INSERT may make (100), and the request failed with 503 for ever."""
    client: TestClient = make_client(span_ttl_days=0)  # keep everything: no retention window
    now = time.time_ns()
    records = []
    for month in range(150):
        s = ob.span(CHAT)
        records.append({**details(s.trace_id.hex(), s.span_id.hex()), "time": now - month * 31 * DAY_NS})
    response = client.post("/v1/logs", content=log_request(records).SerializeToString(), headers=PB)
    assert response.status_code == 200, response.content
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")
    assert stored_events(client) == 150


def test_logs_and_metrics_need_the_api_key_and_keep_projects_apart(make_client) -> None:
    client: TestClient = make_client(api_keys=[f"{KEY}:shop", "other-key-0123456789:bank"])
    s = ob.span(CHAT)
    body = log_request([details(s.trace_id.hex(), s.span_id.hex())]).SerializeToString()
    for path in ("/v1/logs", "/v1/metrics"):
        assert client.post(path, content=body, headers=PB).status_code == 401
    shop = {"Authorization": f"Bearer {KEY}"}
    bank = {"Authorization": "Bearer other-key-0123456789"}
    assert (
        client.post(
            "/v1/traces", content=ob.request([s]).SerializeToString(), headers={**PB, **shop}
        ).status_code
        == 200
    )
    assert client.post("/v1/logs", content=body, headers={**PB, **bank}).status_code == 200
    assert span_row(client, s.span_id.hex(), shop)["input"] == ""  # another project's events
    assert client.post("/v1/logs", content=body, headers={**PB, **shop}).status_code == 200
    assert span_row(client, s.span_id.hex(), shop)["input"]


def test_metrics_are_acknowledged_with_every_point_rejected(client: TestClient) -> None:
    request = ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add().scope_metrics.add().metrics
    duration = metrics.add(name="gen_ai.client.operation.duration")
    duration.histogram.data_points.add(count=1)
    duration.histogram.data_points.add(count=2)
    metrics.add(name="gen_ai.client.token.usage").sum.data_points.add(as_int=5)
    response = client.post("/v1/metrics", content=request.SerializeToString(), headers=PB)
    assert response.status_code == 200
    partial = ExportMetricsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_data_points == 3 and "does not store OTLP metrics" in partial.error_message
    as_json = json.dumps(json_format.MessageToDict(request)).encode()
    response = client.post("/v1/metrics", content=as_json, headers=JS)
    assert response.status_code == 200 and response.json()["partialSuccess"]["rejectedDataPoints"] == "3"
    assert client.post("/v1/metrics", content=b"\xff\xff", headers=PB).status_code == 400
