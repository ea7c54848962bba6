"""Combining per-stratum comparisons, so a change in the stratum mix is not read as an effect.

A prompt change evaluated while the model mix also changed is confounded (Simpson's paradox,
ANALYTICS.md §2.2): compare within each model and combine. Numeric metrics combine per-stratum
estimates by inverse-variance weighting; binary metrics use the Cochran-Mantel-Haenszel test for
the p-value (with the inverse-variance risk difference as the effect).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llmtrace_server.analytics.distributions import chi2_sf, norm_ppf, norm_sf
from llmtrace_server.analytics.twosample import Comparison


def inverse_variance(estimates: Sequence[float], ses: Sequence[float], level: float = 0.95) -> Comparison:
    """Fixed-effect inverse-variance combination of independent estimates (z-test on the result).

    Strata with a zero or non-finite standard error are skipped (they carry no usable weight).
    """
    pairs = [
        (e, s) for e, s in zip(estimates, ses, strict=True) if s > 0 and math.isfinite(s) and math.isfinite(e)
    ]
    if not pairs:
        raise ValueError("no stratum has a usable standard error")
    weights = [1.0 / (s * s) for _, s in pairs]
    total = sum(weights)
    est = sum(w * e for w, (e, _) in zip(weights, pairs, strict=True)) / total
    se = math.sqrt(1.0 / total)
    z = est / se
    half = norm_ppf(0.5 + level / 2.0) * se
    return Comparison(est, est - half, est + half, min(1.0, 2.0 * norm_sf(abs(z))), z, se)


@dataclass(frozen=True, slots=True)
class Stratum2x2:
    """Successes and totals of cohorts A and B in one stratum."""

    x_a: int
    n_a: int
    x_b: int
    n_b: int


def cmh(strata: Sequence[Stratum2x2]) -> tuple[float, float]:
    """Cochran-Mantel-Haenszel chi-square (1 df, no continuity correction) and its p-value.

    Tests a common association across strata: H0 is equal rates in A and B within every stratum.
    Strata with one empty cohort or no variation contribute nothing.
    """
    num = var = 0.0
    for s in strata:
        n = s.n_a + s.n_b
        m1 = s.x_a + s.x_b
        if s.n_a == 0 or s.n_b == 0 or n < 2:
            continue
        num += s.x_a - s.n_a * m1 / n
        var += s.n_a * s.n_b * m1 * (n - m1) / (n * n * (n - 1))
    if var == 0.0:
        return 0.0, 1.0
    stat = num * num / var
    return stat, chi2_sf(stat, 1)
