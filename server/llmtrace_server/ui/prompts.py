"""``/prompts``: every prompt with its versions, and ``/prompts/compare``: the regression report
between two versions (or two models) of a prompt, computed exactly as ``GET /api/v1/regressions``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from llmtrace.store.queries import prompts as q
from llmtrace_server.deps import StoreDep
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage
from llmtrace_server.ui.timerange import WeekRange

router = APIRouter()

Text = Annotated[str | None, Query(max_length=256)]
DIMENSIONS = ("prompt_version", "model")


@router.get("/prompts", response_class=HTMLResponse)
def prompts_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: WeekRange,
    prompt: Text = None,
) -> HTMLResponse:
    rows = q.prompt_versions(store, project, tr.since, tr.until)
    prompts: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        prompts.setdefault(row["prompt"], []).append(row)
    if prompt:
        prompts = {k: v for k, v in prompts.items() if k == prompt}
    score_names = sorted({name for r in rows for name in r["scores"]})
    return render(request, "prompts.html", tr=tr, prompts=prompts, score_names=score_names, selected=prompt)


@router.get("/prompts/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: WeekRange,
    prompt: Text = None,
    dimension: Text = "prompt_version",
    a: Text = None,
    b: Text = None,
    interim: bool = False,
) -> HTMLResponse:
    """The regression report of B against A; the form above it picks the two cohorts."""
    if dimension not in DIMENSIONS:
        raise HTTPException(400, f"compare by one of {', '.join(DIMENSIONS)}, not {dimension!r}")
    rows = q.prompt_versions(store, project, tr.since, tr.until)
    names = sorted({r["prompt"] for r in rows})
    column = "version" if dimension == "prompt_version" else "model"
    options = sorted({r[column] for r in rows if not prompt or r["prompt"] == prompt})
    report = None
    error = None
    if a and b:
        try:
            cohorts = build_cohorts(dimension, a, b, tr.since, tr.until, None, None, None, None)
        except ValueError as exc:
            error = str(exc)
        else:
            filters: dict[str, str | None] = {"prompt": prompt or None, dimension: None}
            report = compute_regressions(store, project, cohorts, filters, 0.5, interim)
    query = urlencode(
        {"prompt": prompt or "", "dimension": dimension, "a": a or "", "b": b or "", **tr.query()}
    )
    return render(
        request,
        "regression.html",
        tr=tr,
        prompt=prompt,
        prompts=names,
        dimension=dimension,
        options=options,
        a=a,
        b=b,
        interim=interim,
        report=report,
        error=error,
        query=query,
    )
