"""Response models of the drift, regression and score-trend endpoints (``...Public``).

They document every field in ``/openapi.json``; the routes still build plain dicts (the analytics
code is easier to test that way) and FastAPI validates them against these models. Models forbid
unknown keys, so a field added to a response without being documented here fails the tests
instead of silently disappearing, and routes serialise with ``response_model_exclude_unset`` so
fields a response does not carry (``ks`` of a categorical feature, ``strata`` of an unstratified
metric) stay absent rather than appearing as ``null``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Share = Annotated[float | None, Field(description="count / window total; null when the window is empty")]
DriftVerdict = Literal["drift", "no_drift", "insufficient_data"]
RegressionVerdict = Literal["regressed", "improved", "no_change", "inconclusive"]


class PublicModel(BaseModel):
    """Base of the analytics responses: unknown keys are a bug, not something to drop."""

    model_config = ConfigDict(extra="forbid")


# ---- drift -----------------------------------------------------------------------------------


class DriftBinPublic(PublicModel):
    """One numeric bin [low, high) with both windows' counts."""

    low: float
    high: float
    reference: int
    current: int
    reference_share: Share
    current_share: Share


class DriftCategoryPublic(PublicModel):
    value: str
    reference: int
    current: int
    reference_share: Share
    current_share: Share


class DriftThresholdsPublic(PublicModel):
    """The thresholds applied; ``js``/``psi`` are null-adjusted for the bin count and window sizes."""

    js: float
    psi: float | None = Field(None, description="numeric features only")
    psi_warn: float | None = Field(None, description="numeric features only")
    l_inf: float | None = Field(None, description="categorical features only")
    alpha: float
    min_n_current: int
    min_n_reference: int


class KsPublic(PublicModel):
    statistic: float
    p_value: float


class ChiSquarePublic(PublicModel):
    statistic: float
    df: int | None
    p_value: float


class DriftFeaturePublic(PublicModel):
    """One feature's drift; the statistics are null when a window is empty."""

    feature: str = Field(examples=["latency_ms", "model", "score:helpfulness"])
    kind: Literal["numeric", "categorical"]
    method: str
    n_reference: int
    n_current: int
    bins: list[DriftBinPublic] | None = Field(None, description="numeric features only")
    categories: list[DriftCategoryPublic] | None = Field(None, description="categorical features only")
    thresholds: DriftThresholdsPublic
    psi: float | None
    js: float | None = Field(description="Jensen-Shannon distance, base 2, in [0, 1]")
    ks: KsPublic | None = Field(None, description="numeric features only: KS on the binned CDFs")
    chi_square: ChiSquarePublic | None
    l_inf: float | None = Field(description="largest difference of bin or category shares")
    p_value: float | None = Field(description="the chi-square p-value")
    verdict: DriftVerdict


class DriftWindowsPublic(PublicModel):
    reference_since: IsoTime
    reference_until: IsoTime
    current_since: IsoTime
    current_until: IsoTime


class DriftResultPublic(DriftFeaturePublic):
    """``GET /api/v1/drift``: one feature, with the windows and filters used."""

    windows: DriftWindowsPublic
    filters: dict[str, str]


class DriftReportFeaturePublic(DriftFeaturePublic):
    p_value_adjusted: float | None = Field(description="Benjamini-Hochberg across the whole report")


class DriftSegmentPublic(PublicModel):
    segment: dict[str, str]
    features: list[DriftReportFeaturePublic]


class DriftFindingPublic(PublicModel):
    segment: dict[str, str]
    feature: str


class DriftTestingPublic(PublicModel):
    method: Literal["benjamini_hochberg"]
    q: float
    tests: int


class DriftCoMovePublic(PublicModel):
    """A drifted feature that moves with a change: rank-correlated with it in the current window."""

    feature: str
    js: float | None
    correlated_with: str = Field(description="the change's feature, or a feature already moving with it")
    rank_correlation: float = Field(description="Spearman rho with correlated_with, current window")
    n: int = Field(description="calls carrying both values (a deterministic sample of at most 50,000)")


class DriftChangePublic(PublicModel):
    """One change: the drifted feature with the largest effect among those left, and what moves with it."""

    feature: str
    kind: Literal["numeric", "categorical"]
    js: float | None = Field(description="Jensen-Shannon distance, the effect changes are ordered by")
    psi: float | None
    l_inf: float | None
    n_reference: int
    n_current: int
    moves_with: list[DriftCoMovePublic]


