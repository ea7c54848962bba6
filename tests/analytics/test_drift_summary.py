"""The drift report's per-segment summary: one planted change and its consequences read as one change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from llmtrace_server.app import create_app
from llmtrace_server.routes.drift import compute_report, resolve_windows, window_dict
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, Traffic, load, spans

CUR = (NOW - timedelta(hours=24), NOW)
REF = (NOW - timedelta(days=8), NOW - timedelta(hours=24))


def _follow_input(rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> Any:
    """Output follows input length (as in the demo's behaviour model); latency follows output."""
    for row in rows[0]:
        row["output_tokens"] = max(1, row["input_tokens"] // 4)
        row["output_chars"] = row["output_tokens"] * 4
        row["duration_ms"] = 200.0 + row["output_tokens"] * 5.0
        row["end_time"] = row["start_time"] + timedelta(milliseconds=row["duration_ms"])
        row["cost_usd"] = row["output_tokens"] / 1000 * 0.01 + row["input_tokens"] / 1000 * 0.001
    return rows


def test_a_planted_input_change_reads_as_one_change_with_its_consequences(store, chdb_dsn) -> None:
    for service, longer in (("chat", 4.0), ("batch", 1.0)):
        load(store, _follow_input(spans(1500, *REF, Traffic(service=service), seed=1 if longer > 1 else 3)))
        current = Traffic(service=service, input_tokens_mean=1200.0 * longer)
        load(store, _follow_input(spans(800, *CUR, current, seed=2 if longer > 1 else 4)))
    windows = resolve_windows(CUR[0], CUR[1], REF[0], REF[1])
    report = compute_report(store, "default", windows, {}, segment_by="service")

    chat, batch = report["summary"]  # the segment with the largest change first
    assert chat["segment"] == {"service": "chat"} and chat["verdict"] == "drift"
    (change,) = chat["changes"]  # one change, not five
    moving = {m["feature"] for m in change["moves_with"]}
    assert {change["feature"], *moving} >= {"input_tokens", "output_tokens", "cost_usd", "output_chars"}
    assert "ttft_ms" not in moving and "latency_ms" in {change["feature"], *moving}
    assert all(m["rank_correlation"] >= 0.5 and m["n"] == 800 for m in change["moves_with"])
    assert all(m["correlated_with"] in {change["feature"], *moving} for m in change["moves_with"])
    assert chat["drifted_features"] == 1 + len(moving)
    assert chat["text"].startswith(f"service=chat: {change['feature']} drifted (JS ")
    ttft = next(
        f
        for s in report["segments"]
        if s["segment"] == {"service": "chat"}
        for f in s["features"]
        if f["feature"] == "ttft_ms"
    )
    assert ttft["verdict"] != "drift"  # half the calls stream: too few for a verdict, and no drift

    # The API answers the same summary, typed as DriftSummaryPublic.
    with TestClient(create_app(Settings(store=chdb_dsn, database=store.database))) as client:
        params = {"segment_by": "service", **{k: v for k, v in window_dict(windows).items()}}
        response = client.get("/api/v1/drift/report", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["summary"] == jsonable_encoder(report["summary"])

    assert batch == {
        "segment": {"service": "batch"},
        "verdict": "no_drift",
        "drifted_features": 0,
        "changes": [],
        "text": "service=batch: no drift",
    }
