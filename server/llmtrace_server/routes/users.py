"""``GET /api/v1/users``: users (``user.id``), most recently active first, with their totals."""

from __future__ import annotations

from fastapi import APIRouter

from llmtrace.store.queries import users as q
from llmtrace_server.deps import ProjectDep, StoreDep
from llmtrace_server.listing import Cursor, Limit, ListingDep, page_rows, run_listing
from llmtrace_server.schemas import Page, UserPublic, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/users", summary="List users", response_model=Page[UserPublic])
def list_users(
    store: StoreDep, project: ProjectDep, query: ListingDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[UserPublic]:
    """Users, most recently active first, with totals over their whole history.

    Filters keep the users with a matching span; ``since``/``until`` bound the last activity.
    """
    after = None
    if cursor:
        t, user_id = decode_cursor(cursor, 2)
        after = q.UserKey(t, user_id)
    rows = run_listing(lambda: q.list_users(store, project, query, after=after, limit=limit + 1))
    page, last = page_rows(rows, limit, lambda r: [r["last_seen"], r["user_id"]])
    return Page[UserPublic](
        data=[UserPublic.model_validate(r) for r in page],
        next_cursor=encode_cursor(last) if last else None,
    )
