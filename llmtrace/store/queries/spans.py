"""List spans newest first, filtered by the columns users search by, with keyset pagination."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llmtrace.store.queries._segment import SEGMENT_COLUMNS
from llmtrace.store.rows import SPAN_COLUMNS

# What a span read returns: the inserted columns plus the two the store computes.
SPAN_FIELDS: tuple[str, ...] = (*SPAN_COLUMNS, "model", "ingested_at")

# API filter name -> `spans` column (equality filters). The only column names user input selects.
FILTER_COLUMNS: Mapping[str, str] = {
    **SEGMENT_COLUMNS,
    **{name: name for name in ("user_id", "session_id", "status", "kind", "trace_id")},
}

# Filters whose bloom-filter indexes leave few granules to read: one query is cheapest.
SELECTIVE_FILTERS = frozenset({"user_id", "session_id", "trace_id"})

MAX_LIMIT = 1000  # largest page; a query may fetch one row more to see whether another page follows


@dataclass(frozen=True, slots=True)
class SpanQuery:
    """Filters of a span listing; ``equals`` keys come from :data:`FILTER_COLUMNS`."""

    equals: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # case-insensitive substring of input or output


@dataclass(frozen=True, slots=True)
class SpanKey:
    """Position of a span in newest-first order: the page after it starts below this key."""

    start_time: datetime
    trace_id: str
    span_id: str


def utc(value: datetime) -> datetime:
    """Bind times as naive UTC: a naive datetime is taken to be UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def where_clause(project: str, query: SpanQuery, params: dict[str, Any]) -> str:
    """SQL conditions for ``query`` (adds the bound values to ``params``)."""
    conditions = ["project = {project:String}"]
    params["project"] = project
    for name, value in sorted(query.equals.items()):
        column = FILTER_COLUMNS[name]  # KeyError = a programming error, never user input
        conditions.append(f"{column} = {{f_{name}:String}}")
        params[f"f_{name}"] = value
    if query.since is not None:
        conditions.append("start_time >= {since:DateTime64(6, 'UTC')}")
        params["since"] = utc(query.since)
    if query.until is not None:
        conditions.append("start_time < {until:DateTime64(6, 'UTC')}")
        params["until"] = utc(query.until)
    if query.text:
        conditions.append(text_condition(query.text, params))
    return " AND ".join(conditions)


def text_condition(text: str, params: dict[str, Any]) -> str:
    """The span condition "input or output contains ``text``" (case-insensitive); binds ``text``."""
    params["text"] = text
    return (
        "(positionCaseInsensitiveUTF8(input, {text:String}) > 0"
        " OR positionCaseInsensitiveUTF8(output, {text:String}) > 0)"
    )


