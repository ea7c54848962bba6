"""The typed (``...Public``) analytics responses: documented in /openapi.json, and byte-for-byte
the JSON of the dicts the analytics code computes (nothing dropped, added, renamed or re-typed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from llmtrace_server.app import create_app
from llmtrace_server.routes.drift import compute_drift, compute_report, resolve_windows, window_dict
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, Traffic, load, spans

CUR = (NOW - timedelta(hours=24), NOW)
REF = (NOW - timedelta(days=8), NOW - timedelta(hours=24))
WINDOW_PARAMS = {
    "reference_since": REF[0].isoformat(),
    "reference_until": REF[1].isoformat(),
    "current_since": CUR[0].isoformat(),
    "current_until": CUR[1].isoformat(),
}


@pytest.fixture
def client(store, chdb_dsn) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store=chdb_dsn, database=store.database))) as c:
        yield c


def _same_json(response: Any, computed: Any) -> None:
    """The same JSON: same keys, nulls and types (3 vs 3.0 differ), floats equal to 1e-9 relative.

    ClickHouse sums floats in parallel, in an order that varies between runs, so two computations
    of a stratified mean can differ in their last digits (issue 18, item 8).
    """
    _same(json.loads(json.dumps(response)), json.loads(json.dumps(jsonable_encoder(computed))), "$")


def _same(a: Any, b: Any, path: str) -> None:
    assert type(a) is type(b), f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-300), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def test_openapi_documents_every_analytics_response(client) -> None:
    spec = client.get("/openapi.json").json()
    expected = {
        ("/api/v1/drift", "get", "200"): "DriftResultPublic",
        ("/api/v1/drift/report", "get", "200"): "DriftReportPublic",
        ("/api/v1/regressions", "get", "200"): "RegressionReportPublic",
        ("/api/v1/scores/trends", "get", "200"): "ScoreTrendsPublic",
        ("/api/v1/alerts/rules", "post", "201"): "AlertRulePublic",
        ("/api/v1/alerts/rules", "get", "200"): "AlertRulesPublic",
        ("/api/v1/alerts/events", "get", "200"): "AlertEventsPublic",
        ("/api/v1/alerts/evaluate", "post", "200"): "AlertEvaluationPublic",
    }
    for (path, method, code), name in expected.items():
        schema = spec["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}, path
    schemas = spec["components"]["schemas"]
    metric = schemas["RegressionMetricPublic"]["properties"]
    assert {"metric", "effect", "ci_95", "p_value_adjusted", "needed_n", "verdict", "strata"} <= set(metric)
    assert set(metric["verdict"]["enum"]) == {"regressed", "improved", "no_change", "inconclusive"}
    drift = schemas["DriftResultPublic"]["properties"]
    assert {"psi", "js", "ks", "chi_square", "l_inf", "bins", "categories", "thresholds"} <= set(drift)
    assert schemas["HorizonPublic"]["properties"]["reached"]["type"] == "boolean"
    assert schemas["AlertEventPublic"]["properties"]["state"]["enum"] == ["firing", "resolved"]


def test_typed_responses_are_the_computed_json(store, client) -> None:
    load(store, spans(1200, REF[0], REF[1], Traffic(prompt_version="v1"), seed=1))
    mix = {"gpt-4o": 0.2, "claude-sonnet-4": 0.8}  # a model-mix change: stratified, with confounders
    load(store, spans(600, CUR[0], CUR[1], Traffic(prompt_version="v2", models=mix, latency_mu=7.3), seed=2))
    windows = resolve_windows(CUR[0], CUR[1], REF[0], REF[1])
    filters = dict.fromkeys(("service", "model", "provider", "prompt", "prompt_version", "environment"))
    for feature in ("latency_ms", "model", "score:quality", "ttft_ms"):
        body = client.get("/api/v1/drift", params={"feature": feature, **WINDOW_PARAMS}).json()
        computed = compute_drift(store, "default", [feature], windows, filters)[0]
        _same_json(body, {**computed, "windows": window_dict(windows), "filters": {}})
    assert "ks" not in client.get("/api/v1/drift", params={"feature": "model", **WINDOW_PARAMS}).json()

    body = client.get("/api/v1/drift/report", params={"segment_by": "model", **WINDOW_PARAMS}).json()
    _same_json(body, compute_report(store, "default", windows, filters, "model", 5))

    params = {"dimension": "prompt_version", "a": "v1", "b": "v2", "since": REF[0].isoformat()}
    params["until"] = NOW.isoformat()
    body = client.get("/api/v1/regressions", params=params).json()
    cohorts = build_cohorts("prompt_version", "v1", "v2", REF[0], NOW, None, None, None, None)
    computed = compute_regressions(store, "default", cohorts, {**filters, "prompt_version": None})
    assert computed["stratified_by"] == "model" and computed["confounders"]
    assert any("strata" in m for m in computed["metrics"])
    _same_json(body, computed)

    trends = client.get("/api/v1/scores/trends", params={"group_by": "model"}).json()
    point_keys = {"t", "count", "mean", "pass_rate", "pass_rate_ci_95"}
    assert all(set(p) == point_keys for s in trends["series"] for p in s["points"])
    assert isinstance(trends["series"][0]["points"][0]["count"], int)
