"""``GET /api/v1/spans``: search spans, newest first, with cursor pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from llmtrace.store.queries import spans as q
from llmtrace.store.queries.content import attach_event_content
from llmtrace_server.deps import Filter, ProjectDep, SegmentDep, StoreDep
from llmtrace_server.listing import run_listing
from llmtrace_server.schemas import Page, SpanPublic, TimeParam, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", tags=["spans"])


@router.get("/spans", summary="Search spans", response_model=Page[SpanPublic])
def list_spans(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    user_id: Filter = None,
    session_id: Filter = None,
    status: Filter = None,
    kind: Filter = None,
    since: TimeParam = None,
    until: TimeParam = None,
    q_text: Annotated[
        str | None,
        Query(alias="q", max_length=1024, description="Words that input or output contain, all of them"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[SpanPublic]:
    """Spans of the caller's project, newest first. Every filter is an exact match except ``q``
    (whole words, case-insensitive, every one in the input or output)."""
    given = {
        **segment,
        "user_id": user_id,
        "session_id": session_id,
        "status": status,
        "kind": kind,
    }
    query = q.SpanQuery(
        equals={k: v for k, v in given.items() if v is not None},
        since=since,
        until=until,
        text=q_text or None,
    )
    after = None
    if cursor:
        t, trace_id, span_id = decode_cursor(cursor, 3)
        after = q.SpanKey(t, trace_id, span_id)
    # One row more than asked tells whether there is a next page.
    rows = run_listing(lambda: q.list_spans(store, project, query, after=after, limit=limit + 1))
    page = rows[:limit]
    attach_event_content(store, project, page)
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor([last["start_time"], last["trace_id"], last["span_id"]])
    return Page[SpanPublic](data=[SpanPublic.model_validate(r) for r in page], next_cursor=next_cursor)
