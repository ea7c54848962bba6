"""List spans newest first, filtered by the columns users search by, with keyset pagination."""

from __future__ import annotations

import json
import re
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

MAX_LIMIT = 1000  # largest page; a query may fetch one row more to see whether another page follows


@dataclass(frozen=True, slots=True)
class SpanQuery:
    """Filters of a span listing; ``equals`` keys come from :data:`FILTER_COLUMNS`."""

    equals: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # words that input or output contain (see :func:`search_words`)


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


# What ClickHouse's token functions (hasToken, tokenbf_v1) take for a word: a run of ASCII letters
# and digits, and of any non-ASCII characters; everything else separates words.
_WORD = re.compile(r"[0-9A-Za-z\u0080-\U0010ffff]+")
MAX_SEARCH_WORDS = 16
# The expression the `idx_content_tokens` skip index is built on (migration 0060): a condition
# must use it letter for letter for the index to skip granules.
_SEARCHED = "lower(concat(input, ' ', output))"


def search_words(text: str) -> list[str]:
    """The words of a ``q=`` search, lower-cased (ASCII letters only, as ClickHouse's ``lower``).

    A span matches when its input or output contains every word as a whole word: ``q=Walrus
    tusk`` finds "the walrus's tusk" but not "walruses". ValueError for text without a word
    (punctuation only) or with more than :data:`MAX_SEARCH_WORDS` words.
    """
    words = list(dict.fromkeys(w.encode().lower().decode() for w in _WORD.findall(text)))
    if not words:
        raise ValueError("q must contain a word (letters or digits)")
    if len(words) > MAX_SEARCH_WORDS:
        raise ValueError(f"q may contain at most {MAX_SEARCH_WORDS} words, not {len(words)}")
    return words


# The JSON escapes of the whitespace a prompt has between words (``\n``, ``\t``, ``\r``): the
# content columns hold messages as JSON text, where "line one\nAnswer" is stored with a backslash
# and an ``n`` glued to the next word, so its token is ``nanswer``, not ``answer``.
_ESCAPE_LETTERS = ("n", "t", "r")
_AFTER_ESCAPE = r"(^|[^\\])(\\\\)*\\[ntr]"  # RE2, as ClickHouse's match() reads it
_WORD_END = r"([^0-9a-z\x{80}-\x{10FFFF}]|$)"
# An escaped word (`_escaped_word_condition`) starts the text, follows a separator (not a
# backslash: that would make its first escape a literal "\\u"), or follows an escaped line break;
# it ends at the text's end or a separator that does not start another escaped letter.
_ESCAPED_WORD_START = r"(^|[^0-9a-z\x{80}-\x{10FFFF}\\]|" + _AFTER_ESCAPE + ")"
_ESCAPED_WORD_END = r"([^0-9a-z\x{80}-\x{10FFFF}\\]|\\[^u]|$)"


def text_condition(text: str, params: dict[str, Any]) -> str:
    r"""The span condition "input or output contains every word of ``text``"; binds the words.

    Exact, and served by the token bloom-filter index, which skips the granules where a word
    cannot be. A word right after an escaped line break or tab (the first word of every line of a
    prompt) is a token with the escape's letter in front; so the index is asked for the word or
    any of those (``answer``, ``nanswer``, ...), and a row found by one of the latter must have
    the backslash there too (``\nanswer`` is the word; "nanswer" in the text is another one).
    A word with non-ASCII letters is also looked for as a sender may have escaped it
    (:func:`_escaped_word_condition`).
    """
    conditions = []
    for i, word in enumerate(search_words(text)):
        name = f"word_{i}"
        params[name] = word
        candidates = [f"hasToken({_SEARCHED}, {{{name}:String}})"]
        for letter in _ESCAPE_LETTERS:
            params[f"{name}_{letter}"] = letter + word
            candidates.append(f"hasToken({_SEARCHED}, {{{name}_{letter}:String}})")
        # An escape (a backslash not itself escaped: after an even number of them), the word, then
        # a separator (what ends a token: an ASCII character not a letter or digit) or the end.
        # The word is letters, digits and non-ASCII characters only (`search_words`): safe in
        # the pattern as it is.
        params[f"{name}_escaped"] = _AFTER_ESCAPE + word + _WORD_END
        condition = (
            f"({' OR '.join(candidates)})"
            f" AND ({candidates[0]} OR match({_SEARCHED}, {{{name}_escaped:String}}))"
        )
        if not word.isascii():
            condition = f"(({condition}) OR ({_escaped_word_condition(word, name, params)}))"
        conditions.append(condition)
    return "(" + " AND ".join(conditions) + ")"


