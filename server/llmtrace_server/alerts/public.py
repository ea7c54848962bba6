"""Response models of ``/api/v1/alerts/...`` (``...Public``): rules, events, evaluation results.

As for the other analytics responses (:mod:`llmtrace_server.analytics.public`), routes build dicts
and FastAPI validates them here; unknown keys are refused so nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmtrace_server.alerts.rules import RuleType
from llmtrace_server.analytics.public import IsoTime, PublicModel


class AlertRulePublic(PublicModel):
    id: str
    name: str
    type: RuleType
    filters: dict[str, str] = Field(description="service, model, prompt, environment")
    params: dict[str, Any] = Field(description="the parameters as given")
    webhook_url: str | None
    created_at: IsoTime
    effective_params: dict[str, Any] = Field(description="params with every default applied")


class AlertRulesPublic(PublicModel):
    data: list[AlertRulePublic]


class AlertEventPublic(PublicModel):
    """One key's notification: it started or kept firing, or it resolved."""

    id: str
    rule_id: str
    rule_name: str
    rule_type: RuleType
    key: str = Field(examples=["service=chat,model=gpt-4o,prompt=answer"])
    state: Literal["firing", "resolved"]
    repeat: int = Field(description="1 for a re-notification of a key still firing")
    ts: IsoTime = Field(description="the evaluation time")
    values: dict[str, Any] = Field(description="what was observed; the keys depend on the rule type")
    baseline: float | None
    delivered: int = Field(description="1 when the webhook accepted it")
    attempts: int
    error: str


class AlertEventsPublic(PublicModel):
    data: list[AlertEventPublic]


class EvaluationEventPublic(AlertEventPublic):
    project: str


class RuleErrorPublic(PublicModel):
    rule_id: str
    error: str


class AlertEvaluationPublic(PublicModel):
    """``POST /api/v1/alerts/evaluate``: what one evaluation pass did."""

    now: IsoTime
    rules: int = Field(description="rules evaluated")
    errors: list[RuleErrorPublic] = Field(description="rules that could not be evaluated")
    events: list[EvaluationEventPublic]
