"""``/alerts``: rules (create, edit, delete, send a test notification), their current state and
the event history. Rules are validated by the API's own ``RuleIn`` and ``effective_params``, and
stored with the same query functions, so a rule made here is the rule the API lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from llmtrace.store.queries import alerts as q
from llmtrace_server.alerts.notify import post_webhook
from llmtrace_server.alerts.rules import COMMON, DEFAULTS, RuleIn, effective_params, shown_params
from llmtrace_server.deps import StoreDep
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import FormData, ProjectPage

router = APIRouter()

RuleId = Annotated[str, Path(max_length=64, pattern=r"^[0-9a-f]{1,64}$")]
FILTER_FIELDS = ("service", "model", "prompt", "environment")
TEXT_PARAMS = ("metric", "operator", "group_by")


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    edit: Annotated[str | None, Query(max_length=64)] = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    form: dict[str, str] = {"type": "cost_spike"}
    if edit:
        found = q.list_rules(store, project, edit)
        if not found:
            raise HTTPException(404, f"no alert rule {edit!r} in project {project!r}")
        form = rule_form(found[0])
    return _page(request, store, project, form, notice=notice)


def _page(
    request: Request,
    store: Any,
    project: str,
    form: dict[str, str],
    *,
    errors: list[str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rules = q.list_rules(store, project)
    for rule in rules:
        states = q.load_states(store, rule["id"]).values()
        rule["firing"] = sorted(s["key"] for s in states if s["state"] == "firing")
        rule["pending"] = sum(1 for s in states if s["state"] == "pending")
        rule["effective"] = shown_params(rule["type"], rule["params"])
    events = q.list_events(store, project, limit=100)
    return render(
        request,
        "alerts.html",
        status_code=status_code,
        rules=rules,
        events=events,
        form=form,
        errors=errors or [],
        notice=notice,
        defaults=DEFAULTS,
        common=COMMON,
        metrics=list(q.THRESHOLD_METRICS),
        groupable=list(q.GROUPABLE),
        filter_fields=FILTER_FIELDS,
    )


def rule_form(rule: dict[str, Any]) -> dict[str, str]:
    """A stored rule as the form's field values."""
    form = {
        "id": rule["id"],
        "name": rule["name"],
        "type": rule["type"],
        "webhook_url": rule.get("webhook_url") or "",
    }
    form.update({f"filter_{k}": v for k, v in rule["filters"].items()})
    form.update({f"param_{k}": "" if v is None else str(v) for k, v in rule["params"].items()})
    return form


def parse_rule(form: dict[str, str]) -> RuleIn:
    """The form as a ``RuleIn``; ValueError with every problem found, in words."""
    rule_type = form.get("type", "")
    allowed = {**COMMON, **DEFAULTS.get(rule_type, {})}
    params: dict[str, Any] = {}
    problems = []
    for key, raw in form.items():
        if not key.startswith("param_") or not raw:
            continue
        name = key.removeprefix("param_")
        if name not in allowed:
            continue  # a field of another rule type (the browser sends them without JavaScript)
        if name in TEXT_PARAMS:
            params[name] = raw
            continue
        try:
            number = float(raw)
        except ValueError:
            problems.append(f"{name.replace('_', ' ')} must be a number, not {raw!r}")
            continue
        params[name] = int(number) if number.is_integer() and isinstance(allowed[name], int) else number
    filters = {k: form.get(f"filter_{k}", "") for k in FILTER_FIELDS if form.get(f"filter_{k}")}
    try:
        rule = RuleIn(
            name=form.get("name", ""),
            type=rule_type,  # type: ignore[arg-type]
            filters=filters,
            params=params,
            webhook_url=form.get("webhook_url") or None,
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "rule"
            problems.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
        raise ValueError(problems) from None
    try:
        effective_params(rule.type, rule.params)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError(problems)
    return rule


@router.post("/alerts/rules", response_class=HTMLResponse)
def save_rule(request: Request, store: StoreDep, project: ProjectPage, form: FormData) -> Response:
    """Create a rule, or replace the one named by the form's ``id`` (edit)."""
    try:
        rule = parse_rule(form)
    except ValueError as exc:
        return _page(request, store, project, form, errors=list(exc.args[0]), status_code=422)
    rule_id = form.get("id", "")
    created = datetime.now(UTC)
    if rule_id:
        found = q.list_rules(store, project, rule_id)
        if not found:
            raise HTTPException(404, f"no alert rule {rule_id!r} in project {project!r}")
        created = found[0]["created_at"]
    row = {**rule.model_dump(), "id": rule_id or uuid.uuid4().hex[:16], "created_at": created}
    q.insert_rule(store, project, row)
    verb = "updated" if rule_id else "created"
    return RedirectResponse("/alerts?" + urlencode({"notice": f"rule {rule.name!r} {verb}"}), status_code=303)


@router.post("/alerts/rules/{rule_id}/delete")
def delete_rule(store: StoreDep, project: ProjectPage, form: FormData, rule_id: RuleId) -> Response:
    found = q.list_rules(store, project, rule_id)
    if not found:
        raise HTTPException(404, f"no alert rule {rule_id!r} in project {project!r}")
    q.insert_rule(store, project, found[0], deleted=True)
    return RedirectResponse(
        "/alerts?" + urlencode({"notice": f"rule {found[0]['name']!r} deleted"}), status_code=303
    )


@router.post("/alerts/rules/{rule_id}/test")
async def test_rule(
    request: Request, store: StoreDep, project: ProjectPage, form: FormData, rule_id: RuleId
) -> Response:
    """POST a clearly marked test payload to the rule's webhook, once, and say what happened."""
    found = await run_in_threadpool(q.list_rules, store, project, rule_id)
    if not found:
        raise HTTPException(404, f"no alert rule {rule_id!r} in project {project!r}")
    rule = found[0]
    if not rule.get("webhook_url"):
        notice = f"rule {rule['name']!r} has no webhook URL: events are only listed here and in the API"
    else:
        payload = {
            "test": True,
            "text": f"[TEST] llmtrace alert rule {rule['name']!r}: this is a test notification",
            "rule": {"id": rule["id"], "name": rule["name"], "type": rule["type"]},
            "link": str(request.base_url) + "alerts",
        }
        # The same address policy as real deliveries: a test send is no way around it.
        outcome = await run_in_threadpool(
            post_webhook, rule["webhook_url"], payload, policy=request.app.state.webhook_policy, attempts=1
        )
        result = "delivered" if outcome.delivered else "failed: " + outcome.error
        notice = f"test notification {result} ({rule['webhook_url']})"
    return RedirectResponse("/alerts?" + urlencode({"notice": notice}), status_code=303)