def list_spans(
    store: Any, project: str, query: SpanQuery, *, after: SpanKey | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to ``limit`` spans of ``project`` matching ``query``, newest first, strictly after ``after``.

    A span stored twice (one span re-sent in two different batches) is returned once.

    Two reads, so a page never decompresses more than its own rows' content: the page's keys
    (the newest ``limit`` times first, then the ids of just those rows), then the full rows of
    those keys (a bloom-filter lookup by trace id). Sorting every matching row with its ~2 KB of
    input and output, as one query would, costs seconds at a million spans. Id filters and text
    search keep one query (see :func:`_one_read`).
    """
    limit = max(1, min(limit, MAX_LIMIT + 1))
    if query.text or any(name in SELECTIVE_FILTERS for name in query.equals):
        return _one_read(store, project, query, after, limit)
    keys = page_keys(store, project, query, after, limit)
    return spans_by_key(store, project, keys)


def _one_read(
    store: Any, project: str, query: SpanQuery, after: SpanKey | None, limit: int
) -> list[dict[str, Any]]:
    """The page in one query: for id filters (their bloom-filter indexes leave a few granules, each
    read once) and text search (which reads all content anyway; two reads would scan it twice)."""
    params: dict[str, Any] = {"db": store.database, "limit": limit}
    where = where_clause(project, query, params)
    if after is not None:
        where += (
            " AND (start_time, trace_id, span_id) <"
            " ({k_time:DateTime64(6, 'UTC')}, {k_trace:String}, {k_span:String})"
        )
        params.update(k_time=utc(after.start_time), k_trace=after.trace_id, k_span=after.span_id)
    sql = (
        f"SELECT {', '.join(SPAN_FIELDS)} FROM {{db:Identifier}}.spans WHERE {where}"
        " ORDER BY start_time DESC, trace_id DESC, span_id DESC"
        " LIMIT 1 BY trace_id, span_id LIMIT {limit:UInt32}"
    )
    result = store.client.query(sql, parameters=params)
    return [dict(zip(SPAN_FIELDS, row, strict=True)) for row in result.result_rows]


def page_keys(
    store: Any, project: str, query: SpanQuery, after: SpanKey | None, limit: int
) -> list[tuple[datetime, str, str]]:
    """The keys (start_time, trace_id, span_id) of one page, newest first, each once."""
    fetch = limit
    while True:
        params: dict[str, Any] = {"db": store.database, "k": fetch}
        where = where_clause(project, query, params)
        older = after_key = ""
        if after is not None:
            params.update(k_time=utc(after.start_time), k_trace=after.trace_id, k_span=after.span_id)
            older = " AND start_time < {k_time:DateTime64(6, 'UTC')}"
            after_key = (
                " AND (start_time, trace_id, span_id) <"
                " ({k_time:DateTime64(6, 'UTC')}, {k_trace:String}, {k_span:String})"
            )
        # The k-th newest time (strictly before the cursor) reads one column; only rows at or after
        # it, and the cursor's ties, are read with their ids: at least k rows if k remain.
        sql = (
            "SELECT start_time, trace_id, span_id FROM {db:Identifier}.spans"
            f" WHERE {where}{after_key} AND start_time >= (SELECT min(t) FROM (SELECT start_time AS t"
            f" FROM {{db:Identifier}}.spans WHERE {where}{older} ORDER BY t DESC LIMIT {{k:UInt32}}))"
            " ORDER BY start_time DESC, trace_id DESC, span_id DESC LIMIT {k:UInt32}"
        )
        rows = store.client.query(sql, parameters=params).result_rows
        keys = list(dict.fromkeys((utc(t), trace_id, span_id) for t, trace_id, span_id in rows))
        # Duplicates (a span stored twice) or ties at the cursor can leave the page short: read more.
        if len(keys) >= limit or len(rows) < fetch:
            return keys[:limit]
        fetch *= 4


def spans_by_key(store: Any, project: str, keys: list[tuple[datetime, str, str]]) -> list[dict[str, Any]]:
    """The full rows of ``keys``, in their order (each once)."""
    if not keys:
        return []
    params = {
        "db": store.database,
        "project": project,
        "traces": sorted({k[1] for k in keys}),
        "spans": sorted({k[2] for k in keys}),
        "first": min(k[0] for k in keys),
        "last": max(k[0] for k in keys),
    }
    sql = (
        f"SELECT {', '.join(SPAN_FIELDS)} FROM {{db:Identifier}}.spans"
        " WHERE project = {project:String} AND trace_id IN {traces:Array(String)}"
        " AND span_id IN {spans:Array(String)}"
        " AND start_time >= {first:DateTime64(6, 'UTC')} AND start_time <= {last:DateTime64(6, 'UTC')}"
        " LIMIT 1 BY trace_id, span_id"
    )
    result = store.client.query(sql, parameters=params)
    found = {}
    for row in result.result_rows:
        item = dict(zip(SPAN_FIELDS, row, strict=True))
        found[(item["trace_id"], item["span_id"])] = item
    return [found[(k[1], k[2])] for k in keys if (k[1], k[2]) in found]


def recent_span_keys(store: Any, seconds: int, limit: int) -> list[tuple[str, str, str]]:
    """(project, trace_id, span_id) of spans ingested in the last ``seconds``, newest first.

    The server rebuilds its duplicate filter from these after a restart, so an exporter's retry of
    a batch acknowledged just before a crash is still recognised.
    """
    sql = (
        "SELECT project, trace_id, span_id FROM {db:Identifier}.spans"
        " WHERE ingested_at >= now64(3) - toIntervalSecond({seconds:UInt32})"
        " ORDER BY ingested_at DESC LIMIT {limit:UInt32}"
    )
    params = {"db": store.database, "seconds": seconds, "limit": limit}
    return [tuple(row) for row in store.client.query(sql, parameters=params).result_rows]  # type: ignore[misc]


def stored_span_keys(
    store: Any, span_ids: list[str], start: datetime, end: datetime
) -> set[tuple[str, str, str]]:
    """(project, trace_id, span_id) of the stored spans among ``span_ids`` that start in [start, end].

    The span writer asks after an INSERT it could not confirm: which of the block's spans did
    reach the store, so that the retry neither writes them twice nor reports them as lost. The ids
    go in chunks, so that no query outgrows a ClickHouse server's ``max_query_size``.
    """
    sql = (
        "SELECT project, trace_id, span_id FROM {db:Identifier}.spans"
        " WHERE start_time BETWEEN {start:DateTime64(6, 'UTC')} AND {end:DateTime64(6, 'UTC')}"
        " AND span_id IN {ids:Array(String)}"
    )
    found: set[tuple[str, str, str]] = set()
    for first in range(0, len(span_ids), _KEYS_PER_QUERY):
        params = {
            "db": store.database,
            "start": start,
            "end": end,
            "ids": span_ids[first : first + _KEYS_PER_QUERY],
        }
        found.update(tuple(row) for row in store.client.query(sql, parameters=params).result_rows)
    return found


_KEYS_PER_QUERY = 4096  # ~80 KB of ids per query
