"""Minimum detectable effects and sample sizes, for "needs ~N more calls" hints.

Normal approximation, two-sided test at ``alpha`` with the given power (defaults match the
verdict: alpha 0.01, power 0.8). At p ~ 0.9, alpha 0.05 these give the MDEs quoted in
ANALYTICS.md §2.2 (8.4 pp at 200 per arm).
"""

from __future__ import annotations

import math

from llmtrace_server.analytics.distributions import norm_ppf


def _z_sum(alpha: float, power: float) -> float:
    return norm_ppf(1 - alpha / 2) + norm_ppf(power)


def mde_difference(
    sd_a: float, n_a: int, sd_b: float, n_b: int, alpha: float = 0.01, power: float = 0.8
) -> float:
    """Smallest absolute difference in means detectable with these standard deviations and sizes."""
    return _z_sum(alpha, power) * math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)


def mde_proportion(p: float, n_a: int, n_b: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest detectable difference of two rates near ``p``."""
    return _z_sum(alpha, power) * math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def n_per_arm(effect: float, sd_a: float, sd_b: float, alpha: float = 0.01, power: float = 0.8) -> int:
    """Calls per cohort needed to detect ``effect`` (absolute) with equal cohort sizes."""
    if effect <= 0:
        raise ValueError("effect must be positive")
    return math.ceil(_z_sum(alpha, power) ** 2 * (sd_a**2 + sd_b**2) / effect**2)


def more_calls_needed(effect: float, sd_a: float, n_a: int, sd_b: float, n_b: int, **kw: float) -> int:
    """How many more calls (both cohorts together) until ``effect`` becomes detectable."""
    need = n_per_arm(effect, sd_a, sd_b, **kw)
    return max(0, need - n_a) + max(0, need - n_b)
