"""``/traces``, ``/sessions``, ``/sessions/{id}`` and ``/users``: the lists of the exploration API.

Filters are the API's own (``listing_query``), read from the URL, so a filtered view is a link
to share; paging is the API's cursor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from llmtrace.store.queries import conversation
from llmtrace.store.queries import sessions as session_queries
from llmtrace.store.queries import traces as trace_queries
from llmtrace.store.queries import users as user_queries
from llmtrace.store.queries._segment import SEGMENT_COLUMNS
from llmtrace.store.queries.spans import SpanQuery
from llmtrace_server.deps import StoreDep
from llmtrace_server.listing import listing_query, page_rows, run_listing
from llmtrace_server.schemas import TimeParam, decode_cursor, encode_cursor
from llmtrace_server.ui.conversation import messages
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage
from llmtrace_server.ui.timerange import RANGES

router = APIRouter()

PAGE_SIZE = 50
FILTERS = ("service", "model", "prompt", "prompt_version", "environment", "status", "user_id", "session_id")
Cursor = Annotated[str | None, Query(max_length=4096)]
Recent = Annotated[str | None, Query(max_length=8, description="1h, 24h, 7d or 30d: since that long ago")]


_TIME: TypeAdapter[Any] = TypeAdapter(TimeParam)
MAX_FILTER_CHARS = 1024


def page_listing(request: Request) -> SpanQuery:
    """The API's ``listing_query`` over the URL's filters, where a field left empty in the filter
    form is no filter (the API would look for the empty value): 400 on a bad value."""
    given = {k: v for k, v in request.query_params.items() if v}
    if any(len(v) > MAX_FILTER_CHARS for v in given.values()):
        raise HTTPException(400, f"a filter is longer than {MAX_FILTER_CHARS} characters")
    times = {}
    for name in ("since", "until"):
        try:
            times[name] = _TIME.validate_python(given.get(name))
        except ValidationError as exc:
            raise HTTPException(
                400, f"{name}: {exc.errors()[0]['msg']} (use YYYY-MM-DDTHH:MM, UTC)"
            ) from None
    return listing_query(
        {k: given.get(k) for k in SEGMENT_COLUMNS},
        given.get("user_id"),
        given.get("session_id"),
        given.get("status"),
        given.get("kind"),
        times["since"],
        times["until"],
        given.get("q"),
    )


PageListing = Annotated[SpanQuery, Depends(page_listing)]


def _query(query: SpanQuery, recent: str | None) -> SpanQuery:
    """The page's quick range (``range=24h``) turned into ``since``."""
    if not recent:
        return query
    if recent not in RANGES:
        raise HTTPException(400, f"unknown range {recent!r}; use one of {', '.join(RANGES)}")
    return dataclasses.replace(query, since=datetime.now(UTC) - RANGES[recent])


def _cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    t, key = decode_cursor(cursor, 2)  # 400 "invalid cursor", shown as an error page
    return t, key


def _state(request: Request) -> dict[str, str]:
    """The URL's filters (without the cursor), for the form, the next-page link and clearing."""
    return {k: v for k, v in request.query_params.items() if v and k != "cursor"}


def _list_page(
    request: Request,
    store: Any,
    project: str,
    template: str,
    lister: Callable[..., list[dict[str, Any]]],
    key: Callable[[datetime, str], Any],
    order: tuple[str, str],
    query: SpanQuery,
    recent: str | None,
    cursor: str | None,
) -> HTMLResponse:
    """One page of a newest-first list: ``order`` names the row's (time, id) fields of the cursor."""
    after = _cursor(cursor)
    effective = _query(query, recent)
    rows = run_listing(
        lambda: lister(store, project, effective, after=key(*after) if after else None, limit=PAGE_SIZE + 1)
    )
    page, last = page_rows(rows, PAGE_SIZE, lambda r: [r[order[0]], r[order[1]]])
    return _list(request, template, page, last)


@router.get("/traces", response_class=HTMLResponse)
def traces_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    query: PageListing,
    range: Recent = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    return _list_page(
        request,
        store,
        project,
        "traces.html",
        trace_queries.list_traces,
        trace_queries.TraceKey,
        ("start_time", "trace_id"),
        query,
        range,
        cursor,
    )


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    query: PageListing,
    range: Recent = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    return _list_page(
        request,
        store,
        project,
        "sessions.html",
        session_queries.list_sessions,
        session_queries.SessionKey,
        ("last_seen", "session_id"),
        query,
        range,
        cursor,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    query: PageListing,
    range: Recent = None,
    cursor: Cursor = None,
) -> HTMLResponse:
    return _list_page(
        request,
        store,
        project,
        "users.html",
        user_queries.list_users,
        user_queries.UserKey,
        ("last_seen", "user_id"),
        query,
        range,
        cursor,
    )


def _list(
    request: Request, template: str, page: list[dict[str, Any]], last: list[Any] | None
) -> HTMLResponse:
    state = _state(request)
    next_url = f"{request.url.path}?{urlencode({**state, 'cursor': encode_cursor(last)})}" if last else None
    return render(
        request,
        template,
        rows=page,
        state=state,
        filters=FILTERS,
        filtered=any(k in state for k in (*FILTERS, "q", "range", "since", "until")),
        first_page=request.url.path if "cursor" in request.query_params else None,
        next_url=next_url,
        ranges=list(RANGES),
    )


@router.get("/sessions/{session_id:path}", response_class=HTMLResponse)  # an id may hold "/"
def session_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    session_id: Annotated[str, Path(min_length=1, max_length=1024)],
) -> HTMLResponse:
    """The session's traces in order, each with its LLM calls shown as turns of one conversation."""
    totals = session_queries.get_session(store, project, session_id)
    if totals is None:
        raise HTTPException(404, f"session {session_id!r} was not found in project {project!r}")
    traces = session_queries.session_traces(store, project, session_id)
    calls = conversation.llm_calls_of_traces(store, project, [t["trace_id"] for t in traces])
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        turn = {
            **call,
            "said": _last_turn(messages(call["input"], "user")),
            "answer": messages(call["output"], "assistant"),
        }
        by_trace.setdefault(call["trace_id"], []).append(turn)
    return render(request, "session.html", session=totals, traces=traces, turns=by_trace)


def _last_turn(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What was new in this call: the messages after the last assistant message (the history
    before it was shown with the earlier calls)."""
    for i in range(len(history) - 1, -1, -1):
        if history[i]["role"] == "assistant":
            return history[i + 1 :]
    return [m for m in history if m["role"] != "system"] or history