def _escaped_word_condition(word: str, name: str, params: dict[str, Any]) -> str:
    r"""``word`` as JSON text escapes it by default (Python's ``json.dumps``, so OpenTelemetry
    instrumentations' message attributes): ``zürich`` is stored ``z\u00fcrich`` (lower-cased,
    hex digits included), the tokens ``z`` and ``u00fcrich``.

    Each piece that starts at an escape is a whole token, asked of the index; the first piece may
    carry a line break's letter or be empty, so the exact check (``match``) covers it: the
    escaped word at a word start (the text's start, a separator, or an escaped line break) and
    followed by a separator that does not begin another escaped letter.
    """
    escaped = json.dumps(word)[1:-1]  # the word is letters and digits only: nothing else escaped
    pieces = escaped.split("\\")[1:]
    tokens = []
    for j, piece in enumerate(pieces):
        params[f"{name}_u{j}"] = piece
        tokens.append(f"hasToken({_SEARCHED}, {{{name}_u{j}:String}})")
    params[f"{name}_u"] = _ESCAPED_WORD_START + re.escape(escaped) + _ESCAPED_WORD_END
    return " AND ".join([*tokens, f"match({_SEARCHED}, {{{name}_u:String}})"])


# Newest first, in the order of the `spans` sorting key (migration 0060): ClickHouse reads the
# project's key range backwards and stops after the page (read-in-order), instead of reading
# every matching row's start_time and sorting them.
NEWEST_FIRST = "toStartOfHour(start_time) DESC, start_time DESC, trace_id DESC, span_id DESC"


