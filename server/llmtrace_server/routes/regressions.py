"""``GET /api/v1/regressions``: did cohort B (a prompt version, model, window...) get worse than A?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from llmtrace.store import Store
from llmtrace.store.queries import regressions as q
from llmtrace_server.analytics import divergence
from llmtrace_server.analytics.public import RegressionReportPublic
from llmtrace_server.analytics.regression import (
    Estimate,
    MetricComparison,
    compare,
    finalize,
    mean_estimate,
    quantile_estimate,
    rate_estimate,
)
from llmtrace_server.analytics.thresholds import (
    ALPHA,
    INTERIM_ALPHA,
    MetricRule,
    default_rules,
    pass_rate_rule,
    score_rule,
)
from llmtrace_server.analytics.twosample import quantile_ci_ranks
from llmtrace_server.deps import Filter, ProjectDep, SegmentDep, StoreDep
from llmtrace_server.routes.drift import aware as _aware

router = APIRouter(prefix="/api/v1", tags=["regressions"])

DEFAULT_RANGE = timedelta(days=7)
MIX_TV_THRESHOLD = 0.05  # model-mix total variation above which cohorts are compared within models
MIX_ALPHA = 0.01


def build_cohorts(
    dimension: str | None,
    a: str | None,
    b: str | None,
    since: datetime | None,
    until: datetime | None,
    a_since: datetime | None,
    a_until: datetime | None,
    b_since: datetime | None,
    b_until: datetime | None,
    now: datetime | None = None,
) -> q.Cohorts:
    """Validate the two ways of naming cohorts; raise ValueError with a readable message."""
    now = now or datetime.now(UTC)
    windowed = any(v is not None for v in (a_since, a_until, b_since, b_until))
    if dimension:
        if windowed:
            raise ValueError(
                "give either dimension with a and b, or a_since/a_until/b_since/b_until, not both"
            )
        if dimension not in q.DIMENSIONS:
            raise ValueError(f"dimension must be one of {', '.join(q.DIMENSIONS)}")
        if not a or not b or a == b:
            raise ValueError("dimension needs two different cohort values a and b")
        u = _aware(until) if until else now
        s = _aware(since) if since else u - DEFAULT_RANGE
        if s >= u:
            raise ValueError("since must be before until")
        return q.Cohorts(s, u, dimension, a, b)
    if not (a_since and a_until and b_since and b_until):
        raise ValueError("give dimension with a and b, or all of a_since, a_until, b_since, b_until")
    aw, bw = (_aware(a_since), _aware(a_until)), (_aware(b_since), _aware(b_until))
    if aw[0] >= aw[1] or bw[0] >= bw[1]:
        raise ValueError("each window's since must be before its until")
    if aw[0] < bw[1] and bw[0] < aw[1]:
        raise ValueError("the two windows overlap")
    return q.Cohorts(min(aw[0], bw[0]), max(aw[1], bw[1]), a_window=aw, b_window=bw)


def _mix_note(mix: Mapping[int, Mapping[str, int]]) -> dict[str, Any] | None:
    """Describe a model-mix difference large enough to confound the comparison, else None."""
    models = sorted(set(mix[0]) | set(mix[1]))
    n_a, n_b = sum(mix[0].values()), sum(mix[1].values())
    if len(models) < 2 or n_a == 0 or n_b == 0:
        return None
    ra = [float(mix[0].get(m, 0)) for m in models]
    rb = [float(mix[1].get(m, 0)) for m in models]
    tv = 0.5 * sum(abs(x / n_a - y / n_b) for x, y in zip(ra, rb, strict=True))
    chi = divergence.chi_square(ra, rb)
    if tv < MIX_TV_THRESHOLD or chi.p_value >= MIX_ALPHA:
        return None
    return {
        "stratified_by": "model",
        "reason": (
            f"the model mix differs between the cohorts (total variation {tv:.3f}, chi-square p={chi.p_value:.2g}); "
            "metrics are compared within each model and combined, so a model switch is not blamed on the cohort"
        ),
        "total_variation": tv,
        "mix_a": {m: mix[0].get(m, 0) / n_a for m in models},
        "mix_b": {m: mix[1].get(m, 0) / n_b for m in models},
        "excluded_models": [m for m in models if not mix[0].get(m) or not mix[1].get(m)],
    }


def _nan(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _span_estimates(row: Mapping[str, Any]) -> dict[str, Estimate]:
    def quant(key: str, q: float) -> Estimate:
        values = row[key]
        if not values:
            return Estimate(None, None, 0)
        est, low, high = quantile_ci_ranks(len(values), q)
        return quantile_estimate(values[est - 1], values[low - 1], values[high - 1], len(values))

    return {
        "latency_p50_ms": quant("lat_s", 0.5),
        "latency_p95_ms": quant("lat_s", 0.95),
        "ttft_p50_ms": quant("ttft_s", 0.5),
        "cost_per_call_usd": mean_estimate(
            _nan(row["cost_mean"]), _nan(row["cost_var"]), row["priced"], True
        ),
        "input_tokens": mean_estimate(_nan(row["in_mean"]), _nan(row["in_var"]), row["n"], True),
        "output_tokens": mean_estimate(_nan(row["out_mean"]), _nan(row["out_var"]), row["n"], True),
        "error_rate": rate_estimate(row["errors"], row["n"]),
    }


def _score_estimates(row: Mapping[str, Any], name: str) -> dict[str, Estimate]:
    return {
        f"score:{name}": mean_estimate(_nan(row["mean"]), _nan(row["var"]), row["n"], False),
        f"score:{name}:pass_rate": rate_estimate(row["passes"], row["n"]),
    }


def _comparisons(
    rows: list[dict[str, Any]], estimates: Any, rules: Mapping[str, Any], tests: Mapping[str, Any]
) -> list[MetricComparison]:
    pooled = {int(r["is_b"]): estimates(r) for r in rows if r["stratum"] == ""}
    strata: dict[str, dict[int, dict[str, Estimate]]] = {}
    for r in rows:
        if r["stratum"] != "":
            strata.setdefault(r["stratum"], {})[int(r["is_b"])] = estimates(r)
    out = []
    for metric, rule in rules.items():
        a = pooled.get(0, {}).get(metric, Estimate(None, None, 0))
        b = pooled.get(1, {}).get(metric, Estimate(None, None, 0))
        if a.n == 0 and b.n == 0:
            continue  # e.g. no streamed calls: no TTFT to compare
        per = [(k, s[0][metric], s[1][metric]) for k, s in sorted(strata.items()) if 0 in s and 1 in s]
        out.append(compare(metric, rule, a, b, per, tests.get(metric), stratified=bool(strata)))
    return out


def compute_regressions(
    store: Store,
    project: str,
    cohorts: q.Cohorts,
    filters: Mapping[str, str | None],
    pass_threshold: float = 0.5,
    interim: bool = False,
) -> dict[str, Any]:
    """The full report: per-metric comparisons, BH-adjusted, with verdicts and an overall verdict.

    ``interim`` judges every metric at ``INTERIM_ALPHA`` instead of ``ALPHA`` (a look before the
    fixed horizon that may be repeated later).
    """
    alpha = INTERIM_ALPHA if interim else ALPHA
    mix = q.model_mix(store, project, cohorts, filters)
    n_a, n_b = sum(mix[0].values()), sum(mix[1].values())
    note = None if cohorts.dimension in ("model", "provider") else _mix_note(mix)
    stratify = note is not None
    keep = {0: q.sample_keep(n_a), 1: q.sample_keep(n_b)}
    span_rows = q.span_summaries(store, project, cohorts, filters, keep, stratify)
    mwu: dict[str, float | None] = {}
    if not stratify:
        pooled = {int(r["is_b"]): r for r in span_rows if r["stratum"] == ""}
        both = 0 in pooled and 1 in pooled
        mwu = q.mann_whitney(
            store,
            project,
            cohorts,
            filters,
            keep,
            latency=both and pooled[0]["lat_n"] > 0 and pooled[1]["lat_n"] > 0,
            ttft=both and pooled[0]["ttft_n"] > 0 and pooled[1]["ttft_n"] > 0,
        )
    tests = {
        "latency_p50_ms": mwu.get("latency"),
        "latency_p95_ms": mwu.get("latency"),
        "ttft_p50_ms": mwu.get("ttft"),
    }
    comparisons = _comparisons(span_rows, _span_estimates, _at(default_rules(), alpha), tests)

    for name, rows in q.score_summaries(store, project, cohorts, filters, stratify, pass_threshold).items():
        unit = all(r["lo"] >= 0 and r["hi"] <= 1 for r in rows)
        rules = _at({f"score:{name}": score_rule(unit), f"score:{name}:pass_rate": pass_rate_rule()}, alpha)
        comparisons += _comparisons(rows, lambda r, name=name: _score_estimates(r, name), rules, {})

    metrics, verdict = finalize(comparisons)
    return {
        "cohorts": _cohort_desc(cohorts, n_a, n_b),
        "filters": {k: v for k, v in filters.items() if v},
        "verdict": verdict,
        "metrics": metrics,
        "stratified_by": "model" if stratify else None,
        "confounders": [note] if note else [],
        "multiple_testing": {
            "method": "benjamini_hochberg",
            "tests": sum(m["p_value"] is not None for m in metrics),
        },
        "horizon": _horizon(comparisons, n_a, n_b, interim, alpha),
        "sample": {"cap_per_cohort": q.SAMPLE_CAP, "fraction_a": keep[0] / 1e6, "fraction_b": keep[1] / 1e6},
        "notes": [
            "Quantiles and Mann-Whitney use a deterministic hash sample of at most "
            f"{q.SAMPLE_CAP} calls per cohort; rates and means use every call.",
            "A verdict needs significance (BH-adjusted p < alpha), a minimum practical effect and a minimum n.",
        ],
    }


def _at(rules: Mapping[str, MetricRule], alpha: float) -> dict[str, MetricRule]:
    return {name: replace(rule, alpha=alpha) for name, rule in rules.items()}


def _horizon(
    comparisons: list[MetricComparison], n_a: int, n_b: int, interim: bool, alpha: float
) -> dict[str, Any]:
    """Is this the fixed-horizon look (both cohorts have the largest minimum n of the report)?

    A comparison re-run as traffic arrives is a sequence of looks; only the look at the horizon
    may use alpha 0.01, earlier ones need ``interim=true`` (alpha 0.001) or patience.
    """
    rules = [c.rule for c in comparisons] or list(default_rules().values())
    min_n = max(r.min_n for r in rules)
    reached = n_a >= min_n and n_b >= min_n
    if reached:
        note = f"both cohorts have at least {min_n} calls: this is the fixed-horizon look"
    elif interim:
        note = f"interim look (a cohort has fewer than {min_n} calls): verdicts use alpha {alpha}"
    else:
        note = (
            f"a cohort has fewer than {min_n} calls: if you will look again as traffic arrives, "
            f"treat this as an interim look and pass interim=true (alpha {INTERIM_ALPHA})"
        )
    return {
        "reached": reached,
        "min_n": min_n,
        "n_a": n_a,
        "n_b": n_b,
        "interim": interim,
        "alpha": alpha,
        "note": note,
    }


def _cohort_desc(c: q.Cohorts, n_a: int, n_b: int) -> dict[str, Any]:
    if c.dimension:
        return {
            "dimension": c.dimension,
            "since": c.since.isoformat(),
            "until": c.until.isoformat(),
            "a": {"value": c.a, "n": n_a},
            "b": {"value": c.b, "n": n_b},
        }
    assert c.a_window and c.b_window
    return {
        "dimension": "time",
        "a": {"since": c.a_window[0].isoformat(), "until": c.a_window[1].isoformat(), "n": n_a},
        "b": {"since": c.b_window[0].isoformat(), "until": c.b_window[1].isoformat(), "n": n_b},
    }


@router.get(
    "/regressions",
    summary="Compare two cohorts metric by metric",
    response_model=RegressionReportPublic,
    response_model_exclude_unset=True,
)
def get_regressions(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    dimension: Literal["prompt_version", "model", "provider", "environment"] | None = None,
    a: Filter = None,
    b: Filter = None,
    since: datetime | None = None,
    until: datetime | None = None,
    a_since: datetime | None = None,
    a_until: datetime | None = None,
    b_since: datetime | None = None,
    b_until: datetime | None = None,
    pass_threshold: Annotated[
        float, Query(description="score value that passes when a score has no label")
    ] = 0.5,
    interim: Annotated[
        bool,
        Query(description=f"an interim look before the fixed horizon: judge at alpha {INTERIM_ALPHA}"),
    ] = False,
) -> dict[str, Any]:
    """Latency p50/p95 and TTFT (ratio, Mann-Whitney U), cost per call and tokens (Welch), error
    rate (z-test, Fisher for small counts), and each score's mean and pass rate: each with both
    values, effect, 95% CI, p-value, BH-adjusted p-value, n per cohort, a verdict
    (``regressed``/``improved``/``no_change``/``inconclusive``) and, when underpowered, ``needed_n``."""
    try:
        cohorts = build_cohorts(dimension, a, b, since, until, a_since, a_until, b_since, b_until)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    filters = dict(segment)
    if dimension:
        filters[dimension] = None  # the dimension defines the cohorts; a filter on it would empty one
    return compute_regressions(store, project, cohorts, filters, pass_threshold, interim)
