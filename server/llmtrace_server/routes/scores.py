"""``POST /api/v1/scores`` and ``GET /api/v1/scores``: quality signals on traces and spans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from llmtrace.store.queries import scores as q
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.schemas import (
    SPAN_ID_PATTERN,
    TRACE_ID_PATTERN,
    Page,
    ScorePublic,
    ScoresAcceptedPublic,
    ScoresIn,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/api/v1", tags=["scores"])


@router.post("/scores", summary="Record scores", response_model=ScoresAcceptedPublic)
async def create_scores(body: ScoresIn, store: StoreDep, project: ProjectDep) -> ScoresAcceptedPublic:
    """Store scores at their ``timestamp`` (default: now); sending a score again (same name, trace,
    span and source) replaces its value, the later timestamp winning."""
    now = datetime.now(UTC)
    rows = [q.score_row(project, s.model_dump(), s.timestamp or now) for s in body.scores]
    await run_in_threadpool(store.insert_scores, rows)
    return ScoresAcceptedPublic(accepted=len(rows))


@router.get("/scores", summary="List scores", response_model=Page[ScorePublic])
def list_scores(
    store: StoreDep,
    project: ProjectDep,
    trace_id: Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)] = None,
    span_id: Annotated[str | None, Query(pattern=SPAN_ID_PATTERN)] = None,
    name: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[ScorePublic]:
    """Current scores of the caller's project, newest first."""
    after = q.ScoreKey(*decode_cursor(cursor, 5)) if cursor else None
    rows = q.list_scores(
        store,
        project,
        trace_id=trace_id.lower() if trace_id else None,
        span_id=span_id.lower() if span_id else None,
        name=name,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor([last[k] for k in ("timestamp", "name", "trace_id", "span_id", "source")])
    return Page[ScorePublic](data=[ScorePublic.model_validate(r) for r in page], next_cursor=next_cursor)
