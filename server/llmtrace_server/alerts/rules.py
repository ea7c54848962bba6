"""Alert rule types, their parameters and defaults (ANALYTICS.md §3.3 and §5.4).

Every parameter has a default except the ones a rule cannot guess (a budget's amount, a threshold's
metric and value), so ``{"name", "type": "cost_spike", "webhook_url"}`` is a complete rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmtrace.store.queries.alerts import ALERT_FILTERS, GROUPABLE, THRESHOLD_METRICS
from llmtrace_server.alerts.webhook_policy import check_webhook_url

RuleType = Literal["cost_spike", "budget", "threshold"]

# State-machine parameters shared by every type.
COMMON: dict[str, Any] = {
    "pending_evaluations": 2,  # consecutive breaches before firing
    "keep_firing_minutes": 30,  # below the resolve threshold this long before resolving
    "renotify_hours": 4.0,  # at most one notification per key per this many hours while firing
    "refire_cooldown_minutes": 60,  # after a resolve, the key cannot fire again for this long
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "cost_spike": {
        "window_minutes": 60,
        "baseline_days": 7,
        "ratio": 2.0,
        "resolve_ratio": 1.5,
        "robust_z": 3.5,
        "min_excess_usd": 5.0,
        "min_calls": 50,
        "min_history_days": 3,
    },
    "budget": {"daily_budget_usd": None, "fire_fraction": 1.0, "resolve_fraction": 0.8, "group_by": None},
    "threshold": {
        "metric": None,
        "operator": ">",
        "value": None,
        "resolve_value": None,  # default: value (no hysteresis)
        "window_minutes": 60,
        "min_calls": 20,
        "group_by": None,
    },
}
# The duration parameters, in days per unit. Each is at most MAX_DAYS: the evaluator turns them
# into dates and SQL intervals, and a longer one (1e20 minutes) failed the rule at every
# evaluation; the rollups keep 400 days, so a longer window or baseline would read nothing more.
MAX_DAYS = 366
DURATIONS: dict[str, float] = {
    "window_minutes": 1 / 1440,
    "keep_firing_minutes": 1 / 1440,
    "refire_cooldown_minutes": 1 / 1440,
    "renotify_hours": 1 / 24,
    "baseline_days": 1.0,
    "min_history_days": 1.0,
}
_AMOUNTS = frozenset({"daily_budget_usd"})  # numbers with no default (required)
REQUIRED: dict[str, tuple[str, ...]] = {
    "cost_spike": (),
    "budget": ("daily_budget_usd",),
    "threshold": ("metric", "value"),
}


def effective_params(rule_type: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the rule's own parameters; raise ValueError on unknown or bad ones."""
    allowed = {**COMMON, **DEFAULTS[rule_type]}
    unknown = set(given) - set(allowed)
    if unknown:
        raise ValueError(
            f"unknown params for {rule_type}: {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}"
        )
    params = {**allowed, **given}
    for name in REQUIRED[rule_type]:
        if params.get(name) is None:
            raise ValueError(f"a {rule_type} rule needs params.{name}")
    for name, value in params.items():
        default = allowed[name]
        numeric = (isinstance(default, int | float) and not isinstance(default, bool)) or name in _AMOUNTS
        if numeric and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf
        ):  # (NaN fails the comparison too: JSON bodies may carry NaN and Infinity)
            raise ValueError(f"params.{name} must be a finite non-negative number")
        if name in DURATIONS and value * DURATIONS[name] > MAX_DAYS:
            raise ValueError(
                f"params.{name} must be at most {MAX_DAYS / DURATIONS[name]:g} ({MAX_DAYS} days)"
            )
    if params.get("group_by") not in (None, *GROUPABLE):
        raise ValueError(f"params.group_by must be one of {', '.join(GROUPABLE)}")
    if rule_type == "threshold":
        if params["metric"] not in THRESHOLD_METRICS:
            raise ValueError(f"params.metric must be one of {', '.join(THRESHOLD_METRICS)}")
        if params["operator"] not in (">", "<"):
            raise ValueError("params.operator must be '>' or '<'")
        for name in ("value", "resolve_value"):
            v = params[name]
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            ):
                raise ValueError(f"params.{name} must be a finite number")
    if params["pending_evaluations"] < 1:
        raise ValueError("params.pending_evaluations must be at least 1")
    return params


def shown_params(rule_type: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`effective_params` of a stored rule, for showing it: a rule stored before a check
    was added (a NaN window, say) still lists, with its parameters over the defaults as given;
    evaluating it reports why it cannot run."""
    try:
        return effective_params(rule_type, given)
    except ValueError:
        return {**COMMON, **DEFAULTS.get(rule_type, {}), **given}


class RuleIn(BaseModel):
    """A rule as posted to ``POST /api/v1/alerts/rules``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: RuleType
    filters: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = Field(default=None, max_length=2048)

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(ALERT_FILTERS)
        if unknown:
            raise ValueError(f"unknown filters {sorted(unknown)}; use {', '.join(ALERT_FILTERS)}")
        return {k: v for k, v in value.items() if v}

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_webhook_url(value) if value else None
