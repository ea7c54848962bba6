"""Compare cohorts A and B metric by metric, from per-cohort (and per-stratum) summaries.

Every metric is reduced to, per cohort, a value and its standard error on an *analysis scale*:
log for ratio metrics (quantiles, means of costs and tokens), linear for differences (rates, score
means). That makes one code path give the effect, its CI, the stratified combination and the
"needs ~N more calls" hint. The p-value is the metric's own test when the cohorts are compared
directly (Mann-Whitney from ClickHouse, Welch, z / Fisher), and the inverse-variance z-test
(CMH for rates) when they are compared within strata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmtrace_server.analytics import power, stratified, twosample
from llmtrace_server.analytics.distributions import norm_ppf, norm_sf
from llmtrace_server.analytics.multiple import benjamini_hochberg
from llmtrace_server.analytics.thresholds import MetricRule
from llmtrace_server.analytics.verdicts import INCONCLUSIVE, overall_verdict, regression_verdict

Z95 = norm_ppf(0.975)
SMALL_COUNT = 10  # below this many successes or failures, Fisher's exact test replaces the z-test


@dataclass(frozen=True, slots=True)
class Estimate:
    """One cohort's (or one stratum's) summary of a metric.

    ``value`` is in the metric's unit; ``se`` is on the analysis scale (of log(value) for ratio
    metrics). ``var`` is the per-call variance (Welch) and ``x`` the success count (rates).
    """

    value: float | None
    se: float | None
    n: int
    var: float | None = None
    x: int | None = None


def mean_estimate(mean: float | None, var: float | None, n: int, log_scale: bool) -> Estimate:
    if mean is None or n < 2 or var is None or (log_scale and mean <= 0):
        return Estimate(mean, None, n, var)
    sd = math.sqrt(max(var, 0.0))
    se = sd / (mean * math.sqrt(n)) if log_scale else sd / math.sqrt(n)
    return Estimate(mean, se, n, var)


def quantile_estimate(value: float | None, low: float | None, high: float | None, n: int) -> Estimate:
    """A quantile with its order-statistic 95% CI; se of log(q) from the CI's width."""
    if value is None or low is None or high is None or n < 2 or value <= 0 or low <= 0:
        return Estimate(value, None, n)
    return Estimate(value, (math.log(high) - math.log(low)) / (2 * Z95), n)


