"""Edge cases of the analytics endpoints, through the real app on real chDB: they answer honestly
(``insufficient_data`` / ``inconclusive``, or a 4xx that names what is allowed) and never 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, Traffic, load, spans

SINCE = NOW - timedelta(days=2)
WINDOWS = {
    "reference_since": (NOW - timedelta(days=8)).isoformat(),
    "reference_until": (NOW - timedelta(days=1)).isoformat(),
    "current_since": (NOW - timedelta(days=1)).isoformat(),
    "current_until": NOW.isoformat(),
}


@pytest.fixture
def client(store, chdb_dsn) -> Iterator[TestClient]:
    app = create_app(Settings(store=chdb_dsn, database=store.database))
    # A server error must show up as a 500 response here, exactly as a user would see it.
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _regressions(client: TestClient, **params: Any) -> dict[str, dict[str, Any]]:
    body = _get(client, "/api/v1/regressions", since=SINCE.isoformat(), until=NOW.isoformat(), **params)
    _regressions.last = body  # type: ignore[attr-defined]
    return {m["metric"]: m for m in body["metrics"]}


def _insufficient(m: dict[str, Any]) -> bool:
    return m["verdict"] == "inconclusive" and m["reason"] == "insufficient_data" and m["p_value"] is None


def test_regression_with_an_empty_cohort(store, client) -> None:
    load(store, spans(300, SINCE, NOW, Traffic(prompt_version="1"), seed=1))
    m = _regressions(client, dimension="prompt_version", a="1", b="2")
    body = _regressions.last  # type: ignore[attr-defined]
    assert body["verdict"] == "inconclusive"
    assert body["cohorts"]["a"]["n"] == 300 and body["cohorts"]["b"]["n"] == 0
    assert m["latency_p50_ms"]["n_a"] == 300 and m["latency_p50_ms"]["n_b"] == 0
    assert m["latency_p50_ms"]["b"] is None and m["latency_p50_ms"]["effect"] is None
    assert all(_insufficient(x) for x in m.values())
    # The other way round, and with neither cohort present.
    m = _regressions(client, dimension="prompt_version", a="2", b="1")
    assert all(_insufficient(x) for x in m.values()) and m["error_rate"]["n_a"] == 0
    assert _regressions(client, dimension="prompt_version", a="8", b="9") == {}
    assert _regressions.last["verdict"] == "inconclusive"  # type: ignore[attr-defined]


def test_regression_with_an_empty_time_window(store, client) -> None:
    load(store, spans(300, NOW - timedelta(days=1), NOW, Traffic(), seed=2))
    params = {
        "a_since": (NOW - timedelta(days=3)).isoformat(),
        "a_until": (NOW - timedelta(days=2)).isoformat(),
        "b_since": (NOW - timedelta(days=1)).isoformat(),
        "b_until": NOW.isoformat(),
    }
    body = _get(client, "/api/v1/regressions", **params)
    assert body["verdict"] == "inconclusive" and body["cohorts"]["a"]["n"] == 0
    assert all(_insufficient(x) for x in body["metrics"])


def test_regression_with_all_null_ttft_and_cost_in_one_cohort(store, client) -> None:
    load(store, spans(400, SINCE, NOW, Traffic(prompt_version="1"), seed=3))
    rows, scores = spans(400, SINCE, NOW, Traffic(prompt_version="2", stream_rate=0.0), seed=4)
    for row in rows:
        row["cost_usd"] = None  # an unpriced model
    load(store, (rows, scores))
    m = _regressions(client, dimension="prompt_version", a="1", b="2")
    assert m["ttft_p50_ms"]["n_b"] == 0 and m["ttft_p50_ms"]["n_a"] > 100
    assert _insufficient(m["ttft_p50_ms"])
    assert m["cost_per_call_usd"]["n_b"] == 0 and _insufficient(m["cost_per_call_usd"])
    # The other metrics are still compared.
    assert m["latency_p50_ms"]["p_value"] is not None and m["output_tokens"]["p_value"] is not None


def test_regression_with_a_score_in_one_cohort_only(store, client) -> None:
    load(store, spans(300, SINCE, NOW, Traffic(prompt_version="1"), seed=5))
    rows, _ = spans(300, SINCE, NOW, Traffic(prompt_version="2"), seed=6)
    store.insert_spans(rows)
    m = _regressions(client, dimension="prompt_version", a="1", b="2")
    assert m["score:quality"]["n_a"] == 300 and m["score:quality"]["n_b"] == 0
    assert _insufficient(m["score:quality"]) and _insufficient(m["score:quality:pass_rate"])
    assert m["latency_p50_ms"]["p_value"] is not None


def test_regression_with_a_single_call_cohort(store, client) -> None:
    load(store, spans(300, SINCE, NOW, Traffic(prompt_version="1"), seed=7))
    load(store, spans(1, SINCE, NOW, Traffic(prompt_version="2", stream_rate=1.0), seed=8))
    m = _regressions(client, dimension="prompt_version", a="1", b="2")
    assert m["latency_p50_ms"]["n_b"] == 1
    assert all(x["verdict"] == "inconclusive" for x in m.values())


def test_regression_bad_parameters_are_client_errors(store, client) -> None:
    base = {"dimension": "prompt_version", "a": "1", "b": "2"}
    r = client.get(
        "/api/v1/regressions", params={**base, "since": NOW.isoformat(), "until": SINCE.isoformat()}
    )
    assert r.status_code == 400 and "since must be before until" in r.json()["detail"]
    r = client.get(
        "/api/v1/regressions",
        params={
            "a_since": NOW.isoformat(),
            "a_until": SINCE.isoformat(),
            "b_since": SINCE.isoformat(),
            "b_until": NOW.isoformat(),
        },
    )
    assert r.status_code == 400 and "before its until" in r.json()["detail"]
    r = client.get("/api/v1/regressions", params={**base, "dimension": "user_id"})
    assert r.status_code == 422
    assert all(d in r.text for d in ("prompt_version", "model", "provider", "environment"))
    r = client.get("/api/v1/regressions", params={**base, "b": "1"})
    assert r.status_code == 400 and "two different" in r.json()["detail"]


def test_drift_with_an_empty_window(store, client) -> None:
    load(store, spans(800, NOW - timedelta(hours=20), NOW, Traffic(), seed=9))
    for feature in ("latency_ms", "cost_usd", "model", "status", "score:quality", "score:missing"):
        body = _get(client, "/api/v1/drift", feature=feature, **WINDOWS)
        assert body["verdict"] == "insufficient_data", feature
        assert body["n_reference"] == 0 and body["psi"] is None and body["js"] is None
        assert body["n_current"] == (0 if feature == "score:missing" else 800), feature
    # An empty current window (the traffic is all in the reference).
    later = {
        "reference_since": (NOW - timedelta(days=1)).isoformat(),
        "reference_until": NOW.isoformat(),
        "current_since": NOW.isoformat(),
        "current_until": (NOW + timedelta(days=1)).isoformat(),
    }
    for feature in ("latency_ms", "provider", "score:quality"):
        body = _get(client, "/api/v1/drift", feature=feature, **later)
        assert body["verdict"] == "insufficient_data" and body["n_current"] == 0, feature
        assert body["n_reference"] == 800, feature
    report = _get(client, "/api/v1/drift/report", **WINDOWS)
    assert report["verdict"] == "insufficient_data" and report["drifted"] == []
    empty = _get(client, "/api/v1/drift/report", service="nobody", **WINDOWS)
    assert empty["verdict"] == "insufficient_data"


def test_drift_of_a_single_category_and_a_constant_value(store, client) -> None:
    traffic = Traffic(models={"gpt-4o": 1.0})
    reference = spans(1200, NOW - timedelta(days=6), NOW - timedelta(days=1, hours=1), traffic, seed=10)
    current = spans(600, NOW - timedelta(hours=23), NOW, traffic, seed=11)
    load(store, reference)
    load(store, current)
    body = _get(client, "/api/v1/drift", feature="provider", **WINDOWS)
    assert [c["value"] for c in body["categories"]] == ["openai"]
    assert body["verdict"] == "no_drift" and body["l_inf"] == 0.0 and body["js"] == 0.0
    assert body["chi_square"]["df"] == 0 and body["p_value"] == 1.0
    # Every call re-scored 1.0 (a re-score replaces the value it follows).
    store.insert_scores(
        [
            {**s, "value": 1.0, "timestamp": s["timestamp"] + timedelta(seconds=1)}
            for s in [*reference[1], *current[1]]
        ]
    )
    body = _get(client, "/api/v1/drift", feature="score:quality", **WINDOWS)
    assert body["n_reference"] == 1200 and body["n_current"] == 600
    assert body["verdict"] == "no_drift" and body["js"] == 0.0 and len(body["bins"]) == 1


def test_drift_bad_parameters_are_client_errors(store, client) -> None:
    r = client.get("/api/v1/drift", params={"feature": "nope"})
    assert r.status_code == 400
    assert all(f in r.json()["detail"] for f in ("latency_ms", "model", "score:<name>"))
    inverted = {"current_since": NOW.isoformat(), "current_until": SINCE.isoformat()}
    r = client.get("/api/v1/drift", params={"feature": "model", **inverted})
    assert r.status_code == 400 and "before its until" in r.json()["detail"]
    r = client.get("/api/v1/drift/report", params=inverted)
    assert r.status_code == 400
    overlap = {**WINDOWS, "reference_until": NOW.isoformat()}
    r = client.get("/api/v1/drift", params={"feature": "model", **overlap})
    assert r.status_code == 400 and "overlap" in r.json()["detail"]
    r = client.get("/api/v1/drift/report", params={"segment_by": "user_id"})
    assert r.status_code == 422 and "prompt_version" in r.text


def test_trends_edge_cases(store, client) -> None:
    body = _get(client, "/api/v1/scores/trends", name="nothing")
    assert body["series"] == []
    r = client.get("/api/v1/scores/trends", params={"since": NOW.isoformat(), "until": SINCE.isoformat()})
    assert r.status_code == 400 and "since must be before until" in r.json()["detail"]
    r = client.get("/api/v1/scores/trends", params={"group_by": "user_id"})
    assert r.status_code == 422 and "prompt_version" in r.text


def test_regression_when_the_cohorts_share_no_model(store, client) -> None:
    load(store, spans(600, SINCE, NOW, Traffic(prompt_version="1", models={"gpt-4o": 1.0}), seed=12))
    # The new model is much slower: pooled, v2 would look like a latency regression.
    slow = Traffic(prompt_version="2", models={"small": 1.0}, latency_mu=7.6)
    load(store, spans(600, SINCE, NOW, slow, seed=13))
    m = _regressions(client, dimension="prompt_version", a="1", b="2")
    body = _regressions.last  # type: ignore[attr-defined]
    assert body["stratified_by"] == "model"
    assert body["confounders"][0]["excluded_models"] == ["gpt-4o", "small"]
    # No model is in both cohorts, so nothing can be compared within a model: no stratum is shown
    # and no metric claims a finding from the confounded pooled numbers.
    assert all("strata" not in x for x in m.values())
    assert all(_insufficient(x) and x["effect"] is None for x in m.values())
    assert m["latency_p50_ms"]["n_a"] == 600 and m["latency_p50_ms"]["n_b"] == 600
