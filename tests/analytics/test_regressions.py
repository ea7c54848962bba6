"""Regression reports on real chDB: planted regressions are found with the right verdicts,
identical cohorts are not flagged, and a model-mix change is handled by stratification."""

from __future__ import annotations

from datetime import timedelta

from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from tests.analytics.synth import NOW, Traffic, load, spans

SINCE = NOW - timedelta(days=2)


def _cohorts():
    return build_cohorts("prompt_version", "v1", "v2", SINCE, NOW, None, None, None, None)


def _by_metric(report):
    return {m["metric"]: m for m in report["metrics"]}


def test_planted_regression_detected(store) -> None:
    load(store, spans(3000, SINCE, NOW, Traffic(prompt_version="v1"), seed=11))
    worse = Traffic(
        prompt_version="v2",
        latency_mu=6.9 + 0.15,  # +16% latency
        error_rate=0.06,
        output_tokens_mean=360,
        score_mean=lambda m: 0.74,
    )
    load(store, spans(3000, SINCE, NOW, worse, seed=12))
    report = compute_regressions(store, "default", _cohorts(), {})
    m = _by_metric(report)
    assert report["verdict"] == "regressed"
    assert report["stratified_by"] is None and report["confounders"] == []
    assert m["latency_p50_ms"]["verdict"] == "regressed"
    assert 1.08 < m["latency_p50_ms"]["effect"] < 1.26
    assert m["latency_p50_ms"]["ci_95"][0] > 1.0
    assert m["latency_p50_ms"]["method"] == "mann_whitney_u"
    assert m["error_rate"]["verdict"] == "regressed"
    assert 0.02 < m["error_rate"]["effect"] < 0.06
    assert m["output_tokens"]["verdict"] == "regressed"
    assert m["cost_per_call_usd"]["verdict"] == "regressed"
    assert m["score:quality"]["verdict"] == "regressed"
    assert m["score:quality"]["effect"] < -0.04
    assert m["input_tokens"]["verdict"] in ("no_change", "inconclusive")
    for item in m.values():
        assert item["n_a"] > 0 and item["p_value_adjusted"] >= item["p_value"]
    assert m["latency_p50_ms"]["n_a"] == 3000


def test_identical_cohorts_not_flagged(store) -> None:
    load(store, spans(1500, SINCE, NOW, Traffic(prompt_version="v1"), seed=21))
    load(store, spans(1500, SINCE, NOW, Traffic(prompt_version="v2"), seed=22))
    report = compute_regressions(store, "default", _cohorts(), {})
    flagged = [m["metric"] for m in report["metrics"] if m["verdict"] in ("regressed", "improved")]
    assert flagged == []
    assert report["verdict"] in ("no_change", "inconclusive")
    inconclusive = [m for m in report["metrics"] if m["verdict"] == "inconclusive"]
    assert all(m["needed_n"] is not None or m["reason"] == "insufficient_data" for m in inconclusive)


def test_model_mix_change_is_stratified(store) -> None:
    # Quality depends only on the model; v2 sends more traffic to the worse model.
    quality = lambda model: 0.85 if model == "gpt-4o" else 0.70  # noqa: E731
    slow = lambda model: 1.0 if model == "gpt-4o" else 1.5  # noqa: E731
    v1 = Traffic(
        prompt_version="v1", models={"gpt-4o": 0.8, "small": 0.2}, score_mean=quality, latency_factor=slow
    )
    v2 = Traffic(
        prompt_version="v2", models={"gpt-4o": 0.3, "small": 0.7}, score_mean=quality, latency_factor=slow
    )
    load(store, spans(3000, SINCE, NOW, v1, seed=31))
    load(store, spans(3000, SINCE, NOW, v2, seed=32))
    report = compute_regressions(store, "default", _cohorts(), {})
    m = _by_metric(report)
    assert report["stratified_by"] == "model"
    assert "model mix" in report["confounders"][0]["reason"]
    # Pooled, v2 looks much worse; within models nothing changed.
    assert m["score:quality"]["b"] < m["score:quality"]["a"] - 0.05
    assert m["score:quality"]["verdict"] != "regressed"
    assert abs(m["score:quality"]["effect"]) < 0.02
    assert m["latency_p50_ms"]["verdict"] != "regressed"
    assert {s["stratum"] for s in m["score:quality"]["strata"]} == {"gpt-4o", "small"}
    assert m["score:quality"]["method"] == "stratified_inverse_variance"
    assert m["error_rate"]["method"] == "cochran_mantel_haenszel"


