"""``/prompts``: every prompt with its versions, and ``/prompts/compare``: the regression report
between two versions (or two models) of a prompt, computed exactly as ``GET /api/v1/regressions``
and loaded after the page's form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from llmtrace.store.queries import prompts as q
from llmtrace.store.queries.regressions import Cohorts
from llmtrace_server.deps import StoreDep
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage
from llmtrace_server.ui.timerange import TimeRange, WeekRange

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
    """Traffic, cost and latency per version from the rollup at once; their quality scores
    (``/ui/prompts/quality``) load after the page."""
    rows = q.prompt_versions(store, project, tr.since, tr.until)
    prompts: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        prompts.setdefault(row["prompt"], []).append(row)
    if prompt:
        prompts = {k: v for k, v in prompts.items() if k == prompt}
    query = urlencode({**tr.query(), **({"prompt": prompt} if prompt else {})})
    return render(request, "prompts.html", tr=tr, prompts=prompts, selected=prompt, query=query)


@router.get("/ui/prompts/quality", response_class=HTMLResponse)
def prompts_quality(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: WeekRange,
    prompt: Text = None,
) -> HTMLResponse:
    """Mean of each score per prompt version, scores counted for the call they belong to."""
    scores = q.version_scores(store, project, tr.since, tr.until)
    rows = sorted((k, v) for k, v in scores.items() if not prompt or k[0] == prompt)
    names = sorted({name for _, by_name in rows for name in by_name})
    return render(request, "_prompt_quality.html", rows=rows, score_names=names)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The compare form's choices; ``cohorts`` is None until both A and B are given, and
    ``error`` says why they cannot be compared."""

    tr: TimeRange
    prompt: str | None
    dimension: str
    a: str | None
    b: str | None
    interim: bool
    cohorts: Cohorts | None
    error: str | None

    def query(self) -> str:
        return urlencode(
            {
                "prompt": self.prompt or "",
                "dimension": self.dimension,
                "a": self.a or "",
                "b": self.b or "",
                "interim": str(self.interim).lower(),
                **self.tr.query(),
            }
        )


def _comparison(
    tr: WeekRange,
    prompt: Text = None,
    dimension: Text = "prompt_version",
    a: Text = None,
    b: Text = None,
    interim: bool = False,
) -> Comparison:
    if dimension not in DIMENSIONS:
        raise HTTPException(400, f"compare by one of {', '.join(DIMENSIONS)}, not {dimension!r}")
    cohorts, error = None, None
    if a and b:
        try:
            cohorts = build_cohorts(dimension, a, b, tr.since, tr.until, None, None, None, None)
        except ValueError as exc:
            error = str(exc)
    return Comparison(tr, prompt, dimension, a, b, interim, cohorts, error)


CompareForm = Annotated[Comparison, Depends(_comparison)]


@router.get("/prompts/compare", response_class=HTMLResponse)
def compare_page(request: Request, store: StoreDep, project: ProjectPage, form: CompareForm) -> HTMLResponse:
    """The form that picks the two cohorts; the regression report of B against A
    (``/ui/prompts/compare/report``) loads after it."""
    rows = q.prompt_versions(store, project, form.tr.since, form.tr.until)
    column = "version" if form.dimension == "prompt_version" else "model"
    return render(
        request,
        "regression.html",
        tr=form.tr,
        prompt=form.prompt,
        prompts=sorted({r["prompt"] for r in rows}),
        dimension=form.dimension,
        options=sorted({r[column] for r in rows if not form.prompt or r["prompt"] == form.prompt}),
        a=form.a,
        b=form.b,
        interim=form.interim,
        error=form.error,
        query=form.query(),
    )


@router.get("/ui/prompts/compare/report", response_class=HTMLResponse)
def compare_report(
    request: Request, store: StoreDep, project: ProjectPage, form: CompareForm
) -> HTMLResponse:
    """The regression report, computed exactly as ``GET /api/v1/regressions``."""
    if form.cohorts is None:
        raise HTTPException(400, form.error or "pick two cohorts, a and b")
    filters: dict[str, str | None] = {"prompt": form.prompt or None, form.dimension: None}
    report = compute_regressions(store, project, form.cohorts, filters, 0.5, form.interim)
    return render(request, "_regression_report.html", tr=form.tr, prompt=form.prompt, report=report)
