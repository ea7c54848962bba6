"""``GET /api/v1/sessions`` (most recently active first) and ``GET /api/v1/sessions/{session_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from llmtrace.store.queries import sessions as q
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.listing import Cursor, Limit, ListingDep, page_rows, run_listing
from llmtrace_server.schemas import (
    Page,
    SessionDetailPublic,
    SessionPublic,
    TraceSummaryPublic,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1", tags=["sessions"])


@router.get("/sessions", summary="List sessions", response_model=Page[SessionPublic])
def list_sessions(
    store: StoreDep, project: ProjectDep, query: ListingDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[SessionPublic]:
    """Sessions (spans sharing ``session.id``), most recently active first, with whole-session totals.

    Filters keep the sessions with a matching span; ``since``/``until`` bound the last activity.
    """
    after = None
    if cursor:
        t, session_id = decode_cursor(cursor, 2)
        after = q.SessionKey(t, session_id)
    rows = run_listing(lambda: q.list_sessions(store, project, query, after=after, limit=limit + 1))
    page, last = page_rows(rows, limit, lambda r: [r["last_seen"], r["session_id"]])
    return Page[SessionPublic](
        data=[SessionPublic.model_validate(r) for r in page],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get(
    "/sessions/{session_id:path}",  # an id may hold "/" (team/alice/42)
    summary="Get a session",
    response_model=SessionDetailPublic,
    responses={404: {"description": "No span of this project carries this session.id"}},
)
def get_session(
    store: StoreDep,
    project: ProjectDep,
    session_id: Annotated[str, Path(min_length=1, max_length=1024)],
) -> SessionDetailPublic:
    """The session's totals and its traces, oldest first (at most 10,000)."""
    totals = q.get_session(store, project, session_id)
    if totals is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {session_id!r} not found")
    traces = q.session_traces(store, project, session_id)
    return SessionDetailPublic(
        session=SessionPublic.model_validate(totals),
        traces=[TraceSummaryPublic.model_validate(t) for t in traces],
    )
