"""Two-sample tests and intervals: Welch, Mann-Whitney U, two-proportion z, Fisher, Wilson.

Welch and the z-test work from summary statistics (means, variances, counts) that ClickHouse
computes, so no rows travel to Python. Mann-Whitney is here for samples already in memory (the
null-rate simulations) and matches ``scipy.stats.mannwhitneyu(method="asymptotic")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llmtrace_server.analytics.distributions import (
    norm_ppf,
    norm_sf,
    t_ppf,
    t_two_sided_p,
)


@dataclass(frozen=True, slots=True)
class Comparison:
    """An estimate of (B - A) or log(B / A) with its standard error, CI and two-sided p-value."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    statistic: float
    se: float
    df: float = math.inf


def welch(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int, level: float = 0.95
) -> Comparison:
    """Welch's unequal-variance t-test of mean(B) - mean(A), with the Welch-Satterthwaite df."""
    if n_a < 2 or n_b < 2:
        raise ValueError("Welch's test needs at least 2 observations per sample")
    va, vb = var_a / n_a, var_b / n_b
    se = math.sqrt(va + vb)
    diff = mean_b - mean_a
    if se == 0.0:
        p = 1.0 if diff == 0 else 0.0
        return Comparison(diff, diff, diff, p, math.copysign(math.inf, diff) if diff else 0.0, 0.0)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    t = diff / se
    half = t_ppf(0.5 + level / 2.0, df) * se
    return Comparison(diff, diff - half, diff + half, t_two_sided_p(t, df), t, se, df)


def ratio_of_means(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int, level: float = 0.95
) -> Comparison:
    """log(mean_B / mean_A) with a delta-method CI; exponentiate for the ratio and its CI.

    The p-value is Welch's on the raw means (the bill follows the mean, §2.1).
    """
    w = welch(mean_a, var_a, n_a, mean_b, var_b, n_b, level)
    if mean_a <= 0 or mean_b <= 0:
        raise ValueError("a ratio of means needs positive means")
    se = math.sqrt(var_a / (n_a * mean_a**2) + var_b / (n_b * mean_b**2))
    est = math.log(mean_b / mean_a)
    z = norm_ppf(0.5 + level / 2.0)
    return Comparison(est, est - z * se, est + z * se, w.p_value, w.statistic, se, w.df)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mann-Whitney U of ``a`` (scipy's convention) and the two-sided asymptotic p-value.

    Midranks for ties, the tie-corrected variance and a 0.5 continuity correction, as scipy does.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples must be non-empty")
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    n = n1 + n2
    rank_sum_a = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        midrank = (i + j) / 2.0 + 1.0
        t = j - i + 1
        tie_term += t**3 - t
        rank_sum_a += midrank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        i = j + 1
    u1 = rank_sum_a - n1 * (n1 + 1) / 2.0
    mu = n1 * n2 / 2.0
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    if sigma == 0.0:
        return u1, 1.0
    u = max(u1, n1 * n2 - u1)
    z = (u - mu - 0.5) / sigma
    return u1, min(1.0, 2.0 * norm_sf(z))


def two_proportion_z(x_a: int, n_a: int, x_b: int, n_b: int, level: float = 0.95) -> Comparison:
    """Pooled two-proportion z-test of p_B - p_A; the CI uses the unpooled (Wald) variance."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both cohorts need calls")
    pa, pb = x_a / n_a, x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    diff = pb - pa
    z = diff / se0 if se0 > 0 else 0.0
    p = 2.0 * norm_sf(abs(z)) if se0 > 0 else 1.0
    half = norm_ppf(0.5 + level / 2.0) * se
    return Comparison(diff, diff - half, diff + half, min(1.0, p), z, se)


def fisher_exact(x_a: int, n_a: int, x_b: int, n_b: int) -> float:
    """Two-sided Fisher exact p-value of the 2x2 table [[x_a, n_a-x_a], [x_b, n_b-x_b]].

    Sums the hypergeometric probabilities no larger than the observed one (with scipy's
    relative tolerance of 1e-7), computed in log space so large tables do not overflow.
    """
    col = x_a + x_b
    total = n_a + n_b
    lo, hi = max(0, col - n_b), min(col, n_a)

    def logp(k: int) -> float:
        return _log_comb(n_a, k) + _log_comb(n_b, col - k) - _log_comb(total, col)

    observed = logp(x_a)
    p = 0.0
    for k in range(lo, hi + 1):
        lp = logp(k)
        if lp <= observed + 1e-7:
            p += math.exp(lp)
    return min(1.0, p)


def wilson_interval(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a single proportion (good at small n and extreme rates)."""
    if n <= 0:
        return (0.0, 1.0)
    z = norm_ppf(0.5 + level / 2.0)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def quantile_ci_ranks(n: int, q: float, level: float = 0.95) -> tuple[int, int, int]:
    """1-based ranks (estimate, low, high) of a distribution-free CI for the q-quantile.

    Binomial normal approximation: the CI spans order statistics n*q -/+ z*sqrt(n*q*(1-q)).
    The estimate uses ClickHouse's ``quantileExact`` convention (element floor(n*q), 0-based).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    z = norm_ppf(0.5 + level / 2.0)
    half = z * math.sqrt(n * q * (1 - q))
    est = min(n, math.floor(n * q) + 1)
    low = max(1, math.floor(n * q - half))
    high = min(n, math.ceil(n * q + half) + 1)
    return est, low, high


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