def test_time_windows_and_small_counts(store) -> None:
    a = (NOW - timedelta(days=2), NOW - timedelta(days=1))
    b = (NOW - timedelta(days=1), NOW)
    load(store, spans(300, *a, Traffic(error_rate=0.0), seed=41))
    load(store, spans(300, *b, Traffic(error_rate=0.03), seed=42))
    cohorts = build_cohorts(None, None, None, None, None, a[0], a[1], b[0], b[1])
    m = _by_metric(compute_regressions(store, "default", cohorts, {}))
    assert m["error_rate"]["method"] == "fisher_exact"
    assert m["error_rate"]["verdict"] == "inconclusive"  # below the minimum n of 1000
    assert m["error_rate"]["reason"] == "insufficient_data"


def test_horizon_and_interim_alpha(store) -> None:
    load(store, spans(1100, SINCE, NOW, Traffic(prompt_version="v1"), seed=51))
    load(store, spans(1100, SINCE, NOW, Traffic(prompt_version="v2", latency_mu=6.9 + 0.12), seed=52))
    final = compute_regressions(store, "default", _cohorts(), {})
    assert final["horizon"] == {
        "reached": True,
        "min_n": 1000,  # the error rate's minimum n, the largest of the report
        "n_a": 1100,
        "n_b": 1100,
        "interim": False,
        "alpha": 0.01,
        "note": "both cohorts have at least 1000 calls: this is the fixed-horizon look",
    }
    interim = compute_regressions(store, "default", _cohorts(), {}, interim=True)
    assert interim["horizon"]["interim"] is True and interim["horizon"]["alpha"] == 0.001
    assert all(m["threshold"]["alpha"] == 0.001 for m in interim["metrics"])
    f, i = _by_metric(final)["ttft_p50_ms"], _by_metric(interim)["ttft_p50_ms"]
    assert 0.001 < f["p_value_adjusted"] < 0.01 and f["p_value_adjusted"] == i["p_value_adjusted"]
    assert f["verdict"] == "regressed" and i["verdict"] == "inconclusive"  # significant only at 0.01
    assert i["needed_n"] > 0
    assert _by_metric(interim)["latency_p50_ms"]["verdict"] == "regressed"  # p_adj < 0.001 holds


def test_interim_look_below_the_horizon(store) -> None:
    load(store, spans(300, SINCE, NOW, Traffic(prompt_version="v1"), seed=61))
    load(store, spans(400, SINCE, NOW, Traffic(prompt_version="v2"), seed=62))
    horizon = compute_regressions(store, "default", _cohorts(), {})["horizon"]
    assert (horizon["reached"], horizon["n_a"], horizon["n_b"]) == (False, 300, 400)
    assert "interim=true" in horizon["note"] and horizon["alpha"] == 0.01


def test_model_mix_from_the_hourly_rollup_equals_raw_spans(store) -> None:
    """Cohorts on whole hours (the UI's ranges) count calls per model on spans_hourly; bounds
    inside an hour count raw spans. Both must give the same mix for the same calls."""
    from llmtrace.store.queries.regressions import Cohorts, model_mix

    load(store, spans(1500, SINCE, NOW, Traffic(prompt_version="v1"), seed=21))
    load(
        store,
        spans(
            1500,
            SINCE,
            NOW,
            Traffic(prompt_version="v2", models={"gpt-4o": 0.2, "claude-sonnet-4": 0.8}),
            seed=22,
        ),
    )
    edge = timedelta(microseconds=1)  # no synthetic call starts in the first or last microsecond
    for filters in ({}, {"service": "chat"}, {"model": "gpt-4o"}):
        hourly = Cohorts(since=SINCE, until=NOW, dimension="prompt_version", a="v1", b="v2")
        raw = Cohorts(since=SINCE + edge, until=NOW - edge, dimension="prompt_version", a="v1", b="v2")
        assert hourly.whole_hours() and not raw.whole_hours()
        mix = model_mix(store, "default", hourly, filters)
        assert mix == model_mix(store, "default", raw, filters)
        assert sum(mix[0].values()) > 0 and sum(mix[1].values()) > 0
        windows = Cohorts(
            since=SINCE,
            until=NOW,
            a_window=(SINCE, NOW - timedelta(days=1)),
            b_window=(NOW - timedelta(days=1), NOW),
        )
        raw_windows = Cohorts(
            since=SINCE,
            until=NOW,
            a_window=(SINCE + edge, NOW - timedelta(days=1)),
            b_window=(NOW - timedelta(days=1), NOW - edge),
        )
        assert model_mix(store, "default", windows, filters) == model_mix(
            store, "default", raw_windows, filters
        )
