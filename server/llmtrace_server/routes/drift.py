"""``GET /api/v1/drift`` and ``GET /api/v1/drift/report``: is production traffic changing?

ClickHouse merges the rollup histograms of the two windows; :mod:`llmtrace_server.analytics`
scores them (PSI, JS, KS, chi-square, L-infinity) and applies the §5.4 thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from llmtrace.store import Store
from llmtrace.store.queries import drift as q
from llmtrace_server.analytics.drift import categorical_drift, decide, numeric_drift
from llmtrace_server.analytics.drift_summary import METHOD as SUMMARY_METHOD
from llmtrace_server.analytics.drift_summary import summarize_segment
from llmtrace_server.analytics.multiple import benjamini_hochberg
from llmtrace_server.analytics.public import DriftReportPublic, DriftResultPublic
from llmtrace_server.analytics.thresholds import DriftThresholds
from llmtrace_server.analytics.verdicts import DRIFT, INSUFFICIENT, NO_DRIFT
from llmtrace_server.deps import ProjectDep, SegmentDep, StoreDep

router = APIRouter(prefix="/api/v1", tags=["drift"])

CURRENT_DEFAULT = timedelta(hours=24)
REFERENCE_DEFAULT = timedelta(days=7)
SPAN_FEATURES: tuple[str, ...] = (*q.NUMERIC_FEATURES, *q.CATEGORICAL_FEATURES)


def resolve_windows(
    current_since: datetime | None,
    current_until: datetime | None,
    reference_since: datetime | None,
    reference_until: datetime | None,
    now: datetime | None = None,
) -> q.Windows:
    """Defaults: current = the last 24 h; reference = the 7 days before the current window."""
    cu = _aware(current_until) if current_until else (now or datetime.now(UTC))
    cs = _aware(current_since) if current_since else cu - CURRENT_DEFAULT
    ru = _aware(reference_until) if reference_until else cs
    rs = _aware(reference_since) if reference_since else ru - REFERENCE_DEFAULT
    if not (cs < cu and rs < ru):
        raise ValueError("each window's since must be before its until")
    if ru > cs and rs < cu:
        raise ValueError("the reference and current windows overlap")
    return q.Windows(rs, ru, cs, cu)


def check_feature(feature: str) -> str:
    feature = q.FEATURE_ALIASES.get(feature, feature)
    if feature in SPAN_FEATURES:
        return feature
    if feature.startswith(q.SCORE_PREFIX) and len(feature) > len(q.SCORE_PREFIX):
        return feature
    raise ValueError(f"unknown feature {feature!r}; use one of {', '.join(SPAN_FEATURES)} or score:<name>")


def compute_drift(
    store: Store,
    project: str,
    features: list[str],
    windows: q.Windows,
    filters: Mapping[str, str | None],
    thresholds: DriftThresholds | None = None,
) -> list[dict[str, Any]]:
    """Score each feature; results carry counts, statistics, bins, thresholds and a verdict."""
    thresholds = thresholds or DriftThresholds()
    span_features = tuple(f for f in features if f in SPAN_FEATURES)
    hists = q.rollup_histograms(store, project, windows, filters, span_features) if span_features else {}
    results = []
    for feature in features:
        if feature in q.NUMERIC_FEATURES:
            ref, cur = hists[feature]
            res = numeric_drift(ref, cur, thresholds, scale=q.NUMERIC_FEATURES[feature][1])
            res["method"] = "rollup log2/4 histograms merged to ~10 bins; +0.5 smoothing; KS on binned CDFs"
        elif feature in q.CATEGORICAL_FEATURES:
            ref, cur = hists[feature]
            res = categorical_drift(ref, cur, thresholds)
            res["method"] = "category shares; +0.5 smoothing for PSI/JS; Pearson chi-square"
        else:
            name = feature[len(q.SCORE_PREFIX) :]
            sref, scur, edges = q.score_histogram(store, project, windows, filters, name)
            res = numeric_drift(sref, scur, thresholds, bucket_edges=edges or [0.0, 0.0])
            res["method"] = "scores FINAL joined to spans; bins at the reference deciles; KS on binned CDFs"
        res["feature"] = feature
        results.append(res)
    return results


def window_dict(w: q.Windows) -> dict[str, str]:
    return {
        "reference_since": w.reference_since.isoformat(),
        "reference_until": w.reference_until.isoformat(),
        "current_since": w.current_since.isoformat(),
        "current_until": w.current_until.isoformat(),
    }


@router.get(
    "/drift",
    summary="Drift of one feature between a reference and a current window",
    response_model=DriftResultPublic,
    response_model_exclude_unset=True,
)
def get_drift(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    feature: Annotated[str, Query(max_length=300, description="e.g. latency_ms, model, score:helpfulness")],
    current_since: datetime | None = None,
    current_until: datetime | None = None,
    reference_since: datetime | None = None,
    reference_until: datetime | None = None,
) -> dict[str, Any]:
    """PSI, JS distance, KS (numeric), chi-square and L-infinity (categorical), both distributions,
    the thresholds used and a verdict: ``drift``, ``no_drift`` or ``insufficient_data``."""
    try:
        feat = check_feature(feature)
        windows = resolve_windows(current_since, current_until, reference_since, reference_until)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    filters = segment
    result = compute_drift(store, project, [feat], windows, filters)[0]
    return {**result, "windows": window_dict(windows), "filters": {k: v for k, v in filters.items() if v}}


def compute_report(
    store: Store,
    project: str,
    windows: q.Windows,
    filters: Mapping[str, str | None],
    segment_by: str | None = None,
    top: int = 5,
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """Every span feature and score for one segment or the top segments, BH-adjusted across all,
    led by one summary per segment (largest change first; see ``analytics.drift_summary``)."""
    thresholds = thresholds or DriftThresholds()
    scores = q.score_names(store, project, windows.reference_since, windows.current_until)
    features = [*SPAN_FEATURES, *(q.SCORE_PREFIX + s for s in scores)]
    segments: list[dict[str, Any]] = []
    targets: list[dict[str, str | None]] = [dict(filters)]
    if segment_by:
        values = q.top_segments(store, project, windows, filters, segment_by, top)
        targets = [{**filters, segment_by: v} for v in values]
    for target in targets:
        results = compute_drift(store, project, features, windows, target, thresholds)
        segments.append({"segment": {k: v for k, v in target.items() if v}, "features": results})
    flat = [r for s in segments for r in s["features"]]
    adjusted = benjamini_hochberg([r["p_value"] if r["verdict"] != INSUFFICIENT else None for r in flat])
    for res, p_adj in zip(flat, adjusted, strict=True):
        res["p_value_adjusted"] = p_adj
        if res["verdict"] != INSUFFICIENT:
            res["verdict"] = decide(
                res, thresholds, True, categorical=res["kind"] == "categorical", p_value=p_adj
            )
    verdicts = [r["verdict"] for r in flat]
    overall = DRIFT if DRIFT in verdicts else (NO_DRIFT if NO_DRIFT in verdicts else INSUFFICIENT)
    summary = []
    for target, seg in zip(targets, segments, strict=True):
        calls = max(
            (r["n_current"] for r in seg["features"] if r["feature"] in q.SPAN_VALUE_COLUMNS), default=0
        )

        def correlate(
            lead: str, others: tuple[str, ...], target: Mapping[str, str | None] = target, calls: int = calls
        ) -> dict[str, tuple[float | None, int]]:
            return q.rank_correlations(store, project, windows, target, lead, others, calls)

        summary.append(summarize_segment(seg["segment"], seg["features"], correlate))
    summary.sort(key=lambda s: -max((c["js"] or 0.0 for c in s["changes"]), default=0.0))
    return {
        "summary": summary,
        "summary_method": SUMMARY_METHOD,
        "windows": window_dict(windows),
        "segment_by": segment_by,
        "verdict": overall,
        "drifted": [
            {"segment": s["segment"], "feature": r["feature"]}
            for s in segments
            for r in s["features"]
            if r["verdict"] == DRIFT
        ],
        "multiple_testing": {"method": "benjamini_hochberg", "q": thresholds.fdr_q, "tests": len(flat)},
        "segments": segments,
    }


@router.get(
    "/drift/report",
    summary="Drift of every feature, with Benjamini-Hochberg control",
    response_model=DriftReportPublic,
    response_model_exclude_unset=True,
)
def get_drift_report(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    current_since: datetime | None = None,
    current_until: datetime | None = None,
    reference_since: datetime | None = None,
    reference_until: datetime | None = None,
    segment_by: Literal["service", "model", "provider", "prompt", "prompt_version", "environment"]
    | None = None,
    top: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """All features for the segment given by the filters, or for the ``top`` values of
    ``segment_by`` by traffic; a feature drifts when its effect passes the thresholds and its
    BH-adjusted p-value is below q = 0.05."""
    try:
        windows = resolve_windows(current_since, current_until, reference_since, reference_until)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    filters = segment
    return compute_report(store, project, windows, filters, segment_by, top)


def _aware(value: datetime) -> datetime:
    """UTC-aware ``value``; ValueError outside the store's time range (1970-2200)."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not 1970 <= value.astimezone(UTC).year <= 2200:
        raise ValueError(f"time {value.isoformat()} is outside 1970-2200")
    return value


aware = _aware
