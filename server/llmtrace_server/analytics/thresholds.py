"""Default decision thresholds (ANALYTICS.md §5.4), in one place so responses can echo them.

A finding needs all three: significance, a minimum practical effect and a minimum sample size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from llmtrace_server.analytics.distributions import chi2_ppf


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """Drift defaults: JS (base 2) >= 0.1 or PSI >= 0.25 (numeric), JS or L-inf >= 0.1 (categorical)."""

    js: float = 0.1
    psi: float = 0.25
    psi_warn: float = 0.1
    l_inf: float = 0.1
    alpha: float = 0.01
    fdr_q: float = 0.05
    null_quantile: float = 0.99
    min_n_current: int = 500
    min_n_reference: int = 1000
    min_n_reference_categorical: int = 500
    target_bins: int = 10

    def adjusted(self, bins: int, n_reference: int, n_current: int) -> dict[str, float]:
        """Null-adjusted PSI and JS thresholds: the statistic's 99th percentile under no drift.

        Under H0, PSI ~ chi2(B-1) * (1/n + 1/m) and JS divergence (bits) ~ that / (8 ln 2), so
        small windows with many bins get a higher bar than the fixed defaults.
        """
        if bins < 2 or n_reference <= 0 or n_current <= 0:
            return {"psi": self.psi, "js": self.js}
        scale = chi2_ppf(self.null_quantile, bins - 1) * (1.0 / n_reference + 1.0 / n_current)
        return {
            "psi": max(self.psi, scale),
            "js": max(self.js, math.sqrt(scale / (8.0 * math.log(2.0)))),
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


EffectKind = Literal["ratio", "difference"]
ALPHA = 0.01  # significance of a regression verdict at the fixed horizon
# Interim looks (before both cohorts reach the minimum n) need a stricter bar, a Haybittle-Peto
# style boundary, so re-checking the same comparison every hour does not inflate false alarms.
INTERIM_ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class MetricRule:
    """How one regression metric is judged.

    ``min_effect`` is a ratio (1.10 = 10% worse) for ``ratio`` metrics and an absolute difference
    for ``difference`` metrics; ``min_relative`` also accepts a relative change for rare rates.
    """

    kind: EffectKind
    min_effect: float
    higher_is_worse: bool
    min_n: int
    method: str
    alpha: float = ALPHA
    min_relative: float | None = None
    rare_rate: float = 0.05

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_rules() -> dict[str, MetricRule]:
    """Built-in metrics; ``score:<name>`` rules come from :func:`score_rule`."""
    return {
        "latency_p50_ms": MetricRule("ratio", 1.05, True, 200, "mann_whitney_u"),
        "latency_p95_ms": MetricRule("ratio", 1.10, True, 200, "mann_whitney_u"),
        "ttft_p50_ms": MetricRule("ratio", 1.05, True, 200, "mann_whitney_u"),
        "cost_per_call_usd": MetricRule("ratio", 1.05, True, 500, "welch_t"),
        "input_tokens": MetricRule("ratio", 1.05, True, 500, "welch_t"),
        "output_tokens": MetricRule("ratio", 1.05, True, 500, "welch_t"),
        "error_rate": MetricRule("difference", 0.02, True, 1000, "two_proportion_z", min_relative=0.25),
    }


def score_rule(unit_interval: bool) -> MetricRule:
    """Score means: -0.02 on a 0-1 scale, -0.1 on wider scales (1-5 ratings)."""
    return MetricRule("difference", 0.02 if unit_interval else 0.1, False, 200, "welch_t")


def pass_rate_rule() -> MetricRule:
    return MetricRule("difference", 0.02, False, 1000, "two_proportion_z", min_relative=0.25)
