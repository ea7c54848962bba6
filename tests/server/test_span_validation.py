"""Per-span validation (issue 13): a poison value rejects its span alone, through OTLP partial
success, and never reaches the shared INSERT; the raw table and the rollups stay in agreement."""

from __future__ import annotations

import json
import time

import otlp_build as ob
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from llmtrace._internal import semconv as sc
from llmtrace.store.rows import MAX_COST_USD

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
DAY_NS = 86400 * 10**9
CHAT = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
}


def stored_ids(client: TestClient) -> list[str]:
    response = client.get("/api/v1/spans", params={"limit": "1000"})
    assert response.status_code == 200, response.text
    return sorted(r["span_id"] for r in response.json()["data"])


def counts(client: TestClient) -> tuple[int, int, int]:
    """(raw LLM spans, calls in the hourly rollup, calls in the 5-minute cost rollup)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    db = store.database
    raw = store.client.query(f"SELECT count() FROM {db}.spans WHERE kind = 'llm'").result_rows[0][0]
    hourly = store.client.query(f"SELECT countMerge(calls) FROM {db}.spans_hourly").result_rows[0][0]
    five = store.client.query(f"SELECT sum(calls) FROM {db}.cost_5m").result_rows[0][0]
    return int(raw), int(hourly), int(five)


def json_body(spans: list, edit) -> dict:
    body = json.loads(ob.to_json(ob.request(spans)))
    edit(body["resourceSpans"][0]["scopeSpans"][0]["spans"])
    return body


def set_attr(span_obj: dict, key: str, value: dict) -> None:
    for item in span_obj["attributes"]:
        if item["key"] == key:
            item["value"] = value
            return
    span_obj["attributes"].append({"key": key, "value": value})


def test_non_finite_numbers_reject_their_span_only(client: TestClient) -> None:
    good = [ob.span(CHAT) for _ in range(3)]
    poisoned = [ob.span(CHAT) for _ in range(4)]

    def edit(objs: list) -> None:
        set_attr(objs[3], sc.LLMTRACE_COST_USD, {"doubleValue": "Infinity"})
        set_attr(objs[4], sc.LLMTRACE_TTFT_MS, {"doubleValue": "NaN"})
        set_attr(objs[5], sc.GEN_AI_USAGE_INPUT_TOKENS, {"doubleValue": "NaN"})
        set_attr(objs[6], sc.LLMTRACE_COST_USD, {"intValue": str(10**400)})

    response = client.post("/v1/traces", json=json_body(good + poisoned, edit))
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 4
    assert "finite" in partial["errorMessage"] and "span #3" in partial["errorMessage"]
    assert stored_ids(client) == sorted(s.span_id.hex() for s in good)
    assert counts(client) == (3, 3, 3)


def test_a_cost_over_the_most_one_span_may_cost_rejects_its_span_only(client: TestClient) -> None:
    """A finite cost too large for the rollups' Decimal sums (~1e23 USD) failed its whole block's
    INSERT at the views, after the raw table had taken it; now anything over MAX_COST_USD is
    refused, and the rest of the request is stored in every table."""
    good = [ob.span(CHAT), ob.span({**CHAT, sc.LLMTRACE_COST_USD: MAX_COST_USD})]
    too_much = [ob.span({**CHAT, sc.LLMTRACE_COST_USD: 1e300}), ob.span({**CHAT, sc.LLMTRACE_COST_USD: 2e9})]
    response = client.post("/v1/traces", content=ob.request(good + too_much).SerializeToString(), headers=PB)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2 and "'llmtrace.cost.usd' is out of range" in partial.error_message
    assert stored_ids(client) == sorted(s.span_id.hex() for s in good)
    assert counts(client) == (2, 2, 2)
    store = client.app.state.store  # type: ignore[attr-defined]
    calls, cost = store.client.query(
        f"SELECT sum(calls), sum(cost_sum) FROM {store.database}.calls_hourly"
    ).result_rows[0]
    assert calls == 2 and float(cost) > MAX_COST_USD


def test_infinite_protobuf_double_is_rejected_in_partial_success(client: TestClient) -> None:
    good = ob.span(CHAT)
    bad = ob.span({**CHAT, sc.LLMTRACE_TTFT_MS: float("inf")})
    response = client.post("/v1/traces", content=ob.request([good, bad]).SerializeToString(), headers=PB)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1 and "time to first token" in partial.error_message
    assert stored_ids(client) == [good.span_id.hex()]
    assert counts(client) == (1, 1, 1)


def test_lone_surrogate_rejects_its_span_only(client: TestClient) -> None:
    good = ob.span(CHAT)
    names = ob.span(CHAT)
    attribute = ob.span(CHAT)
    raw = ob.to_json(ob.request([good, names, attribute])).decode()
    raw = raw.replace('"chat gpt-4o-mini"', '"chat \\ud800"', 2).replace(
        '"chat \\ud800"', '"chat gpt-4o-mini"', 1
    )
    doc = json.loads(raw)
    objs = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    set_attr(objs[2], "note", {"stringValue": "x\udfff"})
    raw = json.dumps(doc)  # json.dumps writes the lone surrogates as \\udXXX escapes
    assert "\\ud800" in raw and "\\udfff" in raw
    response = client.post("/v1/traces", content=raw.encode(), headers=JS)
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 2 and "surrogate" in partial["errorMessage"]
    assert stored_ids(client) == [good.span_id.hex()]


def test_spans_older_than_the_retention_are_rejected_not_silently_dropped(client: TestClient) -> None:
    fresh = ob.span(CHAT)
    old = ob.span(CHAT, start_ns=time.time_ns() - 100 * DAY_NS)
    response = client.post("/v1/traces", content=ob.request([fresh, old]).SerializeToString(), headers=PB)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "retention" in partial.error_message and "90 days" in partial.error_message
    assert stored_ids(client) == [fresh.span_id.hex()]


def test_the_time_window_is_configurable(make_client) -> None:
    client = make_client(max_span_age_days=2, max_future_skew_seconds=60)
    ok = ob.span(CHAT, start_ns=time.time_ns() - 1 * DAY_NS)
    old = ob.span(CHAT, start_ns=time.time_ns() - 3 * DAY_NS)
    ahead = ob.span(CHAT, start_ns=time.time_ns() + 600 * 10**9)
    response = client.post("/v1/traces", content=ob.request([ok, old, ahead]).SerializeToString(), headers=PB)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 2
    assert "2 days" in partial.error_message and "future" in partial.error_message
    assert stored_ids(client) == [ok.span_id.hex()]


def test_a_batch_over_more_than_100_months_is_stored(make_client) -> None:
    client = make_client(span_ttl_days=0, rollup_ttl_days=0)  # keep forever: any start time is valid
    now = time.time_ns()
    batch = [ob.span(CHAT, start_ns=now - month * 31 * DAY_NS) for month in range(130)]
    response = client.post("/v1/traces", content=ob.request(batch).SerializeToString(), headers=PB)
    assert response.status_code == 200, response.content
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 0
    raw, hourly, five = counts(client)
    assert raw == hourly == five == 130


def test_invalid_utf8_in_a_protobuf_span_rejects_that_span_only(client: TestClient) -> None:
    good = ob.span(CHAT)
    bad_name = ob.span(CHAT, name="NAME-TO-BREAK")
    bad_attribute = ob.span({**CHAT, "note": "ATTR-TO-BREAK"})
    other_resource = ob.request([ob.span(CHAT)], resource={"service.name": "RESOURCE-TO-BREAK"})
    request = ob.request([good, bad_name, bad_attribute])
    request.resource_spans.extend(other_resource.resource_spans)
    body = request.SerializeToString()
    for marker in (b"NAME-TO-BREAK", b"ATTR-TO-BREAK", b"RESOURCE-TO-BREAK"):
        body = body.replace(marker, b"\xff\xfe" + marker[2:])  # same length: the framing stays valid
    response = client.post("/v1/traces", content=body, headers=PB)
    assert response.status_code == 200, response.content
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 3
    message = partial.error_message
    assert "span #1" in message and "span #2" in message and "span #3" in message and "UTF-8" in message
    assert bad_name.span_id.hex() in message  # the ids are read even though the span does not parse
    assert stored_ids(client) == [good.span_id.hex()]


@pytest.mark.parametrize(
    "cost",
    [
        {"doubleValue": "Infinity"},
        {"doubleValue": 1e300},  # finite, and more than the rollups' Decimal sums hold: failed the block
    ],
)
def test_one_projects_poison_span_never_fails_or_duplicates_another_projects_spans(
    make_client, cost: dict
) -> None:
    """The issue's scenario: project A ingests while project B sends one cost the store cannot take."""
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(api_keys=["key-of-a-000000:a", "key-of-b-000000:b"])
    a_batches = [ob.request([ob.span(CHAT) for _ in range(50)]) for _ in range(10)]
    poison = json_body([ob.span(CHAT)], lambda objs: set_attr(objs[0], sc.LLMTRACE_COST_USD, cost))

    def send_a(req) -> int:
        headers = {**PB, "Authorization": "Bearer key-of-a-000000"}
        return client.post("/v1/traces", content=req.SerializeToString(), headers=headers).status_code

    def send_b() -> dict:
        response = client.post("/v1/traces", json=poison, headers={"Authorization": "Bearer key-of-b-000000"})
        assert response.status_code == 200
        return response.json()

    with ThreadPoolExecutor(6) as pool:
        b_answer = pool.submit(send_b)
        a_statuses = list(pool.map(send_a, a_batches))
    assert a_statuses == [200] * 10  # no 503, so no exporter retry that could duplicate rows
    assert int(b_answer.result()["partialSuccess"]["rejectedSpans"]) == 1
    store = client.app.state.store  # type: ignore[attr-defined]
    db = store.database
    raw_sql = f"SELECT project, count(), uniqExact(span_id) FROM {db}.spans GROUP BY project"
    deadline = time.monotonic() + 10  # a request answered from the spool is written within 1 s
    while (raw := store.client.query(raw_sql).result_rows) != [
        ("a", 500, 500)
    ] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert raw == [("a", 500, 500)]
    hourly = store.client.query(
        f"SELECT project, countMerge(calls) FROM {db}.spans_hourly GROUP BY project"
    ).result_rows
    assert hourly == [("a", 500)]
    calls = store.client.query(
        f"SELECT project, sum(calls) FROM {db}.calls_hourly GROUP BY project"
    ).result_rows
    assert calls == [("a", 500)]