class DriftSummaryPublic(PublicModel):
    """What drifted in one segment, read as changes: the largest first, consequences under it."""

    segment: dict[str, str]
    verdict: DriftVerdict
    drifted_features: int
    changes: list[DriftChangePublic]
    text: str = Field(
        examples=["service=chat: input_tokens drifted (JS 0.71, PSI 5.90); moving with it: ..."]
    )


class DriftReportPublic(PublicModel):
    """``GET /api/v1/drift/report``: one summary per segment (largest change first), then every
    feature per segment, BH-adjusted across the report."""

    summary: list[DriftSummaryPublic]
    summary_method: str
    windows: DriftWindowsPublic
    segment_by: str | None
    verdict: DriftVerdict
    drifted: list[DriftFindingPublic]
    multiple_testing: DriftTestingPublic
    segments: list[DriftSegmentPublic]


# ---- regressions -----------------------------------------------------------------------------


class CohortPublic(PublicModel):
    """A dimension value (``value``) or a time window (``since``/``until``), with its call count."""

    value: str | None = None
    since: IsoTime | None = None
    until: IsoTime | None = None
    n: int


class CohortsPublic(PublicModel):
    dimension: str = Field(description="prompt_version, model, provider, environment, or time")
    since: IsoTime | None = None
    until: IsoTime | None = None
    a: CohortPublic
    b: CohortPublic


class MetricThresholdPublic(PublicModel):
    alpha: float
    min_effect: float = Field(description="a ratio for ratio metrics, an absolute difference otherwise")
    min_relative: float | None
    min_n: int
    higher_is_worse: bool


class StratumPublic(PublicModel):
    stratum: str
    a: float | None
    b: float | None
    n_a: int
    n_b: int
    effect: float
    ci: list[float]


class RegressionMetricPublic(PublicModel):
    """One metric: both values, effect with 95% CI, raw and BH-adjusted p-value and a verdict."""

    metric: str = Field(examples=["latency_p95_ms", "score:quality:pass_rate"])
    a: float | None
    b: float | None
    n_a: int
    n_b: int
    effect: float | None
    effect_kind: Literal["ratio_b_over_a", "difference_b_minus_a"]
    ci_95: list[float] | None
    p_value: float | None
    p_value_adjusted: float | None
    method: str
    threshold: MetricThresholdPublic
    needed_n: int | None = Field(description="when underpowered: about how many more calls would decide")
    verdict: RegressionVerdict
    reason: Literal["significant", "below_minimum_effect", "equivalent", "underpowered", "insufficient_data"]
    strata: list[StratumPublic] | None = Field(None, description="only when compared within models")


class ConfounderPublic(PublicModel):
    stratified_by: str
    reason: str
    total_variation: float
    mix_a: dict[str, float]
    mix_b: dict[str, float]
    excluded_models: list[str]


class RegressionTestingPublic(PublicModel):
    method: Literal["benjamini_hochberg"]
    tests: int


class SamplePublic(PublicModel):
    cap_per_cohort: int
    fraction_a: float
    fraction_b: float


class HorizonPublic(PublicModel):
    """Peeking guard (ANALYTICS.md §2.2 item 6): is this the fixed-horizon look?"""

    reached: bool = Field(description="both cohorts have at least min_n calls")
    min_n: int = Field(description="the largest minimum n of the report's metrics")
    n_a: int
    n_b: int
    interim: bool = Field(description="the caller asked for interim-look significance (interim=true)")
    alpha: float = Field(description="the significance level every verdict used")
    note: str


class RegressionReportPublic(PublicModel):
    """``GET /api/v1/regressions``: cohort B against A, metric by metric, with an overall verdict."""

    cohorts: CohortsPublic
    filters: dict[str, str]
    verdict: RegressionVerdict
    metrics: list[RegressionMetricPublic]
    stratified_by: str | None
    confounders: list[ConfounderPublic]
    multiple_testing: RegressionTestingPublic
    sample: SamplePublic
    horizon: HorizonPublic
    notes: list[str]


# ---- score trends ----------------------------------------------------------------------------


class TrendTotalsPublic(PublicModel):
    count: int
    mean: float
    pass_rate: float
    pass_rate_ci_95: list[float] = Field(description="95% Wilson interval")


class TrendPointPublic(TrendTotalsPublic):
    t: IsoTime


class TrendSeriesPublic(PublicModel):
    name: str
    group: dict[str, str]
    points: list[TrendPointPublic]
    totals: TrendTotalsPublic = Field(description="over the whole window: the scores of every point")


class ScoreTrendsPublic(PublicModel):
    """``GET /api/v1/scores/trends``: one series per score name and group."""

    interval: Literal["1h", "6h", "1d", "7d"]
    since: IsoTime
    until: IsoTime
    series: list[TrendSeriesPublic]