def list_spans(
    store: Any, project: str, query: SpanQuery, *, after: SpanKey | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to ``limit`` spans of ``project`` matching ``query``, newest first, strictly after ``after``.

    A span stored twice (one span re-sent in two different batches) is returned once.

    Two reads, so a page never decompresses more than its own rows' content: the page's keys,
    then the full rows of exactly those keys. The keys of a user's or session's page come from
    `spans_by_id` (migrations 0090, 0150), sorted by user: a user's spans are one short key range
    wherever they fall in time, a session's a granule or two of its user's range found by a bloom
    filter; with each key its location in `spans` (the rest of its sorting key),
    so the rows, scattered in time, are a primary-key lookup of a granule each. Other pages read
    the keys from `spans`' newest end in its own order (skipping the granules an id filter's or
    the text's bloom filter rules out): rows close in time, fetched by trace id (bloom filter)
    within the page's hours. ValueError if ``query.text`` has no word.
    """
    limit = max(1, min(limit, MAX_LIMIT + 1))
    if not _by_id(query):
        return spans_by_key(store, project, page_keys(store, project, query, after, limit))
    return spans_at(store, project, page_keys(store, project, query, after, limit))


# A page key: (start_time, trace_id, span_id), the span's position in newest-first order; from
# `spans_by_id` followed by (service_name, prompt_name, model), the rest of its location in `spans`.
PageKey = tuple[datetime, str, str]
LocatedKey = tuple[datetime, str, str, str, str, str]


def _by_id(query: SpanQuery) -> bool:
    """Whether `spans_by_id` decides the page: a user or session filter, and no text (not kept there)."""
    return not query.text and ("user_id" in query.equals or "session_id" in query.equals)


def _after_condition(after: SpanKey | None, params: dict[str, Any], *, hour: bool) -> str:
    """Rows strictly after the cursor (``start_time <=`` lets the primary key skip newer rows)."""
    if after is None:
        return ""
    params.update(k_time=utc(after.start_time), k_trace=after.trace_id, k_span=after.span_id)
    return (
        (_HOUR_TO.format(name="k_time") if hour else "")
        + " AND start_time <= {k_time:DateTime64(6, 'UTC')} AND (start_time, trace_id, span_id) <"
        " ({k_time:DateTime64(6, 'UTC')}, {k_trace:String}, {k_span:String})"
    )


# The same time bounds stated on `spans`' first sorting-key column, the hour of start: ClickHouse
# does not derive them from a bound on start_time (a one-day page read every granule's start).
_HOUR_FROM = " AND toStartOfHour(start_time) >= toStartOfHour({{{name}:DateTime64(6, 'UTC')}})"
_HOUR_TO = " AND toStartOfHour(start_time) <= toStartOfHour({{{name}:DateTime64(6, 'UTC')}})"


def _hour_bounds(query: SpanQuery) -> str:
    """Hour conditions for the since/until bounds (bound by :func:`where_clause`)."""
    return (_HOUR_FROM.format(name="since") if query.since is not None else "") + (
        _HOUR_TO.format(name="until") if query.until is not None else ""
    )


def page_keys(
    store: Any, project: str, query: SpanQuery, after: SpanKey | None, limit: int
) -> list[tuple[Any, ...]]:
    """The keys of one page (see :data:`PageKey`), newest first, each once."""
    by_id = _by_id(query)
    fetch = limit
    while True:
        params: dict[str, Any] = {"db": store.database, "k": fetch}
        where = where_clause(project, query, params)
        if not by_id:
            table, columns, order = "spans", "start_time, trace_id, span_id", NEWEST_FIRST
            where += _hour_bounds(query) + _after_condition(after, params, hour=True)
        else:
            table, order = "spans_by_id", "start_time DESC, trace_id DESC, span_id DESC"
            columns = "start_time, trace_id, span_id, service_name, prompt_name, model"
            where += _after_condition(after, params, hour=False)
        sql = (
            f"SELECT {columns} FROM {{db:Identifier}}.{table} WHERE {where}"
            f" ORDER BY {order} LIMIT {{k:UInt32}}"
        )
        rows = store.client.query(sql, parameters=params, settings=_in_order(store)).result_rows
        keys = list({(r[1], r[2]): (utc(r[0]), *r[1:]) for r in rows}.values())
        # Duplicates (a span stored twice) can leave the page short: read more.
        if len(keys) >= limit or len(rows) < fetch:
            return keys[:limit]
        fetch *= 4


def _in_order(store: Any) -> dict[str, int]:
    """Read in order without read-ahead. Servers since 24.x buffer chunks of an in-order read to
    keep threads busy; under a filter that keeps few rows (a common word, an error status) they
    read many hours ahead before the page is full: 2-3 s instead of 70 ms for a word in 6% of 1M
    spans. Older servers have no such setting, and no read-ahead."""
    known = "read_in_order_use_buffering" in store.client.server_settings
    return {"read_in_order_use_buffering": 0} if known else {}


_LOCATION = "Array(Tuple(DateTime('UTC'), String, String, String, DateTime64(6, 'UTC')))"


def spans_by_key(store: Any, project: str, keys: list[PageKey]) -> list[dict[str, Any]]:
    """The full rows of ``keys`` (close in time: one page of `spans`), in their order (each once)."""
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
        + _HOUR_FROM.format(name="first")
        + _HOUR_TO.format(name="last")
        + " LIMIT 1 BY trace_id, span_id"
    )
    return _in_key_order(store.client.query(sql, parameters=params).result_rows, keys)


def _in_key_order(rows: list[Any], keys: list[Any]) -> list[dict[str, Any]]:
    found = {}
    for row in rows:
        item = dict(zip(SPAN_FIELDS, row, strict=True))
        found[(item["trace_id"], item["span_id"])] = item
    return [found[(k[1], k[2])] for k in keys if (k[1], k[2]) in found]


def spans_at(store: Any, project: str, keys: list[LocatedKey]) -> list[dict[str, Any]]:
    """The full rows of ``keys``, in their order (each once): a lookup of their locations in the
    `spans` sorting key, so only the granules holding them are read."""
    if not keys:
        return []
    params = {
        "db": store.database,
        "project": project,
        "at": sorted(
            {(t.replace(minute=0, second=0, microsecond=0), svc, p, m, t) for t, _, _, svc, p, m in keys}
        ),
        "spans": sorted({k[2] for k in keys}),
        "traces": sorted({k[1] for k in keys}),
    }
    sql = (
        f"SELECT {', '.join(SPAN_FIELDS)} FROM {{db:Identifier}}.spans"
        " WHERE project = {project:String}"
        f" AND (toStartOfHour(start_time), service_name, prompt_name, model, start_time) IN {{at:{_LOCATION}}}"
        " AND span_id IN {spans:Array(String)} AND trace_id IN {traces:Array(String)}"
        " LIMIT 1 BY trace_id, span_id"
    )
    return _in_key_order(store.client.query(sql, parameters=params).result_rows, keys)


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