def rate_estimate(x: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(None, None, 0, x=x)
    p = x / n
    return Estimate(p, math.sqrt(p * (1 - p) / n), n, x=x)


@dataclass
class MetricComparison:
    """A metric's comparison before multiple-testing adjustment."""

    name: str
    rule: MetricRule
    a: Estimate
    b: Estimate
    effect: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    method: str = ""
    sd_scale: tuple[float, float] | None = None  # per-call sd on the analysis scale, for needed_n
    strata: list[dict[str, Any]] = field(default_factory=list)


def compare(
    name: str,
    rule: MetricRule,
    a: Estimate,
    b: Estimate,
    strata: Sequence[tuple[str, Estimate, Estimate]] = (),
    test_p: float | None = None,
    *,
    stratified: bool = False,
) -> MetricComparison:
    """Compare pooled estimates ``a`` and ``b``; with ``strata`` compare within them instead.

    ``test_p`` is the p-value of a test run elsewhere (Mann-Whitney in ClickHouse for quantiles).
    ``stratified`` says the pooled comparison is confounded: without a stratum usable in both
    cohorts the metric then gets no effect at all (``insufficient_data``), not the pooled one.
    """
    out = MetricComparison(name, rule, a, b, method=rule.method)
    ratio = rule.kind == "ratio"
    if a.value is None or b.value is None or a.n == 0 or b.n == 0:
        return out
    usable = [
        (k, sa, sb)
        for k, sa, sb in strata
        if sa.se is not None and sb.se is not None and sa.n > 1 and sb.n > 1
    ]
    if usable:
        _compare_strata(out, usable, ratio)
    elif not (strata or stratified):
        _compare_pooled(out, ratio, test_p)
    return out


def _scale(est: Estimate, ratio: bool) -> float:
    assert est.value is not None
    return math.log(est.value) if ratio else est.value


def _compare_pooled(out: MetricComparison, ratio: bool, test_p: float | None) -> None:
    a, b, rule = out.a, out.b, out.rule
    if (
        a.se is None
        or b.se is None
        or (ratio and (not a.value or not b.value or a.value <= 0 or b.value <= 0))
    ):
        return
    est = _scale(b, ratio) - _scale(a, ratio)
    se = math.hypot(a.se, b.se)
    out.sd_scale = (a.se * math.sqrt(a.n), b.se * math.sqrt(b.n))
    if rule.method == "two_proportion_z" and a.x is not None and b.x is not None:
        small = min(a.x, a.n - a.x, b.x, b.n - b.x) < SMALL_COUNT
        if small:
            out.p_value = twosample.fisher_exact(a.x, a.n, b.x, b.n)
            out.method = "fisher_exact"
        else:
            out.p_value = twosample.two_proportion_z(a.x, a.n, b.x, b.n).p_value
        out.effect = est
        out.ci = _newcombe(a.x, a.n, b.x, b.n)
        return
    if rule.method == "welch_t" and a.var is not None and b.var is not None and a.n > 1 and b.n > 1:
        assert a.value is not None and b.value is not None
        w = twosample.welch(a.value, a.var, a.n, b.value, b.var, b.n)
        out.p_value = w.p_value
        if not ratio:
            out.effect, out.ci = w.estimate, (w.ci_low, w.ci_high)
            return
    elif test_p is not None:
        out.p_value = test_p
    else:
        out.p_value = _z_p(est, se)
        out.method = "z_on_" + ("log_ratio" if ratio else "difference")
    out.effect = math.exp(est) if ratio else est
    lo, hi = est - Z95 * se, est + Z95 * se
    out.ci = (math.exp(lo), math.exp(hi)) if ratio else (lo, hi)


def _compare_strata(
    out: MetricComparison, usable: Sequence[tuple[str, Estimate, Estimate]], ratio: bool
) -> None:
    ests = [_scale(sb, ratio) - _scale(sa, ratio) for _, sa, sb in usable]
    ses = [math.hypot(sa.se or 0.0, sb.se or 0.0) for _, sa, sb in usable]
    combined = stratified.inverse_variance(ests, ses)
    out.p_value = combined.p_value
    out.method = "stratified_inverse_variance"
    if out.rule.method == "two_proportion_z":
        tables = [stratified.Stratum2x2(sa.x or 0, sa.n, sb.x or 0, sb.n) for _, sa, sb in usable]
        out.p_value = stratified.cmh(tables)[1]
        out.method = "cochran_mantel_haenszel"
    if ratio:
        out.effect, out.ci = (
            math.exp(combined.estimate),
            (math.exp(combined.ci_low), math.exp(combined.ci_high)),
        )
    else:
        out.effect, out.ci = combined.estimate, (combined.ci_low, combined.ci_high)
    n_a, n_b = sum(sa.n for _, sa, _ in usable), sum(sb.n for _, _, sb in usable)
    sd = combined.se / math.sqrt(1 / n_a + 1 / n_b)  # the per-call sd implied by the combined se
    out.sd_scale = (sd, sd)
    for (key, sa, sb), e, s in zip(usable, ests, ses, strict=True):
        out.strata.append(
            {
                "stratum": key,
                "a": sa.value,
                "b": sb.value,
                "n_a": sa.n,
                "n_b": sb.n,
                "effect": math.exp(e) if ratio else e,
                "ci": [math.exp(e - Z95 * s), math.exp(e + Z95 * s)] if ratio else [e - Z95 * s, e + Z95 * s],
            }
        )


def _z_p(est: float, se: float) -> float:
    return 1.0 if se == 0 else min(1.0, 2 * norm_sf(abs(est / se)))


def _newcombe(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_B - p_A (good for small counts and rare rates)."""
    pa, pb = x_a / n_a, x_b / n_b
    la, ua = twosample.wilson_interval(x_a, n_a)
    lb, ub = twosample.wilson_interval(x_b, n_b)
    d = pb - pa
    return d - math.hypot(pb - lb, ua - pa), d + math.hypot(ub - pb, pa - la)


def finalize(comparisons: Sequence[MetricComparison]) -> tuple[list[dict[str, Any]], str]:
    """BH-adjust across the report, apply the verdict rules, and render each metric."""
    adjusted = benjamini_hochberg([c.p_value for c in comparisons])
    rendered = []
    for c, p_adj in zip(comparisons, adjusted, strict=True):
        item: dict[str, Any] = {
            "metric": c.name,
            "a": c.a.value,
            "b": c.b.value,
            "n_a": c.a.n,
            "n_b": c.b.n,
            "effect": c.effect,
            "effect_kind": "ratio_b_over_a" if c.rule.kind == "ratio" else "difference_b_minus_a",
            "ci_95": list(c.ci) if c.ci else None,
            "p_value": c.p_value,
            "p_value_adjusted": p_adj,
            "method": c.method,
            "threshold": {
                "alpha": c.rule.alpha,
                "min_effect": c.rule.min_effect,
                "min_relative": c.rule.min_relative,
                "min_n": c.rule.min_n,
                "higher_is_worse": c.rule.higher_is_worse,
            },
            "needed_n": None,
        }
        if c.effect is None or c.ci is None or p_adj is None:
            item["verdict"], item["reason"] = INCONCLUSIVE, "insufficient_data"
        else:
            item["verdict"], item["reason"] = regression_verdict(
                c.rule, c.effect, c.ci[0], c.ci[1], p_adj, c.a.n, c.b.n, base=c.a.value
            )
        if item["verdict"] == INCONCLUSIVE and c.sd_scale and all(s > 0 for s in c.sd_scale):
            target = math.log(c.rule.min_effect) if c.rule.kind == "ratio" else c.rule.min_effect
            item["needed_n"] = power.more_calls_needed(
                target, c.sd_scale[0], c.a.n, c.sd_scale[1], c.b.n, alpha=c.rule.alpha
            )
        if c.strata:
            item["strata"] = c.strata
        rendered.append(item)
    return rendered, overall_verdict([r["verdict"] for r in rendered])
