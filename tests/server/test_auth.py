"""API keys: no key / wrong key are refused, and each key sees only its own project's data."""

from __future__ import annotations

import otlp_build as ob
import pytest
from fastapi.testclient import TestClient
from google.rpc import status_pb2

from llmtrace_server.settings import Settings

PB = {"Content-Type": "application/x-protobuf"}
SHOP, BANK = "shop-key-0123456789", "bank-key-0123456789"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_auth_matrix(make_client) -> None:
    client: TestClient = make_client(api_keys=[f"{SHOP}:shop", f"{BANK}:bank"])
    s = ob.span({"gen_ai.request.model": "gpt-4o-mini"})
    trace_id = s.trace_id.hex()
    body = ob.request([s]).SerializeToString()

    for headers in ({}, auth("wrong-key-000000"), {"Authorization": f"Basic {SHOP}"}):
        response = client.post("/v1/traces", content=body, headers={**PB, **headers})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "api key" in status_pb2.Status.FromString(response.content).message.lower()
        for path in ("/api/v1/spans", "/api/v1/metrics", "/api/v1/scores", f"/api/v1/traces/{trace_id}"):
            assert client.get(path, headers=headers).status_code == 401, path
        assert (
            client.post(
                "/api/v1/scores",
                json={"scores": [{"trace_id": trace_id, "name": "x", "value": 1}]},
                headers=headers,
            ).status_code
            == 401
        )

    assert client.post("/v1/traces", content=body, headers={**PB, **auth(SHOP)}).status_code == 200
    score = {"scores": [{"trace_id": trace_id, "name": "ok", "value": 1}]}
    assert client.post("/api/v1/scores", json=score, headers=auth(SHOP)).status_code == 200

    shop = client.get("/api/v1/spans", headers=auth(SHOP)).json()["data"]
    assert [(r["span_id"], r["project"]) for r in shop] == [(s.span_id.hex(), "shop")]
    assert client.get(f"/api/v1/traces/{trace_id}", headers=auth(SHOP)).status_code == 200
    assert len(client.get("/api/v1/scores", headers=auth(SHOP)).json()["data"]) == 1
    shop_calls = sum(
        p["calls"] for p in client.get("/api/v1/metrics", headers=auth(SHOP)).json()["series"][0]["points"]
    )
    assert shop_calls == 1

    # The other project sees none of it, whichever endpoint it asks.
    assert client.get("/api/v1/spans", headers=auth(BANK)).json()["data"] == []
    assert client.get(f"/api/v1/traces/{trace_id}", headers=auth(BANK)).status_code == 404
    assert client.get("/api/v1/scores", headers=auth(BANK)).json()["data"] == []
    bank_calls = sum(
        p["calls"] for p in client.get("/api/v1/metrics", headers=auth(BANK)).json()["series"][0]["points"]
    )
    assert bank_calls == 0
    # Health checks stay open for load balancers.
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_span_cannot_choose_its_project(make_client) -> None:
    client: TestClient = make_client(api_keys=[f"{SHOP}:shop", f"{BANK}:bank"])
    s = ob.span({"llmtrace.project": "bank"})
    client.post("/v1/traces", content=ob.request([s]).SerializeToString(), headers={**PB, **auth(SHOP)})
    assert client.get("/api/v1/spans", headers=auth(BANK)).json()["data"] == []
    assert len(client.get("/api/v1/spans", headers=auth(SHOP)).json()["data"]) == 1


def test_settings_refuse_an_open_bind_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMTRACE_API_KEYS", raising=False)
    with pytest.raises(ValueError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        Settings(host="0.0.0.0")
    assert Settings(host="0.0.0.0", insecure=True).insecure
    assert Settings(host="::1").host == "::1"
    assert Settings(host="0.0.0.0", api_keys=["k" * 12]).api_keys == {"k" * 12: "default"}
    monkeypatch.setenv("LLMTRACE_API_KEYS", f"{SHOP}:shop, {BANK}")
    assert Settings().api_keys == {SHOP: "shop", BANK: "default"}
    with pytest.raises(ValueError, match="at least 8"):
        Settings(api_keys=["short"])
