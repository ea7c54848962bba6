"""Newest-first pages of traces, sessions or users, read from ``trace_summaries``.

``trace_summaries`` holds one row per (trace, hour of span start), sorted by project then hour, so
the newest rows of a project are a short range of its primary key. A page is found by reading a
window of the latest hours and widening it (x8) until it holds a full page or reaches the oldest
data: a typical first page reads two hours of summaries, whatever the size of the store. A session
or trace id filter reads the whole range at once, through bloom-filter indexes; a user id filter
uses the windows too (a user's thousands of traces would otherwise mean reading most of the table).

The window is exact under one assumption, :data:`SLACK_HOURS`: the spans of one trace start
within that many hours of each other (and no span runs longer). Rows that far before the window
are read too, so a trace's start and a session's last activity are computed from all their rows.

Filters are row conditions: ``model=X`` keeps the traces (sessions, users) with at least one call
to X in the window; ``status=error`` those with an error and ``status=ok`` those without; ``q``
those with a span whose input or output contains the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrace.store.queries.spans import (
    MAX_LIMIT,
    NEWEST_FIRST,
    SpanQuery,
    search_words,
    text_condition,
    utc,
)

SLACK_HOURS = 6
FIRST_WINDOW_HOURS = 2
GROWTH = 8
# Trace statuses: a trace is 'error' if any span errored, else 'ok'.
TRACE_STATUSES = ("ok", "error")

# API filter name -> trace_summaries column holding the set of values seen in the row's spans.
ARRAY_FILTERS: Mapping[str, str] = {
    "service": "services",
    "model": "models",
    "provider": "providers",
    "prompt": "prompt_names",
    "prompt_version": "prompt_versions",
    "environment": "environments",
    "kind": "kinds",
}
# API filter name -> trace_summaries column holding one value per row.
SCALAR_FILTERS: Mapping[str, str] = {"user_id": "user", "session_id": "session", "trace_id": "trace_id"}
SUMMARY_FILTERS = (*ARRAY_FILTERS, *SCALAR_FILTERS, "status")
ONE_SHOT_FILTERS = frozenset({"session_id", "trace_id"})

EPOCH = datetime(1970, 1, 2)


@dataclass(frozen=True, slots=True)
class Ordering:
    """What one listing pages over: ``key`` groups rows, ``time`` (an aggregate) orders the groups.

    ``bounded`` says whether rows later than the page may be left unread: true when ``time`` is
    the earliest time of the group (a trace's start), false when it is the latest (last activity).
    """

    key: str
    time: str
    bounded: bool


TRACE_ORDER = Ordering(key="trace_id", time="min(first_start)", bounded=True)
SESSION_ORDER = Ordering(key="session", time="max(session_end)", bounded=False)
USER_ORDER = Ordering(key="user", time="max(user_end)", bounded=False)


def check_filters(query: SpanQuery) -> None:
    """ValueError naming the problem if ``query`` asks for something summaries cannot answer."""
    for name, value in query.equals.items():
        if name not in SUMMARY_FILTERS:
            raise ValueError(f"unknown filter {name!r}; use one of {', '.join(SUMMARY_FILTERS)}")
        if name == "status" and value not in TRACE_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TRACE_STATUSES)} here, not {value!r}")
    if query.text:
        search_words(query.text)


def _row_filters(
    project: str, query: SpanQuery, params: dict[str, Any], *, text_spans: str, text_ids: list[str] | None
) -> list[str]:
    """Conditions on single summary rows (the ``status=ok`` condition is on groups: see HAVING).

    ``text_spans`` bounds the spans a ``q=`` search reads (a condition on ``start_time``);
    ``text_ids``, when given, are the trace ids it found already."""
    conditions = []
    for name, value in sorted(query.equals.items()):
        params[f"f_{name}"] = value
        if name in ARRAY_FILTERS:
            conditions.append(f"has({ARRAY_FILTERS[name]}, {{f_{name}:String}})")
        elif name in SCALAR_FILTERS:
            conditions.append(f"{SCALAR_FILTERS[name]} = {{f_{name}:String}}")
        elif value == "error":
            conditions.append("errors > 0")
    if query.text and text_ids is not None:
        params["text_ids"] = text_ids
        conditions.append("trace_id IN {text_ids:Array(String)}")
    elif query.text:
        params["project"] = project
        conditions.append(
            "trace_id IN (SELECT trace_id FROM {db:Identifier}.spans WHERE project = {project:String}"
            f" AND {text_spans} AND {text_condition(query.text, params)})"
        )
    return conditions


def _text_spans(order: Ordering) -> str:
    """The spans a text search reads in one window: the search reads content, by far the largest
    columns, so it reads as few hours as the answer allows.

    For a listing ordered by start (traces), a group on the page starts at or after ``lo`` and
    before the window's top, so each of its spans - a match among them - starts in [lo, rows_to]
    (:data:`SLACK_HOURS`): four times fewer spans than the summary rows read (the window's hours
    plus the slack before it) for a first page. For the other orderings (last activity), a group
    ending in the window may have matched hours before it: every span since ``rows_from``."""
    if not order.bounded:
        return "start_time >= {rows_from:DateTime('UTC')}"
    return (
        "toStartOfHour(start_time) >= toStartOfHour({lo:DateTime64(6, 'UTC')})"
        " AND start_time >= {lo:DateTime64(6, 'UTC')}"
        " AND toStartOfHour(start_time) <= {rows_to:DateTime('UTC')}"
    )


# Listing key -> the spans_by_id column holding it.
_BY_ID_COLUMNS = {"trace_id": "trace_id", "session": "session_id", "user": "user_id"}


def _by_id_matching(query: SpanQuery, order: Ordering, params: dict[str, Any], *, bounded: bool) -> str:
    """The keys with a span of the user or session the query names, read from ``spans_by_id`` (a
    user's key range, a session's granules by its bloom filter: migration 0150) instead of the
    summaries' bloom filters; "" when the query has another filter (those are decided on summary
    rows). Spans in the window's hours only."""
    if query.text or not query.equals or set(query.equals) - {"user_id", "session_id"}:
        return ""
    column = _BY_ID_COLUMNS[order.key]
    ids = "".join(f" AND {name} = {{f_{name}:String}}" for name in sorted(query.equals))
    sql = (
        f"SELECT DISTINCT {column} FROM {{db:Identifier}}.spans_by_id WHERE project = {{project:String}}{ids}"
        " AND start_time >= {rows_from:DateTime('UTC')}"
    )
    if bounded:
        sql += " AND start_time < {rows_to:DateTime('UTC')} + INTERVAL 1 HOUR"
    return sql + (f" AND {column} != ''" if column != "trace_id" else "")


