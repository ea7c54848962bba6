"""The analytics endpoints through the real app (TestClient): parameters, defaults, 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, Traffic, load, spans


@pytest.fixture
def client(store, chdb_dsn) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=chdb_dsn, database=store.database))) as c:
        yield c


def test_drift_endpoint(store, client) -> None:
    load(store, spans(1500, NOW - timedelta(days=6), NOW - timedelta(days=1), Traffic(), seed=1))
    load(store, spans(600, NOW - timedelta(hours=23), NOW, Traffic(latency_mu=7.4), seed=2))
    r = client.get("/api/v1/drift", params={"feature": "latency_ms", "service": "chat"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "drift" and body["n_current"] == 600 and body["n_reference"] == 1500
    assert {"psi", "js", "ks", "l_inf", "bins", "thresholds", "windows", "method"} <= set(body)
    r = client.get("/api/v1/drift", params={"feature": "status"})
    assert r.json()["kind"] == "categorical"
    assert client.get("/api/v1/drift", params={"feature": "nope"}).status_code == 400
    bad = {
        "feature": "model",
        "current_since": NOW.isoformat(),
        "current_until": (NOW - timedelta(hours=1)).isoformat(),
    }
    assert client.get("/api/v1/drift", params=bad).status_code == 400
    report = client.get("/api/v1/drift/report", params={"segment_by": "model", "top": 2}).json()
    assert len(report["segments"]) == 2 and report["verdict"] == "insufficient_data"  # ~300 calls per model
    report = client.get("/api/v1/drift/report", params={"service": "chat"}).json()
    assert report["verdict"] == "drift"
    assert {"segment": {"service": "chat"}, "feature": "latency_ms"} in report["drifted"]


def test_regressions_and_trends_endpoints(store, client) -> None:
    load(store, spans(600, NOW - timedelta(days=3), NOW, Traffic(prompt_version="6"), seed=3))
    load(store, spans(600, NOW - timedelta(days=3), NOW, Traffic(prompt_version="7"), seed=4))
    r = client.get("/api/v1/regressions", params={"dimension": "prompt_version", "a": "6", "b": "7"})
    assert r.status_code == 200, r.text
    body = r.json()
    names = {m["metric"] for m in body["metrics"]}
    assert {
        "latency_p50_ms",
        "latency_p95_ms",
        "ttft_p50_ms",
        "cost_per_call_usd",
        "input_tokens",
        "output_tokens",
        "error_rate",
        "score:quality",
        "score:quality:pass_rate",
    } <= names
    assert body["verdict"] in ("no_change", "inconclusive")
    assert body["horizon"]["reached"] is False and body["horizon"]["alpha"] == 0.01  # 600 < 1000 calls
    params = {"dimension": "prompt_version", "a": "6", "b": "7", "interim": "true"}
    interim = client.get("/api/v1/regressions", params=params).json()
    assert interim["horizon"]["interim"] is True
    assert {m["threshold"]["alpha"] for m in interim["metrics"]} == {0.001}
    assert (
        client.get("/api/v1/regressions", params={"dimension": "prompt_version", "a": "6"}).status_code == 400
    )
    assert (
        client.get("/api/v1/regressions", params={"dimension": "user_id", "a": "6", "b": "7"}).status_code
        == 422
    )
    r = client.get(
        "/api/v1/scores/trends", params={"name": "quality", "group_by": "prompt_version", "interval": "1d"}
    )
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    assert {s["group"]["prompt_version"] for s in series} == {"6", "7"}
    assert sum(p["count"] for s in series for p in s["points"]) == 1200
    assert all(0.0 <= p["pass_rate"] <= 1.0 for s in series for p in s["points"])
    for s in series:  # the window's totals: every point's scores together
        totals, points = s["totals"], s["points"]
        assert totals["count"] == sum(p["count"] for p in points)
        assert totals["mean"] == pytest.approx(sum(p["mean"] * p["count"] for p in points) / totals["count"])
        passes = sum(round(p["pass_rate"] * p["count"]) for p in points)
        assert totals["pass_rate"] == pytest.approx(passes / totals["count"])
        lo, hi = totals["pass_rate_ci_95"]
        assert lo < totals["pass_rate"] < hi and hi - lo < min(
            p["pass_rate_ci_95"][1] - p["pass_rate_ci_95"][0] for p in points
        )
