"""Verdict logic: significance AND a minimum practical effect AND a minimum sample size.

Anything short of all three is reported as what it is: ``no_change`` (a tight interval around
no practical effect, or a real but negligible effect), ``inconclusive`` (too little evidence
either way) or ``insufficient_data`` (drift below the minimum n).
"""

from __future__ import annotations

from collections.abc import Sequence

from llmtrace_server.analytics.thresholds import MetricRule

DRIFT = "drift"
NO_DRIFT = "no_drift"
INSUFFICIENT = "insufficient_data"
REGRESSED = "regressed"
IMPROVED = "improved"
NO_CHANGE = "no_change"
INCONCLUSIVE = "inconclusive"


def _practical(rule: MetricRule, effect: float, base: float | None) -> bool:
    """Is the effect at least the minimum practical effect in either direction?"""
    if rule.kind == "ratio":
        return effect >= rule.min_effect or effect <= 1.0 / rule.min_effect
    if abs(effect) >= rule.min_effect:
        return True
    if rule.min_relative is not None and base is not None and base > 0:
        return base < rule.rare_rate and abs(effect) / base >= rule.min_relative
    return False


def _inside_band(rule: MetricRule, low: float, high: float, base: float | None) -> bool:
    """Does the whole CI lie within the no-practical-effect band (equivalence)?"""
    if rule.kind == "ratio":
        return low > 1.0 / rule.min_effect and high < rule.min_effect
    bound = rule.min_effect
    if rule.min_relative is not None and base is not None and 0 < base < rule.rare_rate:
        bound = min(bound, rule.min_relative * base)
    return -bound < low and high < bound


def regression_verdict(
    rule: MetricRule,
    effect: float,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    n_a: int,
    n_b: int,
    base: float | None = None,
) -> tuple[str, str]:
    """(verdict, reason) for one metric; ``effect`` is B/A (ratio) or B - A (difference).

    ``base`` is cohort A's value, used by relative floors on rare rates.
    """
    if n_a < rule.min_n or n_b < rule.min_n:
        return INCONCLUSIVE, "insufficient_data"
    null = 1.0 if rule.kind == "ratio" else 0.0
    excludes_null = ci_low > null or ci_high < null
    if p_adjusted < rule.alpha and excludes_null:
        if not _practical(rule, effect, base):
            return NO_CHANGE, "below_minimum_effect"
        worse = (effect > null) == rule.higher_is_worse
        return (REGRESSED if worse else IMPROVED), "significant"
    if _inside_band(rule, ci_low, ci_high, base):
        return NO_CHANGE, "equivalent"
    return INCONCLUSIVE, "underpowered"


def overall_verdict(verdicts: Sequence[str]) -> str:
    """A report regresses if any metric does; it improves if some improve and none regress."""
    if REGRESSED in verdicts:
        return REGRESSED
    if IMPROVED in verdicts:
        return IMPROVED
    if not verdicts or INCONCLUSIVE in verdicts:
        return INCONCLUSIVE
    return NO_CHANGE
