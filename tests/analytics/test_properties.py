"""Property tests of the drift analytics: no histogram, however small, empty or lopsided, raises.

Issue 18 item 3: ``merge_sparse`` raised IndexError when exactly two bins remained and the last was
thin, which made ``GET /api/v1/drift/report`` answer 500 on a store with a little data.
"""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from llmtrace_server.analytics import divergence as dv
from llmtrace_server.analytics.drift import categorical_drift, numeric_drift
from llmtrace_server.analytics.drift_summary import summarize_segment
from llmtrace_server.analytics.thresholds import DriftThresholds

counts = st.one_of(st.integers(0, 5), st.integers(0, 10**6), st.integers(0, 10**15))
buckets = st.integers(0, 140)  # the rollup's log2/4 bucket numbers
histograms = st.dictionaries(buckets, counts, max_size=40)
THRESHOLDS = DriftThresholds()


def _finite_or_none(value: object) -> bool:
    return value is None or (isinstance(value, float) and (math.isfinite(value) or math.isnan(value)))


@settings(max_examples=300, deadline=None)
@given(reference=histograms, current=histograms, target=st.integers(1, 20))
def test_merge_sparse_keeps_every_count_in_ordered_disjoint_bins(reference, current, target) -> None:
    keys = sorted(set(reference) | set(current))
    ref = [float(reference.get(k, 0)) for k in keys]
    cur = [float(current.get(k, 0)) for k in keys]
    ranges, r_bins, c_bins = dv.merge_sparse(keys, ref, cur, target)
    assert sum(r_bins) == sum(ref) and sum(c_bins) == sum(cur)
    assert len(ranges) == len(r_bins) == len(c_bins) <= max(1, len(keys))
    assert all(a <= b for a, b in ranges)
    assert all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(ranges))


@settings(max_examples=300, deadline=None)
@given(reference=histograms, current=histograms)
def test_numeric_drift_never_raises_and_answers_a_verdict(reference, current) -> None:
    result = numeric_drift(reference, current, THRESHOLDS)
    assert result["verdict"] in ("drift", "no_drift", "insufficient_data")
    if not sum(reference.values()) or not sum(current.values()):
        assert result["verdict"] == "insufficient_data" and result["psi"] is None
    else:
        assert result["psi"] >= -1e-12 and 0.0 <= result["js"] <= 1.0 + 1e-12
        assert 0.0 <= result["p_value"] <= 1.0
    assert all(_finite_or_none(result[k]) for k in ("psi", "js", "l_inf", "p_value"))


@settings(max_examples=100, deadline=None)
@given(key=buckets, n_ref=counts, n_cur=counts)
def test_all_mass_in_one_bucket_is_no_drift_or_insufficient(key, n_ref, n_cur) -> None:
    result = numeric_drift({key: n_ref}, {key: n_cur}, THRESHOLDS)
    assert result["verdict"] != "drift"


@settings(max_examples=200, deadline=None)
@given(
    reference=st.dictionaries(st.text(max_size=5), counts, max_size=12),
    current=st.dictionaries(st.text(max_size=5), counts, max_size=12),
)
def test_categorical_drift_never_raises(reference, current) -> None:
    result = categorical_drift(reference, current, THRESHOLDS)
    assert result["verdict"] in ("drift", "no_drift", "insufficient_data")
    assert all(_finite_or_none(result[k]) for k in ("psi", "js", "l_inf", "p_value"))


@settings(max_examples=100, deadline=None)
@given(hists=st.lists(st.tuples(histograms, histograms), min_size=0, max_size=6), rho=st.floats(-1, 1))
def test_the_summary_never_raises_and_accounts_for_every_drifted_feature(hists, rho) -> None:
    features = []
    for i, (reference, current) in enumerate(hists):
        result = numeric_drift(reference, current, THRESHOLDS)
        result["feature"] = f"f{i}"
        features.append(result)

    def correlate(lead: str, others: tuple[str, ...]) -> dict[str, tuple[float | None, int]]:
        return {o: (rho, 10) for o in others}

    summary = summarize_segment({"service": "s"}, features, correlate)
    listed = [c["feature"] for c in summary["changes"]] + [
        m["feature"] for c in summary["changes"] for m in c["moves_with"]
    ]
    assert sorted(listed) == sorted(f["feature"] for f in features if f["verdict"] == "drift")
    assert summary["drifted_features"] == len(listed)
