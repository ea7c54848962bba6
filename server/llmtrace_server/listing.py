"""What the trace, session and user lists share: their filters, as a dependency, and 400s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, status

from llmtrace.store.queries.spans import MAX_LIMIT, SpanQuery
from llmtrace_server.deps import Filter, SegmentDep
from llmtrace_server.schemas import TimeParam

T = TypeVar("T")


def listing_query(
    segment: SegmentDep,
    user_id: Filter = None,
    session_id: Filter = None,
    status: Annotated[
        str | None, Query(max_length=16, description="'error': with an errored span; 'ok': without")
    ] = None,
    kind: Filter = None,
    since: TimeParam = None,
    until: TimeParam = None,
    q_text: Annotated[
        str | None,
        Query(alias="q", max_length=1024, description="Words that a span's input or output contains"),
    ] = None,
) -> SpanQuery:
    """The filters of ``/api/v1/spans``; each keeps the traces (sessions, users) with a matching span."""
    given = {**segment, "user_id": user_id, "session_id": session_id, "status": status, "kind": kind}
    return SpanQuery(
        equals={k: v for k, v in given.items() if v is not None},
        since=since,
        until=until,
        text=q_text or None,
    )


ListingDep = Annotated[SpanQuery, Depends(listing_query)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=4096)]


def run_listing(fetch: Callable[[], list[T]]) -> list[T]:
    """Call a list query; a filter it cannot answer (ValueError) is the client's 400."""
    try:
        return fetch()
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


def page_rows(
    rows: list[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], list[Any]]
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """(rows of this page, cursor parts of its last row or None) from ``limit + 1`` fetched rows."""
    page = rows[:limit]
    return page, key(page[-1]) if len(rows) > limit else None
