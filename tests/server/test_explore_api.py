"""``/api/v1/traces``, ``/api/v1/sessions[/{id}]`` and ``/api/v1/users`` over spans ingested as OTLP."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import otlp_build as ob
from fastapi.testclient import TestClient

from llmtrace._internal import semconv as sc

PB = {"Content-Type": "application/x-protobuf"}
SHOP, BANK = "shop-key-0123456789", "bank-key-0123456789"
SECOND_NS = 1_000_000_000


def chat(model: str, user: str, session: str, **extra: object) -> dict[str, object]:
    return {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
        sc.USER_ID: user,
        sc.SESSION_ID: session,
        **extra,
    }


def ingest(client: TestClient, spans: list, headers: dict[str, str] | None = None) -> None:
    body = ob.request(spans, {"service.name": "shop"}).SerializeToString()
    response = client.post("/v1/traces", content=body, headers={**PB, **(headers or {})})
    assert response.status_code == 200, response.text


def get(client: TestClient, path: str, **params: object) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def agent_trace(start_ns: int, user: str, session: str, *, error: bool = False) -> list:
    """``invoke_agent`` → two chats and a tool call, as one trace."""
    trace_id, root_id = ob.new_ids()
    root = ob.span(
        {},
        trace_id=trace_id,
        span_id=root_id,
        name="invoke_agent helper",
        start_ns=start_ns,
        duration_ms=3000,
    )
    children = [
        ob.span(
            chat(model, user, session, **{sc.GEN_AI_INPUT_MESSAGES: text}),
            trace_id=trace_id,
            parent_span_id=root_id,
            name=f"chat {model}",
            start_ns=start_ns + (i + 1) * SECOND_NS // 2,
            error=error and i == 1,
        )
        for i, (model, text) in enumerate((("gpt-4o", "find the walrus"), ("gpt-4o-mini", "summarise")))
    ]
    tool = ob.span(
        {sc.LLMTRACE_SPAN_KIND: sc.KIND_TOOL},
        trace_id=trace_id,
        parent_span_id=root_id,
        name="execute_tool search",
        start_ns=start_ns + 2 * SECOND_NS,
    )
    return [root, *children, tool]


def test_trace_session_and_user_lists(client: TestClient) -> None:
    base = time.time_ns() - 3600 * SECOND_NS
    a = agent_trace(base, "ann", "ann-1")
    b = [ob.span(chat("gpt-4o-mini", "ann", "ann-1"), start_ns=base + 60 * SECOND_NS)]
    c = agent_trace(base + 120 * SECOND_NS, "bob", "bob-1", error=True)
    d = [ob.span(chat("claude-sonnet-4", "", ""), start_ns=base + 180 * SECOND_NS)]
    ingest(client, [*a, *b])
    ingest(client, [*c, *d])
    ids = {name: spans[0].trace_id.hex() for name, spans in {"a": a, "b": b, "c": c, "d": d}.items()}

    traces = get(client, "/api/v1/traces")["data"]
    assert [t["trace_id"] for t in traces] == [ids["d"], ids["c"], ids["b"], ids["a"]]
    first_agent = traces[3]
    assert first_agent["root_name"] == "invoke_agent helper"
    assert first_agent["service_name"] == "shop"
    assert (first_agent["spans"], first_agent["llm_calls"], first_agent["errors"]) == (4, 2, 0)
    assert (first_agent["input_tokens"], first_agent["output_tokens"]) == (200, 20)
    assert first_agent["models"] == ["gpt-4o", "gpt-4o-mini"] and first_agent["model"] == "gpt-4o"
    assert first_agent["duration_ms"] == 3000.0 and first_agent["status"] == "ok"
    assert (first_agent["user_id"], first_agent["session_id"]) == ("ann", "ann-1")
    assert traces[1]["status"] == "error"

    def trace_ids(**params: object) -> list[str]:
        return [t["trace_id"] for t in get(client, "/api/v1/traces", **params)["data"]]

    assert trace_ids(model="gpt-4o") == [ids["c"], ids["a"]]
    assert trace_ids(status="error") == [ids["c"]]
    assert trace_ids(status="ok") == [ids["d"], ids["b"], ids["a"]]
    assert trace_ids(user_id="ann") == [ids["b"], ids["a"]]
    assert trace_ids(kind="tool", session_id="bob-1") == [ids["c"]]
    assert trace_ids(q="WALRUS") == [ids["c"], ids["a"]]
    assert trace_ids(model="x' OR 1=1 --") == []

    # Pages of one trace each visit every trace once, newest first.
    seen, cursor = [], None
    while True:
        page = get(client, "/api/v1/traces", limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [t["trace_id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids["d"], ids["c"], ids["b"], ids["a"]]

    sessions = get(client, "/api/v1/sessions")["data"]
    assert [s["session_id"] for s in sessions] == ["bob-1", "ann-1"]
    ann = sessions[1]
    assert (ann["user_id"], ann["traces"], ann["llm_calls"], ann["errors"]) == ("ann", 2, 3, 0)
    assert sessions[0]["errors"] == 1
    assert get(client, "/api/v1/sessions", user_id="ann")["data"] == [ann]
    one = get(client, "/api/v1/sessions", limit=1)
    assert [s["session_id"] for s in one["data"]] == ["bob-1"]
    rest = get(client, "/api/v1/sessions", limit=1, cursor=one["next_cursor"])
    assert [s["session_id"] for s in rest["data"]] == ["ann-1"] and rest["next_cursor"] is None

    detail = get(client, "/api/v1/sessions/ann-1")
    assert detail["session"] == ann
    assert [t["trace_id"] for t in detail["traces"]] == [ids["a"], ids["b"]]
    assert client.get("/api/v1/sessions/nobody").status_code == 404

    users = get(client, "/api/v1/users")["data"]
    assert [(u["user_id"], u["sessions"], u["traces"]) for u in users] == [("bob", 1, 1), ("ann", 1, 2)]
    assert users[1]["cost_usd"] >= 0 and users[1]["llm_calls"] == 3


def test_lists_reject_what_they_cannot_answer(client: TestClient) -> None:
    for path in ("/api/v1/traces", "/api/v1/sessions", "/api/v1/users"):
        bad_status = client.get(path, params={"status": "cancelled"})
        assert bad_status.status_code == 400 and "status" in bad_status.json()["detail"]
        assert client.get(path, params={"cursor": "not-a-cursor"}).status_code == 400
        assert client.get(path, params={"limit": 0}).status_code == 422
        assert client.get(path, params={"since": "yesterday"}).status_code == 422
        assert get(client, path) == {"data": [], "next_cursor": None}
    for path in ("/api/v1/spans", "/api/v1/traces", "/api/v1/sessions", "/api/v1/users"):
        no_word = client.get(path, params={"q": "-- !?"})
        assert no_word.status_code == 400 and "q must contain a word" in no_word.json()["detail"]


def test_lists_are_per_project(make_client) -> None:
    client: TestClient = make_client(api_keys=[f"{SHOP}:shop", f"{BANK}:bank"])
    ingest(
        client,
        agent_trace(time.time_ns() - 60 * SECOND_NS, "ann", "ann-1"),
        {"Authorization": f"Bearer {SHOP}"},
    )
    for path in ("/api/v1/traces", "/api/v1/sessions", "/api/v1/users", "/api/v1/sessions/ann-1"):
        assert client.get(path).status_code == 401
        shop = client.get(path, headers={"Authorization": f"Bearer {SHOP}"})
        assert shop.status_code == 200 and shop.json()
        bank = client.get(path, headers={"Authorization": f"Bearer {BANK}"})
        assert bank.status_code == 404 if path.endswith("ann-1") else bank.json()["data"] == []


def test_a_session_id_with_slashes_opens_in_the_api_and_the_ui(client: TestClient) -> None:
    """Ids like ``team/alice/42`` were a 404 in both: the route took one path segment."""
    ids = ["team/alice/42", "/leading", "trailing/"]
    ingest(client, [ob.span(chat("gpt-4o", "u", session)) for session in ids])
    for session in ids:
        found = get(client, "/api/v1/sessions/" + quote(session, safe=""))
        assert found["session"]["session_id"] == session
    page = client.get("/sessions").text
    links = re.findall(r'href="(/sessions/[^"]+)"', page)
    assert len(links) == 3
    for link in links:
        opened = client.get(link)
        assert opened.status_code == 200, link
        assert any(session in opened.text for session in ids)
