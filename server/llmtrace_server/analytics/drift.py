"""Score one feature's drift from the two windows' histogram counts (from ClickHouse)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from llmtrace_server.analytics import divergence as dv
from llmtrace_server.analytics.thresholds import DriftThresholds
from llmtrace_server.analytics.verdicts import DRIFT, INSUFFICIENT, NO_DRIFT


def numeric_drift(
    reference: Mapping[int, int],
    current: Mapping[int, int],
    thresholds: DriftThresholds,
    *,
    scale: float = 1.0,
    bucket_edges: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Drift of a numeric feature from sparse histograms ``{bucket: count}``.

    Keys are rollup log2/4 buckets (``scale`` converts bucket bounds into the feature's unit,
    e.g. micro-dollars to dollars) unless ``bucket_edges`` gives explicit edges (bucket i is
    [edges[i], edges[i+1])), as for score values. Neighbouring buckets are merged to about
    ``thresholds.target_bins`` bins before scoring.
    """
    keys = sorted(set(reference) | set(current))
    ref = [float(reference.get(k, 0)) for k in keys]
    cur = [float(current.get(k, 0)) for k in keys]
    ranges, r_bins, c_bins = dv.merge_sparse(keys, ref, cur, thresholds.target_bins)

    def bounds(first: int, last: int) -> tuple[float, float]:
        if bucket_edges is not None:
            return bucket_edges[first], bucket_edges[last + 1]
        return dv.log_bucket_bounds(first, scale)[0], dv.log_bucket_bounds(last, scale)[1]

    bins = [
        {"low": bounds(a, b)[0], "high": bounds(a, b)[1], "reference": int(r), "current": int(c)}
        for (a, b), r, c in zip(ranges, r_bins, c_bins, strict=True)
    ]
    n_ref, n_cur = int(sum(ref)), int(sum(cur))
    result: dict[str, Any] = {"kind": "numeric", "n_reference": n_ref, "n_current": n_cur, "bins": bins}
    _add_shares(bins, n_ref, n_cur)
    adjusted = thresholds.adjusted(len(bins), n_ref, n_cur)
    result["thresholds"] = {
        "js": adjusted["js"],
        "psi": adjusted["psi"],
        "psi_warn": thresholds.psi_warn,
        "alpha": thresholds.alpha,
        "min_n_current": thresholds.min_n_current,
        "min_n_reference": thresholds.min_n_reference,
    }
    # A single bin (a constant value in both windows) is a real answer - no drift - not a gap.
    if n_ref == 0 or n_cur == 0:
        result.update(psi=None, js=None, ks=None, chi_square=None, l_inf=None, p_value=None)
        result["verdict"] = INSUFFICIENT
        return result
    ks = dv.ks_from_counts(r_bins, c_bins)
    chi = dv.chi_square(r_bins, c_bins)
    result.update(
        psi=dv.psi(r_bins, c_bins),
        js=dv.js_distance(r_bins, c_bins),
        ks={"statistic": ks.statistic, "p_value": ks.p_value},
        chi_square={"statistic": chi.statistic, "df": chi.df, "p_value": chi.p_value},
        l_inf=dv.l_inf(r_bins, c_bins),
        p_value=chi.p_value,
    )
    big_enough = n_cur >= thresholds.min_n_current and n_ref >= thresholds.min_n_reference
    result["verdict"] = decide(result, thresholds, big_enough, categorical=False)
    return result


def categorical_drift(
    reference: Mapping[str, int], current: Mapping[str, int], thresholds: DriftThresholds
) -> dict[str, Any]:
    """Drift of a categorical feature from ``{category: count}`` maps."""
    keys = sorted(set(reference) | set(current), key=lambda k: -(reference.get(k, 0) + current.get(k, 0)))
    ref = [float(reference.get(k, 0)) for k in keys]
    cur = [float(current.get(k, 0)) for k in keys]
    n_ref, n_cur = int(sum(ref)), int(sum(cur))
    cats = [
        {"value": k, "reference": int(r), "current": int(c)} for k, r, c in zip(keys, ref, cur, strict=True)
    ]
    _add_shares(cats, n_ref, n_cur)
    adjusted = thresholds.adjusted(len(keys), n_ref, n_cur)
    result: dict[str, Any] = {
        "kind": "categorical",
        "n_reference": n_ref,
        "n_current": n_cur,
        "categories": cats,
        "thresholds": {
            "js": adjusted["js"],
            "l_inf": thresholds.l_inf,
            "alpha": thresholds.alpha,
            "min_n_current": thresholds.min_n_current,
            "min_n_reference": thresholds.min_n_reference_categorical,
        },
    }
    if n_ref == 0 or n_cur == 0:
        result.update(psi=None, js=None, chi_square=None, l_inf=None, p_value=None, verdict=INSUFFICIENT)
        return result
    chi = dv.chi_square(ref, cur) if len(keys) > 1 else dv.TestResult(0.0, 1.0, 0)
    result.update(
        psi=dv.psi(ref, cur),
        js=dv.js_distance(ref, cur),
        chi_square={"statistic": chi.statistic, "df": chi.df, "p_value": chi.p_value},
        l_inf=dv.l_inf(ref, cur),
        p_value=chi.p_value,
    )
    big_enough = n_cur >= thresholds.min_n_current and n_ref >= thresholds.min_n_reference_categorical
    result["verdict"] = decide(result, thresholds, big_enough, categorical=True)
    return result


def decide(
    result: Mapping[str, Any],
    thresholds: DriftThresholds,
    big_enough: bool,
    *,
    categorical: bool,
    p_value: float | None = None,
) -> str:
    """Drift needs a large enough effect (null-adjusted) AND a significant chi-square.

    ``p_value`` overrides the result's own (a report passes its BH-adjusted value). The practical
    thresholds are above the 99th null percentile, so without drift well under 1% of checks flag.
    """
    if not big_enough:
        return INSUFFICIENT
    p = result["p_value"] if p_value is None else p_value
    alpha = thresholds.alpha if p_value is None else thresholds.fdr_q
    th = result["thresholds"]
    practical = result["js"] >= th["js"]
    if categorical:
        practical = practical or result["l_inf"] >= th["l_inf"]
    else:
        practical = practical or result["psi"] >= th["psi"]
    return DRIFT if practical and p is not None and not math.isnan(p) and p < alpha else NO_DRIFT


def _add_shares(items: list[dict[str, Any]], n_ref: int, n_cur: int) -> None:
    for item in items:
        item["reference_share"] = item["reference"] / n_ref if n_ref else None
        item["current_share"] = item["current"] / n_cur if n_cur else None