def project_hours(store: Any, project: str) -> tuple[datetime, datetime] | None:
    """(first, last) hour with spans of ``project`` (naive UTC), or None for an empty project.

    Each end is the first row of the project's key range read in order (ascending, descending):
    two granules, where min/max would read every row of the project.
    """
    ends = "SELECT hour FROM {db:Identifier}.trace_summaries WHERE project = {project:String} ORDER BY hour"
    rows = store.client.query(
        f"SELECT 0, hour FROM ({ends} LIMIT 1) UNION ALL SELECT 1, hour FROM ({ends} DESC LIMIT 1)",
        parameters={"db": store.database, "project": project},
    ).result_rows
    if not rows:
        return None
    found = dict(rows)
    return utc(found[0]), utc(found[1])


def newest_groups(
    store: Any,
    project: str,
    query: SpanQuery,
    order: Ordering,
    *,
    columns: str = "",
    after: tuple[datetime, str] | None = None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` groups ``(key, time, *columns)`` newest first, strictly after ``after``.

    ``columns`` are extra aggregates over the group's rows (read with the same window).
    """
    check_filters(query)
    hours = project_hours(store, project)
    if hours is None:
        return []
    first_hour, last_hour = hours
    top = last_hour + timedelta(hours=1)
    bounds = [b for b in (query.until, after[0] if after else None) if b is not None]
    if bounds:
        top = min(top, utc(min(bounds)))
    floor = max(utc(query.since), first_hour) if query.since else first_hour
    # A session or trace matches few rows anywhere in time (bloom-filter indexes find them): read all
    # at once. A user may have thousands of traces over months: windows, like the unfiltered list.
    few = any(name in ONE_SHOT_FILTERS for name in query.equals)
    width = top - floor if few else timedelta(hours=FIRST_WINDOW_HOURS)
    while True:
        lo = max(top - width, floor)
        rows = _window(store, project, query, order, columns, after, limit, lo, top)
        if len(rows) >= limit or lo <= floor:
            return rows
        width *= GROWTH


# A text search first takes this many of the newest matching spans per row of the page.
NEWEST_MATCHES_PER_ROW = 4


def _window(
    store: Any,
    project: str,
    query: SpanQuery,
    order: Ordering,
    columns: str,
    after: tuple[datetime, str] | None,
    limit: int,
    lo: datetime,
    top: datetime,
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` groups of the window [lo, top), newest first.

    A text search on traces first reads the window's newest matching spans, newest hour first,
    and stops after :data:`NEWEST_MATCHES_PER_ROW` per row of the page: a common word reads the
    content of the newest hour instead of the window's. Every trace that starts after the last
    of them and matches is among their traces, so when those fill the page, it is the page; else
    (a rare word, or matches crowded into a few traces) the whole window is searched."""
    if not (query.text and order.bounded):
        return _window_rows(store, project, query, order, columns, after, limit, lo, top, None)
    ids, floor = _newest_matches(store, project, query.text, lo, top, NEWEST_MATCHES_PER_ROW * limit)
    if not ids:
        return []
    rows = _window_rows(store, project, query, order, columns, after, limit, lo, top, (ids, floor))
    if floor is None or len(rows) >= limit:
        return rows
    return _window_rows(store, project, query, order, columns, after, limit, lo, top, None)


def _window_params(store: Any, project: str, lo: datetime, top: datetime) -> dict[str, Any]:
    slack = timedelta(hours=SLACK_HOURS)
    return {
        "db": store.database,
        "project": project,
        "rows_from": max(lo - slack, EPOCH).replace(minute=0, second=0, microsecond=0),
        "rows_to": top + slack,
        "lo": lo if lo > EPOCH else EPOCH,
    }


def _newest_matches(
    store: Any, project: str, text: str, lo: datetime, top: datetime, cap: int
) -> tuple[list[str], datetime | None]:
    """(trace ids of the ``cap`` newest spans of the window matching ``text``, the start of the
    last of them when there are ``cap``, else None: then they are all the window's matches)."""
    params = _window_params(store, project, lo, top)
    params["cap"] = cap
    rows = store.client.query(
        "SELECT trace_id, start_time FROM {db:Identifier}.spans WHERE project = {project:String}"
        f" AND {_text_spans(TRACE_ORDER)} AND {text_condition(text, params)}"
        f" ORDER BY {NEWEST_FIRST} LIMIT {{cap:UInt32}}",
        parameters=params,
    ).result_rows
    floor = utc(rows[-1][1]) if len(rows) >= cap else None
    return sorted({r[0] for r in rows}), floor


def _window_rows(
    store: Any,
    project: str,
    query: SpanQuery,
    order: Ordering,
    columns: str,
    after: tuple[datetime, str] | None,
    limit: int,
    lo: datetime,
    top: datetime,
    text_found: tuple[list[str], datetime | None] | None,
) -> list[tuple[Any, ...]]:
    """The window's page; ``text_found`` (from :func:`_newest_matches`) stands in for the text
    search, and its floor, if any, bounds the page's starts (strictly after it)."""
    params = _window_params(store, project, lo, top)
    params["limit"] = limit
    window = "project = {project:String} AND hour >= {rows_from:DateTime('UTC')}"
    if order.bounded:
        window += " AND hour <= {rows_to:DateTime('UTC')}"
    if order.key != "trace_id":
        window += f" AND {order.key} != ''"
    rows_window = window
    row_filters = _row_filters(
        project, query, params, text_spans=_text_spans(order), text_ids=text_found[0] if text_found else None
    )
    if row_filters:
        matching = _by_id_matching(query, order, params, bounded=order.bounded) or (
            f"SELECT DISTINCT {order.key} FROM {{db:Identifier}}.trace_summaries"
            f" WHERE {window} AND {' AND '.join(row_filters)}"
        )
        if any(name in SCALAR_FILTERS for name in query.equals):
            # Few matches: bound as a constant set, so the key's bloom-filter index skips granules.
            found = [r[0] for r in store.client.query(matching, parameters=params).result_rows]
            if not found:
                return []
            params["matching"] = found
            window += f" AND {order.key} IN {{matching:Array(String)}}"
        else:
            window += f" AND {order.key} IN ({matching})"
    having = ["g_time >= {lo:DateTime64(6, 'UTC')}"]
    if text_found and text_found[1] is not None:
        having.append("g_time > {text_floor:DateTime64(6, 'UTC')}")
        params["text_floor"] = text_found[1]
    if query.since is not None:
        having.append("g_time >= {since:DateTime64(6, 'UTC')}")
        params["since"] = utc(query.since)
    if query.until is not None:
        having.append("g_time < {until:DateTime64(6, 'UTC')}")
        params["until"] = utc(query.until)
    if after is not None:
        having.append("(g_time, g_key) < ({c_time:DateTime64(6, 'UTC')}, {c_key:String})")
        params.update(c_time=utc(after[0]), c_key=after[1])
    if query.equals.get("status") == "ok":
        having.append("sum(errors) = 0")
    sql = (
        f"SELECT {order.key} AS g_key, {order.time} AS g_time"
        f" FROM {{db:Identifier}}.trace_summaries WHERE {window}"
        f" GROUP BY g_key HAVING {' AND '.join(having)}"
        " ORDER BY g_time DESC, g_key DESC LIMIT {limit:UInt32}"
    )
    keys = list(store.client.query(sql, parameters=params).result_rows)
    if not columns or not keys:
        return keys
    # The page's aggregates, over the same rows of the window, for its keys only: computing them
    # for every group of the window (a 10M-span store's 8 hours hold ~55k traces) to keep 50
    # cost three times the whole choice of the page. The key's bloom filter finds their rows;
    # ordered by start, a group has no row before the hour of the page's oldest start.
    params["page"] = [k[0] for k in keys]
    if order.bounded:
        params["page_from"] = min(k[1] for k in keys)
        rows_window += " AND hour >= toStartOfHour({page_from:DateTime64(6, 'UTC')})"
    sql = (
        f"SELECT {order.key} AS g_key, {order.time} AS g_time, {columns}"
        f" FROM {{db:Identifier}}.trace_summaries WHERE {rows_window} AND {order.key} IN {{page:Array(String)}}"
        " GROUP BY g_key ORDER BY g_time DESC, g_key DESC"
    )
    return list(store.client.query(sql, parameters=params).result_rows)


def as_utc(value: datetime) -> datetime:
    """Store times come back naive or in UTC; the API returns them timezone-aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The totals every per-id summary table keeps (session_summaries, user_summaries), as listed.
SUM_FIELDS = ("spans", "llm_calls", "errors", "input_tokens", "output_tokens", "cost_usd")
_SUMS = "sum(spans), sum(llm_calls), sum(errors), sum(in_tokens), sum(out_tokens), sum(cost)"
Totals = Callable[[Any, str, list[str]], dict[str, dict[str, Any]]]


def newest_with_totals(
    store: Any,
    project: str,
    query: SpanQuery,
    order: Ordering,
    totals: Totals,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of sessions or users: which ones from :func:`newest_groups`, their rows from
    ``totals`` (``{id: row}`` for a list of ids), in the page's order."""
    keys = newest_groups(store, project, query, order, after=after, limit=max(1, min(limit, MAX_LIMIT + 1)))
    found = totals(store, project, [k[0] for k in keys])
    return [found[k[0]] for k in keys if k[0] in found]


def id_totals(
    store: Any, project: str, table: str, key: str, leading: Mapping[str, str], ids: list[str]
) -> dict[str, dict[str, Any]]:
    """``{id: row}`` over the whole life of each of ``ids`` in ``table`` (sorted by ``key``, one
    primary-key lookup): ``key``, the ``leading`` aggregates (name -> SQL), then :data:`SUM_FIELDS`.
    ``first_seen`` / ``last_seen`` come back timezone-aware, the cost as a float."""
    if not ids:
        return {}
    names = (key, *leading, *SUM_FIELDS)
    sql = (
        f"SELECT {key}, {', '.join(leading.values())}, {_SUMS} FROM {{db:Identifier}}.{table}"
        f" WHERE project = {{project:String}} AND {key} IN {{ids:Array(String)}} GROUP BY {key}"
    )
    params = {"db": store.database, "project": project, "ids": ids}
    out = {}
    for row in store.client.query(sql, parameters=params).result_rows:
        item = dict(zip(names, row, strict=True))
        item.update(
            first_seen=as_utc(item["first_seen"]),
            last_seen=as_utc(item["last_seen"]),
            cost_usd=float(item["cost_usd"]),
        )
        out[item[key]] = item
    return out
