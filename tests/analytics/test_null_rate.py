"""With no planted effect, at most 1% of checks flag, across many seeds.

The pure functions run over hundreds of seeds (fast); the SQL path is covered by the no-drift
and identical-cohort tests on chDB in test_drift.py / test_regressions.py.
"""

from __future__ import annotations

import math

import numpy as np

from llmtrace_server.analytics.drift import categorical_drift, numeric_drift
from llmtrace_server.analytics.regression import (
    compare,
    finalize,
    mean_estimate,
    quantile_estimate,
    rate_estimate,
)
from llmtrace_server.analytics.thresholds import DriftThresholds, default_rules, score_rule
from llmtrace_server.analytics.twosample import mann_whitney_u, quantile_ci_ranks

SEEDS = 300


def _log_buckets(x: np.ndarray) -> dict[int, int]:
    keys, counts = np.unique(np.floor(np.log2(np.maximum(x, 1)) * 4).astype(int), return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def test_drift_null_rate() -> None:
    th = DriftThresholds()
    flagged = checks = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        ref, cur = rng.lognormal(6.9, 0.6, 1000), rng.lognormal(6.9, 0.6, 500)
        flagged += numeric_drift(_log_buckets(ref), _log_buckets(cur), th)["verdict"] == "drift"
        cats = ["a", "b", "c", "d"]
        p = [0.5, 0.3, 0.15, 0.05]
        r = dict(zip(cats, rng.multinomial(1000, p).tolist(), strict=True))
        c = dict(zip(cats, rng.multinomial(500, p).tolist(), strict=True))
        flagged += categorical_drift(r, c, th)["verdict"] == "drift"
        checks += 2
    assert flagged / checks <= 0.01, flagged


def test_drift_power_at_minimum_n() -> None:
    th = DriftThresholds()
    detected = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        ref, cur = rng.lognormal(6.9, 0.6, 1000), rng.lognormal(7.3, 0.6, 500)
        detected += numeric_drift(_log_buckets(ref), _log_buckets(cur), th)["verdict"] == "drift"
    assert detected >= 48


def _quantile(x: np.ndarray, q: float) -> tuple[float, float, float]:
    s = np.sort(x)
    est, lo, hi = quantile_ci_ranks(len(s), q)
    return float(s[est - 1]), float(s[lo - 1]), float(s[hi - 1])


def test_regression_null_rate() -> None:
    rules = default_rules()
    flagged = checks = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(1000 + seed)
        n = 1200
        lat_a, lat_b = rng.lognormal(6.9, 0.6, n), rng.lognormal(6.9, 0.6, n)
        cost_a, cost_b = rng.gamma(2.0, 0.005, n), rng.gamma(2.0, 0.005, n)
        err_a, err_b = int(rng.binomial(n, 0.03)), int(rng.binomial(n, 0.03))
        sc_a, sc_b = np.clip(rng.normal(0.8, 0.15, n), 0, 1), np.clip(rng.normal(0.8, 0.15, n), 0, 1)
        mwu_p = mann_whitney_u(lat_a.tolist(), lat_b.tolist())[1]
        comps = [
            compare(
                "latency_p50_ms",
                rules["latency_p50_ms"],
                quantile_estimate(*_quantile(lat_a, 0.5), n),
                quantile_estimate(*_quantile(lat_b, 0.5), n),
                test_p=mwu_p,
            ),
            compare(
                "latency_p95_ms",
                rules["latency_p95_ms"],
                quantile_estimate(*_quantile(lat_a, 0.95), n),
                quantile_estimate(*_quantile(lat_b, 0.95), n),
                test_p=mwu_p,
            ),
            compare(
                "cost_per_call_usd",
                rules["cost_per_call_usd"],
                mean_estimate(cost_a.mean(), cost_a.var(ddof=1), n, True),
                mean_estimate(cost_b.mean(), cost_b.var(ddof=1), n, True),
            ),
            compare("error_rate", rules["error_rate"], rate_estimate(err_a, n), rate_estimate(err_b, n)),
            compare(
                "score:q",
                score_rule(True),
                mean_estimate(sc_a.mean(), sc_a.var(ddof=1), n, False),
                mean_estimate(sc_b.mean(), sc_b.var(ddof=1), n, False),
            ),
        ]
        metrics, _ = finalize(comps)
        flagged += sum(m["verdict"] in ("regressed", "improved") for m in metrics)
        checks += len(metrics)
        assert all(m["p_value"] is not None and not math.isnan(m["p_value"]) for m in metrics)
    assert flagged / checks <= 0.01, flagged


def test_regression_power_and_needed_n() -> None:
    rules = default_rules()
    rng = np.random.default_rng(5)
    n = 2000
    a, b = rng.lognormal(6.9, 0.6, n), rng.lognormal(6.9 + 0.2, 0.6, n)
    mwu_p = mann_whitney_u(a.tolist(), b.tolist())[1]
    c = compare(
        "latency_p50_ms",
        rules["latency_p50_ms"],
        quantile_estimate(*_quantile(a, 0.5), n),
        quantile_estimate(*_quantile(b, 0.5), n),
        test_p=mwu_p,
    )
    (m,), overall = finalize([c])
    assert (m["verdict"], overall) == ("regressed", "regressed")
    assert 1.1 < m["effect"] < 1.35 and m["ci_95"][0] > 1.0
    # Small cohorts with a small shift: inconclusive, with a sample-size hint.
    small = compare(
        "score:q",
        score_rule(True),
        mean_estimate(0.80, 0.04, 250, False),
        mean_estimate(0.79, 0.04, 250, False),
    )
    (m,), _ = finalize([small])
    assert m["verdict"] == "inconclusive" and m["reason"] == "underpowered" and m["needed_n"] > 1000
