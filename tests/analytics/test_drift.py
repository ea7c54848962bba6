"""Drift on real chDB: a planted shift is detected, identical traffic is not, small windows abstain."""

from __future__ import annotations

from datetime import timedelta

from llmtrace_server.routes.drift import compute_drift, compute_report, resolve_windows
from tests.analytics.synth import NOW, Traffic, load, spans

CUR = (NOW - timedelta(hours=24), NOW)
REF = (NOW - timedelta(days=8), NOW - timedelta(hours=24))
FILTERS = {"service": "chat"}


def _windows():
    return resolve_windows(None, NOW, None, None)


def test_planted_latency_and_model_drift_detected(store) -> None:
    load(store, spans(4000, *REF, Traffic(), seed=1))
    shifted = Traffic(latency_mu=7.3, models={"gpt-4o": 0.8, "claude-sonnet-4": 0.2}, output_tokens_mean=300)
    load(store, spans(1500, *CUR, shifted, seed=2))
    results = {
        r["feature"]: r
        for r in compute_drift(
            store, "default", ["latency_ms", "model", "output_tokens", "score:quality"], _windows(), FILTERS
        )
    }
    lat = results["latency_ms"]
    assert (lat["n_reference"], lat["n_current"]) == (4000, 1500)
    assert lat["verdict"] == "drift"
    assert lat["psi"] > 0.25 and lat["js"] > 0.1 and lat["ks"]["p_value"] < 1e-6
    assert 5 <= len(lat["bins"]) <= 12
    assert sum(b["reference"] for b in lat["bins"]) == 4000
    assert results["model"]["verdict"] == "drift"
    assert results["model"]["l_inf"] > 0.25
    shares = {c["value"]: c["current_share"] for c in results["model"]["categories"]}
    assert abs(shares["gpt-4o"] - 0.8) < 0.05
    assert results["output_tokens"]["verdict"] == "no_drift"
    assert results["score:quality"]["verdict"] == "no_drift"
    assert results["score:quality"]["n_current"] == 1500


def test_no_drift_and_insufficient_data(store) -> None:
    load(store, spans(3000, *REF, Traffic(), seed=3))
    load(store, spans(1000, *CUR, Traffic(), seed=4))
    load(store, spans(300, *CUR, Traffic(service="tiny"), seed=5))
    load(store, spans(1200, *REF, Traffic(service="tiny"), seed=6))
    report = compute_report(store, "default", _windows(), {}, segment_by="service", top=5)
    by_service = {s["segment"]["service"]: s["features"] for s in report["segments"]}
    assert set(by_service) == {"chat", "tiny"}
    verdicts = {f["feature"]: f["verdict"] for f in by_service["chat"]}
    assert verdicts.pop("ttft_ms") in ("no_drift", "insufficient_data")  # ~half the calls stream
    assert set(verdicts.values()) == {"no_drift"}, verdicts
    assert all(f["verdict"] == "insufficient_data" for f in by_service["tiny"])
    assert report["verdict"] == "no_drift"
    assert report["multiple_testing"]["method"] == "benjamini_hochberg"
    assert all("p_value_adjusted" in f for f in by_service["chat"])
