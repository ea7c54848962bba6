"""``GET /api/v1/traces`` (newest first) and ``GET /api/v1/traces/{trace_id}`` (a tree of spans)."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from llmtrace.store.queries import traces as q
from llmtrace.store.queries.content import attach_event_content
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.listing import Cursor, Limit, ListingDep, page_rows, run_listing
from llmtrace_server.schemas import (
    TRACE_ID_PATTERN,
    Page,
    ScorePublic,
    SpanNodePublic,
    TracePublic,
    TraceSummaryPublic,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1", tags=["traces"])


@router.get("/traces", summary="List traces", response_model=Page[TraceSummaryPublic])
def list_traces(
    store: StoreDep, project: ProjectDep, query: ListingDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[TraceSummaryPublic]:
    """Traces newest first (by start), one row each: root span, duration, spans, calls, tokens, cost.

    Filters keep the traces with a matching span (``model=gpt-4o``: traces with a gpt-4o call);
    ``status`` is the trace's ('error' if any span errored, else 'ok'); ``since``/``until`` bound
    its start.
    """
    after = None
    if cursor:
        t, trace_id = decode_cursor(cursor, 2)
        after = q.TraceKey(t, trace_id)
    rows = run_listing(lambda: q.list_traces(store, project, query, after=after, limit=limit + 1))
    page, last = page_rows(rows, limit, lambda r: [r["start_time"], r["trace_id"]])
    return Page[TraceSummaryPublic](
        data=[TraceSummaryPublic.model_validate(r) for r in page],
        next_cursor=encode_cursor(last) if last else None,
    )


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
