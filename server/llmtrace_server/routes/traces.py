"""``GET /api/v1/traces/{trace_id}``: one trace as a tree of spans, with their scores."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from llmtrace.store.queries import traces as q
from llmtrace.store.queries.content import attach_event_content
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.schemas import TRACE_ID_PATTERN, ScorePublic, SpanNodePublic, TracePublic

router = APIRouter(prefix="/api/v1", tags=["traces"])


@router.get(
    "/traces/{trace_id}",
    summary="Get a trace",
    response_model=TracePublic,
    responses={404: {"description": "No such trace in this project"}},
)
def get_trace(
    store: StoreDep,
    project: ProjectDep,
    trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN, description="32 hex characters")],
) -> TracePublic:
    trace_id = trace_id.lower()
    rows = q.trace_spans(store, project, trace_id)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"trace {trace_id} not found")
    attach_event_content(store, project, rows)
    scores = [ScorePublic.model_validate(s) for s in q.trace_scores(store, project, trace_id)]
    return build_tree(trace_id, rows, scores)


def build_tree(trace_id: str, rows: list[dict[str, Any]], scores: list[ScorePublic]) -> TracePublic:
    """Nest spans under their parents; a span whose parent never arrived becomes a root."""
    by_span: dict[str, list[ScorePublic]] = defaultdict(list)
    for score in scores:
        by_span[score.span_id].append(score)
    nodes = {
        r["span_id"]: SpanNodePublic.model_validate({**r, "scores": by_span.get(r["span_id"], [])})
        for r in rows
    }
    roots: list[SpanNodePublic] = []
    for row in rows:  # oldest first, so children keep start order
        node = nodes[row["span_id"]]
        parent = nodes.get(row["parent_span_id"])
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    return TracePublic(trace_id=trace_id, span_count=len(rows), spans=roots, scores=by_span.get("", []))
