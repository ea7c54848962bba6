"""The query API over ingested spans: filters, pagination, trace trees, scores and metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import otlp_build as ob
import pytest
from fastapi.testclient import TestClient

from llmtrace._internal import semconv as sc

PB = {"Content-Type": "application/x-protobuf"}
HOUR_NS = 3600 * 10**9
BASE_NS = (time.time_ns() // HOUR_NS - 3) * HOUR_NS  # an hour boundary, three hours ago


def llm(model: str, prompt: str, version: str, **extra: object) -> dict[str, object]:
    return {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
        sc.LLMTRACE_PROMPT_NAME: prompt,
        sc.LLMTRACE_PROMPT_VERSION: version,
        **extra,
    }


def ingest(client: TestClient, spans: list, service: str = "checkout") -> None:
    response = client.post(
        "/v1/traces", content=ob.request(spans, {"service.name": service}).SerializeToString(), headers=PB
    )
    assert response.status_code == 200 and response.content == b""


def get(client: TestClient, path: str, **params: object) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_span_filters_and_free_text(client: TestClient) -> None:
    a = ob.span(
        llm(
            "gpt-4o-mini",
            "summarize",
            "v1",
            **{sc.USER_ID: "u1", sc.SESSION_ID: "s1", sc.GEN_AI_INPUT_MESSAGES: "Tell me about Zanzibar"},
        )
    )
    b = ob.span(llm("gpt-4o", "summarize", "v2", **{sc.USER_ID: "u2"}), error=True)
    c = ob.span({"http.route": "/checkout"}, name="GET /checkout")
    ingest(client, [a, b])
    ingest(client, [c], service="web")

    def ids(**params: object) -> set[str]:
        return {r["span_id"] for r in get(client, "/api/v1/spans", **params)["data"]}

    ha, hb, hc = a.span_id.hex(), b.span_id.hex(), c.span_id.hex()
    assert ids() == {ha, hb, hc}
    assert ids(service="checkout") == {ha, hb}
    assert ids(model="gpt-4o") == {hb}
    assert ids(provider="openai") == {ha, hb}
    assert ids(prompt="summarize", prompt_version="v1") == {ha}
    assert ids(user_id="u2") == {hb}
    assert ids(session_id="s1") == {ha}
    assert ids(status="error") == {hb}
    assert ids(kind="span") == {hc}
    assert ids(q="zanzibar") == {ha}
    assert ids(q="nowhere") == set()
    assert ids(model="x' OR 1=1 --") == set()
    start = datetime.fromtimestamp(a.start_time_unix_nano / 1e9, UTC)
    assert ids(since=(start + timedelta(hours=1)).isoformat()) == set()
    assert ids(until=(start - timedelta(hours=1)).isoformat()) == set()


def test_free_text_finds_the_first_word_of_a_line(client: TestClient) -> None:
    """Messages are stored as JSON text, where a line break before a word is ``\\n`` glued to it
    (token ``nanswer``): the first word of every line of a prompt was not found."""

    def messages(text: str) -> str:
        return json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": text}]}], ensure_ascii=False
        )

    lines = ob.span(
        llm(
            "m",
            "p",
            "v1",
            **{sc.GEN_AI_INPUT_MESSAGES: messages("You are terse.\nAnswer\tbriefly\r\nPlease")},
        )
    )
    word = ob.span(llm("m", "p", "v1", **{sc.GEN_AI_INPUT_MESSAGES: messages("a nanswer and a tbriefly")}))
    neither = ob.span(
        llm("m", "p", "v1", **{sc.GEN_AI_INPUT_MESSAGES: messages("answering briefly\\nothing")})
    )
    ingest(client, [lines, word, neither])

    def found(q: str) -> set[str]:
        named = {lines.span_id.hex(): "lines", word.span_id.hex(): "word", neither.span_id.hex(): "neither"}
        return {named[r["span_id"]] for r in get(client, "/api/v1/spans", q=q)["data"]}

    assert found("answer") == {"lines"}  # after \n; "nanswer" and "answering" are other words
    assert found("briefly") == {"lines", "neither"}  # after \t, and after a space
    assert found("please") == {"lines"}  # after \r\n
    assert found("You answer please") == {"lines"}
    assert found("othing") == set()  # "\\nothing" is a backslash and the word "nothing"
    trace_ids = {r["trace_id"] for r in get(client, "/api/v1/traces", q="answer")["data"]}
    assert trace_ids == {lines.trace_id.hex()}


def test_free_text_finds_words_a_sender_escaped(client: TestClient) -> None:
    """Python's ``json.dumps`` (OpenTelemetry instrumentations' message attributes) escapes every
    non-ASCII letter: "Zürich" arrives as ``Z\\u00fcrich``; it was not found by ``zürich``."""

    def messages(text: str, ascii_only: bool = True) -> str:
        content = [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        return json.dumps(content, ensure_ascii=ascii_only)

    def span(text: str, ascii_only: bool = True) -> object:
        return ob.span(llm("m", "p", "v1", **{sc.GEN_AI_INPUT_MESSAGES: messages(text, ascii_only)}))

    spans = {
        "escaped": span("Flights to Zürich,\nÜber alles: naïve café 😀!"),
        "utf8": span("Flights to Zürich über alles", ascii_only=False),
        "longer": span("Zürichsee and Überall, naïveté at the cafés"),  # other words, escaped
        "literal": span("a literal \\u00fcber and ZÜRICH"),  # the six characters, and another Ü
    }
    ingest(client, list(spans.values()))
    named = {sp.span_id.hex(): name for name, sp in spans.items()}  # type: ignore[attr-defined]

    def found(q: str) -> set[str]:
        return {named[r["span_id"]] for r in get(client, "/api/v1/spans", q=q)["data"]}

    assert found("zürich") == {"escaped", "utf8"}
    assert found("Zürich flights") == {"escaped", "utf8"}
    assert found("Über") == {"escaped"}  # at a line's start (after \n); Ü is not ü (A-Z only)
    assert found("über") == {"utf8"}
    assert found("naïve café") == {"escaped"}  # not "naïveté", "cafés"
    assert found("😀") == {"escaped"}  # a surrogate pair: two escapes
    assert found("zürichsee") == {"longer"}
    assert found("ZÜRICH") == {"literal"}
    assert found("ürich") == set()
    trace_ids = {r["trace_id"] for r in get(client, "/api/v1/traces", q="café")["data"]}
    assert trace_ids == {spans["escaped"].trace_id.hex()}  # type: ignore[attr-defined]


def test_newest_first_cursor_pagination_visits_every_span_once(client: TestClient) -> None:
    same_time = BASE_NS + 5 * 10**9
    batch = [ob.span(llm("gpt-4o-mini", "p", "v1"), start_ns=BASE_NS + i * 10**9) for i in range(7)]
    batch += [ob.span(llm("gpt-4o-mini", "p", "v1"), start_ns=same_time) for _ in range(4)]  # ties
    ingest(client, batch)
    seen: list[dict] = []
    cursor = None
    for _ in range(20):
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = get(client, "/api/v1/spans", **params)
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 11 and len({r["span_id"] for r in seen}) == 11
    keys = [(r["start_time"], r["trace_id"], r["span_id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    assert client.get("/api/v1/spans", params={"cursor": "not-a-cursor"}).status_code == 400


def test_span_fields_are_the_columns_with_hex_ids(client: TestClient) -> None:
    s = ob.span(llm("gpt-4o-mini", "p", "v1", **{sc.LLMTRACE_TAGS: ["a", "b"], "app.flag": True}))
    ingest(client, [s])
    [row] = get(client, "/api/v1/spans")["data"]
    assert set(row) >= {
        "trace_id",
        "span_id",
        "parent_span_id",
        "service_name",
        "model",
        "cost_usd",
        "attributes",
        "tags",
    }
    assert row["trace_id"] == s.trace_id.hex() and row["trace_id"].islower()
    assert row["tags"] == ["a", "b"] and row["attributes"] == {"app.flag": "true"}
    assert row["start_time"].endswith("Z")


def test_trace_tree_with_scores(client: TestClient) -> None:
    trace_id, root_id = ob.new_ids()
    _, child_id = ob.new_ids()
    _, grandchild_id = ob.new_ids()
    _, orphan_id = ob.new_ids()
    _, missing_parent = ob.new_ids()
    spans = [
        ob.span({}, trace_id=trace_id, span_id=root_id, name="handle", start_ns=BASE_NS, duration_ms=900),
        ob.span(
            llm("gpt-4o-mini", "p", "v1"),
            trace_id=trace_id,
            span_id=child_id,
            parent_span_id=root_id,
            start_ns=BASE_NS + 10**6,
        ),
        ob.span(
            {},
            trace_id=trace_id,
            span_id=grandchild_id,
            parent_span_id=child_id,
            name="tool",
            start_ns=BASE_NS + 2 * 10**6,
        ),
        ob.span(
            {},
            trace_id=trace_id,
            span_id=orphan_id,
            parent_span_id=missing_parent,
            name="late",
            start_ns=BASE_NS + 3 * 10**6,
        ),
    ]
    ingest(client, spans)
    scores = [
        {"trace_id": trace_id, "name": "helpful", "value": 1, "label": "yes"},
        {"trace_id": trace_id, "span_id": child_id, "name": "faithful", "value": 0.25, "source": "judge"},
    ]
    response = client.post("/api/v1/scores", json={"scores": scores})
    assert response.status_code == 200 and response.json() == {"accepted": 2}
    trace = get(client, f"/api/v1/traces/{trace_id.upper()}")
    assert trace["trace_id"] == trace_id and trace["span_count"] == 4
    assert [n["span_id"] for n in trace["spans"]] == [root_id, orphan_id]
    [child] = trace["spans"][0]["children"]
    assert child["span_id"] == child_id and [g["span_id"] for g in child["children"]] == [grandchild_id]
    assert [(s["name"], s["value"], s["source"]) for s in child["scores"]] == [("faithful", 0.25, "judge")]
    assert [(s["name"], s["label"]) for s in trace["scores"]] == [("helpful", "yes")]
    assert client.get(f"/api/v1/traces/{'f' * 32}").status_code == 404
    assert client.get("/api/v1/traces/xyz").status_code == 422


def test_scores_rescore_replaces_and_filters(client: TestClient) -> None:
    trace_id, span_id = ob.new_ids()
    other_trace, _ = ob.new_ids()
    post = [
        {"trace_id": trace_id, "span_id": span_id, "name": "relevance", "value": 0.2},
        {"trace_id": trace_id, "name": "thumbs", "value": 1},
        {"trace_id": other_trace, "name": "relevance", "value": 0.9},
    ]
    assert client.post("/api/v1/scores", json={"scores": post}).status_code == 200
    time.sleep(0.002)
    rescore = {"trace_id": trace_id, "span_id": span_id, "name": "relevance", "value": 0.7}
    assert client.post("/api/v1/scores", json={"scores": [rescore]}).status_code == 200
    by_span = get(client, "/api/v1/scores", span_id=span_id)["data"]
    assert [(s["name"], s["value"]) for s in by_span] == [("relevance", 0.7)]
    assert {s["trace_id"] for s in get(client, "/api/v1/scores", name="relevance")["data"]} == {
        trace_id,
        other_trace,
    }
    assert len(get(client, "/api/v1/scores", trace_id=trace_id)["data"]) == 2
    first = get(client, "/api/v1/scores", limit=2)
    rest = get(client, "/api/v1/scores", limit=2, cursor=first["next_cursor"])
    assert len(first["data"]) == 2 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    bad = [
        {"scores": []},
        {"scores": [{"trace_id": "zz", "name": "x", "value": 1}]},
        {"scores": [{"trace_id": trace_id, "name": "", "value": 1}]},
        {"scores": [{"trace_id": trace_id, "name": "x", "value": "high"}]},
        {"scores": [{"trace_id": trace_id, "name": "x", "value": 1, "extra": 1}]},
        {"scores": [{"trace_id": trace_id, "name": "x", "value": 1, "timestamp": "2999-01-01T00:00:00Z"}]},
        {"scores": [{"trace_id": trace_id, "name": "x", "value": 1, "timestamp": "yesterday"}]},
    ]
    for body in bad:
        assert client.post("/api/v1/scores", json=body).status_code == 422, body


def test_one_requests_scores_over_many_months_are_stored(client: TestClient) -> None:
    """150 months of back-filled scores in one request: more partitions than one INSERT may make
    by default (100), which answered 500, the same again on every retry."""
    scores = [
        {
            "trace_id": f"{i + 1:032x}",
            "name": "q",
            "value": 1,
            "timestamp": f"{2026 - i // 12}-{i % 12 + 1:02d}-01T00:00:00Z",
        }
        for i in range(150)
    ]
    response = client.post("/api/v1/scores", json={"scores": scores})
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 150}
    first = get(client, "/api/v1/scores", limit=100)
    rest = get(client, "/api/v1/scores", limit=100, cursor=first["next_cursor"])
    assert len(first["data"]) + len(rest["data"]) == 150


@pytest.mark.parametrize("interval", ["1m", "1h"])  # raw spans and the hourly rollup agree
def test_metrics_series_grouped_and_filled(client: TestClient, interval: str) -> None:
    spans = []
    for i in range(6):  # hour 0: four calls of two models, one error; hour 2: two calls
        hour = 0 if i < 4 else 2
        model = "gpt-4o-mini" if i % 2 == 0 else "gpt-4o"
        spans.append(
            ob.span(
                llm(model, "p", "v1", **{sc.LLMTRACE_TTFT_MS: 50.0}),
                start_ns=BASE_NS + hour * HOUR_NS + i * 10**9,
                duration_ms=100.0 * (i + 1),
                error=i == 1,
            )
        )
    spans.append(ob.span({}, name="not an llm call", start_ns=BASE_NS))
    ingest(client, spans)
    since = datetime.fromtimestamp(BASE_NS / 1e9, UTC)
    until = since + timedelta(hours=3)
    body = get(client, "/api/v1/metrics", interval=interval, since=since.isoformat(), until=until.isoformat())
    assert body["interval"] == interval
    [series] = body["series"]
    assert series["group"] == {}
    step = 60 if interval == "1m" else 3600
    assert len(series["points"]) == 3 * 3600 // step
    assert series["points"][0]["t"] == since.isoformat().replace("+00:00", "Z")
    busy = [p for p in series["points"] if p["calls"]]
    assert [p["calls"] for p in busy] == [4, 2]
    first = busy[0]
    assert first["errors"] == 1 and first["error_rate"] == 0.25
    assert (first["input_tokens"], first["output_tokens"]) == (400, 40)
    assert first["latency_p50_ms"] == pytest.approx(250, rel=0.25) and first["ttft_p50_ms"] == pytest.approx(
        50
    )
    assert first["cost_usd"] > 0
    empty = next(p for p in series["points"] if not p["calls"])
    assert empty["error_rate"] is None and empty["latency_p95_ms"] is None and empty["cost_usd"] == 0
    totals = series["totals"]
    assert (totals["calls"], totals["errors"], totals["input_tokens"], totals["output_tokens"]) == (
        6,
        1,
        600,
        60,
    )
    assert totals["error_rate"] == pytest.approx(1 / 6)
    assert totals["cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in series["points"]))
    # The window's own p95 (of 100..600 ms), not the buckets' p95s averaged (~470).
    assert totals["latency_p95_ms"] == pytest.approx(600, rel=0.05)
    assert totals["latency_p50_ms"] == pytest.approx(350, rel=0.15) and totals[
        "ttft_p50_ms"
    ] == pytest.approx(50)
    grouped = get(
        client,
        "/api/v1/metrics",
        interval=interval,
        since=since.isoformat(),
        until=until.isoformat(),
        group_by="model,prompt",
    )
    groups = {
        tuple(sorted(s["group"].items())): sum(p["calls"] for p in s["points"]) for s in grouped["series"]
    }
    assert all(s["totals"]["calls"] == 3 for s in grouped["series"])
    assert groups == {
        (("model", "gpt-4o"), ("prompt", "p")): 3,
        (("model", "gpt-4o-mini"), ("prompt", "p")): 3,
    }
    only = get(
        client,
        "/api/v1/metrics",
        interval=interval,
        since=since.isoformat(),
        until=until.isoformat(),
        model="gpt-4o",
    )
    assert sum(p["calls"] for p in only["series"][0]["points"]) == 3


def test_metrics_refuses_absurd_requests(client: TestClient) -> None:
    assert (
        client.get("/api/v1/metrics", params={"interval": "1m", "since": "2020-01-01T00:00:00Z"}).status_code
        == 400
    )
    assert client.get("/api/v1/metrics", params={"group_by": "user_id"}).status_code == 400
    assert client.get("/api/v1/metrics", params={"interval": "7s"}).status_code == 422
    assert (
        client.get(
            "/api/v1/metrics", params={"since": "2030-01-01T00:00:00Z", "until": "2029-01-01T00:00:00Z"}
        ).status_code
        == 400
    )
    default = get(client, "/api/v1/metrics")
    assert default["interval"] == "1h" and len(default["series"][0]["points"]) in (24, 25)


def test_health_endpoints(client: TestClient) -> None:
    assert get(client, "/healthz") == {"status": "ok"}
    assert get(client, "/readyz") == {"status": "ok"}
    assert "/v1/traces" in get(client, "/openapi.json")["paths"]


def test_a_full_page_of_the_largest_size_still_has_a_next_cursor(client: TestClient) -> None:
    ingest(client, [ob.span({}, start_ns=BASE_NS + i) for i in range(1001)])
    first = get(client, "/api/v1/spans", limit=1000)
    assert len(first["data"]) == 1000 and first["next_cursor"]
    rest = get(client, "/api/v1/spans", limit=1000, cursor=first["next_cursor"])
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


def test_scores_keep_the_time_they_were_given(client: TestClient) -> None:
    trace_id, span_id = ob.new_ids()
    given = ["2026-01-02T03:04:05.123456+00:00", "2026-01-02T03:04:05.123457+00:00"]
    post = [
        {"trace_id": trace_id, "span_id": span_id, "name": "a", "value": 1, "timestamp": given[0]},
        {
            "trace_id": trace_id,
            "name": "b",
            "value": 1,
            "timestamp": "2026-01-02T03:04:05.123457",
        },  # naive: UTC
        {"trace_id": trace_id, "name": "c", "value": 1},  # no time: arrival
    ]
    before = datetime.now(UTC)
    assert client.post("/api/v1/scores", json={"scores": post}).status_code == 200
    stored = {s["name"]: s["timestamp"] for s in get(client, "/api/v1/scores", trace_id=trace_id)["data"]}
    assert [datetime.fromisoformat(stored[n]) for n in "ab"] == [datetime.fromisoformat(t) for t in given]
    assert datetime.fromisoformat(stored["c"]) >= before.replace(microsecond=0)
