"""Alert rules CRUD, on-demand evaluation and the event log (``/api/v1/alerts/...``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status
from pydantic import BaseModel

from llmtrace.store.queries import alerts as q
from llmtrace_server.alerts import scheduler
from llmtrace_server.alerts.engine import evaluate
from llmtrace_server.alerts.public import (
    AlertEvaluationPublic,
    AlertEventsPublic,
    AlertRulePublic,
    AlertRulesPublic,
)
from llmtrace_server.alerts.rules import RuleIn, effective_params, shown_params
from llmtrace_server.alerts.webhook_policy import WebhookPolicy
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.routes.drift import aware

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], lifespan=scheduler.lifespan)

# Every rule is evaluated on every pass (one after another, projects taking turns): a bound per
# project keeps one project's rules from stretching the pass that the others' alerts wait for.
MAX_RULES_PER_PROJECT = 500


class EvaluateIn(BaseModel):
    """Evaluate as if the clock read ``now`` (tests, backfills); default: the current time."""

    now: datetime | None = None


def _public(rule: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rule.items() if k != "project"}
    out["effective_params"] = shown_params(rule["type"], rule["params"])
    if isinstance(out.get("created_at"), datetime):
        out["created_at"] = out["created_at"].isoformat()
    return out


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    summary="Create an alert rule",
    response_model=AlertRulePublic,
    response_model_exclude_unset=True,
)
def create_rule(request: Request, store: StoreDep, project: ProjectDep, rule: RuleIn) -> dict[str, Any]:
    """``{"name", "type": "cost_spike" | "budget" | "threshold", "filters", "params", "webhook_url"}``;
    omitted params take their defaults (shown in ``effective_params``). A ``webhook_url`` that
    names a loopback, private or link-local address is refused (422) unless the server allows
    that host (``--allow-webhook-host``; docs/security.md)."""
    try:
        effective_params(rule.type, rule.params)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    policy: WebhookPolicy = request.app.state.webhook_policy
    refusal = policy.refusal(rule.webhook_url) if rule.webhook_url else None
    if refusal:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, refusal)
    if len(q.list_rules(store, project)) >= MAX_RULES_PER_PROJECT:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"a project has at most {MAX_RULES_PER_PROJECT} alert rules; delete one first",
        )
    row = {**rule.model_dump(), "id": uuid.uuid4().hex[:16], "created_at": datetime.now(UTC)}
    q.insert_rule(store, project, row)
    return _public({**row, "project": project})


@router.get(
    "/rules",
    summary="List alert rules",
    response_model=AlertRulesPublic,
    response_model_exclude_unset=True,
)
def list_rules(store: StoreDep, project: ProjectDep) -> dict[str, Any]:
    return {"data": [_public(r) for r in q.list_rules(store, project)]}


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an alert rule")
def delete_rule(store: StoreDep, project: ProjectDep, rule_id: str) -> Response:
    found = q.list_rules(store, project, rule_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert rule {rule_id!r}")
    q.insert_rule(store, project, found[0], deleted=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/evaluate",
    summary="Evaluate this project's rules now",
    response_model=AlertEvaluationPublic,
    response_model_exclude_unset=True,
)
def evaluate_now(
    request: Request, store: StoreDep, project: ProjectDep, body: Annotated[EvaluateIn | None, Body()] = None
) -> dict[str, Any]:
    """Runs one evaluation pass (for cron jobs and tests) and returns the events it produced.

    Webhooks are sent in the background: the events come back undelivered, and
    ``GET /api/v1/alerts/events`` shows each delivery's outcome once known."""
    now = body.now if body and body.now else None
    if now is not None:
        try:
            now = aware(now)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return evaluate(
        store,
        now,
        project=project,
        link_base=str(request.base_url),
        deliver=request.app.state.webhooks.submit,
    )


@router.get(
    "/events",
    summary="Alert events",
    response_model=AlertEventsPublic,
    response_model_exclude_unset=True,
)
def list_events(
    store: StoreDep,
    project: ProjectDep,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["firing", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Newest first: state, rule, key (service / model / prompt) and the values that triggered it."""
    events = q.list_events(store, project, rule_id=rule_id, state=state, limit=limit)
    for e in events:
        e["ts"] = e["ts"].isoformat()
        e.pop("project", None)
    return {"data": events}
