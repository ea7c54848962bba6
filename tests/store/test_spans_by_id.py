"""Spans of one user or session (migration 0090, ``spans_by_id``): pages equal what the spans say,
across filters, cursors and time ranges, and so do the trace, session and user lists filtered by
a user or session; an upgraded store is backfilled, once, even after an interrupted run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from older_store import store_before
from traces_factory import expected_groups, expected_traces, make_traces

from llmtrace.store import Store
from llmtrace.store.queries.sessions import list_sessions
from llmtrace.store.queries.spans import SpanKey, SpanQuery, list_spans
from llmtrace.store.queries.traces import TraceKey, list_traces
from llmtrace.store.queries.users import list_users

BY_ID = "0090_spans_by_id.sql"
# API filter name -> the span row's value it compares with.
_VALUE = {
    "user_id": lambda r: r["user_id"],
    "session_id": lambda r: r["session_id"],
    "model": lambda r: r["request_model"] or r["response_model"],
    "status": lambda r: r["status"],
    "kind": lambda r: r["kind"],
    "service": lambda r: r["service_name"],
    "prompt": lambda r: r["prompt_name"],
}


def _t(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def expected_page_ids(rows: list[dict[str, Any]], query: SpanQuery) -> list[tuple[str, str]]:
    """(trace_id, span_id) of the matching rows, newest first, computed from the rows in Python."""
    keep = [
        r
        for r in rows
        if all(_VALUE[name](r) == value for name, value in query.equals.items())
        and (query.since is None or _t(r["start_time"]) >= query.since)
        and (query.until is None or _t(r["start_time"]) < query.until)
    ]
    keep.sort(key=lambda r: (_t(r["start_time"]), r["trace_id"], r["span_id"]), reverse=True)
    return [(r["trace_id"], r["span_id"]) for r in keep]


def all_pages(store: Store, query: SpanQuery, limit: int) -> list[dict[str, Any]]:
    """Every span of ``query``, read page by page with the cursor of each page's last span."""
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = list_spans(store, "p1", query, after=after, limit=limit)
        seen.extend(page)
        if len(page) < limit:
            return seen
        last = page[-1]
        after = SpanKey(last["start_time"], last["trace_id"], last["span_id"])


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return make_traces(300)


@pytest.fixture
def loaded(store: Store, rows: list[dict[str, Any]]) -> Store:
    for i in range(0, len(rows), 83):  # several inserts: several parts
        store.insert_spans(rows[i : i + 83])
    store.insert_spans(rows[:40])  # a batch re-sent: its spans are stored twice, listed once
    return store


def _middle_day(rows: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    times = sorted(_t(r["start_time"]) for r in rows)
    return times[len(times) // 3], times[2 * len(times) // 3]


@pytest.mark.parametrize(
    "equals",
    [
        {"user_id": "user-3"},
        {"session_id": "user-2-s1"},
        {"session_id": "anon-s0"},  # sessions without a user
        {"user_id": "user-5", "model": "gpt-4o-mini"},
        {"user_id": "user-1", "status": "ok", "kind": "llm"},
        {"user_id": "user-6", "session_id": "user-6-s2"},
        {"session_id": "user-0-s1", "service": "worker", "prompt": "answer"},
        {"user_id": "no-such-user"},
    ],
)
@pytest.mark.parametrize("limit", [4, 1000])
def test_pages_by_user_or_session_equal_the_spans(
    loaded: Store, rows: list[dict[str, Any]], equals: dict[str, str], limit: int
) -> None:
    query = SpanQuery(equals=equals)
    got = all_pages(loaded, query, limit)
    assert [(s["trace_id"], s["span_id"]) for s in got] == expected_page_ids(rows, query)
    by_id = {(r["trace_id"], r["span_id"]): r for r in rows}
    for span in got:  # whole rows, content included, from `spans`
        row = by_id[(span["trace_id"], span["span_id"])]
        assert (span["input"], span["user_id"], span["session_id"]) == (
            row["input"],
            row["user_id"],
            row["session_id"],
        )


def test_time_range_of_a_user(loaded: Store, rows: list[dict[str, Any]]) -> None:
    since, until = _middle_day(rows)
    query = SpanQuery(equals={"user_id": "user-2"}, since=since, until=until)
    expected = expected_page_ids(rows, query)
    assert expected
    assert [(s["trace_id"], s["span_id"]) for s in all_pages(loaded, query, 3)] == expected
    # The same range without a user reads `spans` with the bounds on its hour column too.
    unfiltered = SpanQuery(since=since, until=until)
    got = all_pages(loaded, unfiltered, 50)
    assert [(s["trace_id"], s["span_id"]) for s in got] == expected_page_ids(rows, unfiltered)


def test_text_with_a_user_reads_spans(loaded: Store, rows: list[dict[str, Any]]) -> None:
    """``q=`` is not decided in spans_by_id: a user's page with a word still finds exactly its spans."""
    got = list_spans(loaded, "p1", SpanQuery(equals={"user_id": "user-4"}, text="otters"), limit=1000)
    want = {
        (r["trace_id"], r["span_id"]) for r in rows if r["user_id"] == "user-4" and "otters" in r["input"]
    }
    assert want and {(s["trace_id"], s["span_id"]) for s in got} == want


def _by_id_counts(store: Store) -> tuple[int, int]:
    return store.client.query(
        "SELECT countIf(user_id != ''), countIf(session_id != '') FROM {db:Identifier}.spans_by_id",
        parameters={"db": store.database},
    ).result_rows[0]


def _expected_counts(rows: list[dict[str, Any]]) -> tuple[int, int]:
    return sum(bool(r["user_id"]) for r in rows), sum(bool(r["session_id"]) for r in rows)


def test_upgrade_backfills_existing_spans_and_the_view_feeds_new_ones(
    chdb_dsn: str, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    with store_before(chdb_dsn, tmp_path / "before", BY_ID) as store:
        store.insert_spans(rows[:200])
        assert BY_ID in store.migrate()
        assert _by_id_counts(store) == _expected_counts(rows[:200])
        store.insert_spans(rows[200:])
        assert _by_id_counts(store) == _expected_counts(rows)
        query = SpanQuery(equals={"session_id": "user-3-s0"})
        got = list_spans(store, "p1", query, limit=1000)
        assert [(s["trace_id"], s["span_id"]) for s in got] == expected_page_ids(rows, query)


def test_rerun_after_an_interruption_backfills_once(
    chdb_dsn: str, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    """A run cut short after the backfill (or after the view's creation), before it was recorded:
    the next run fills the table again from scratch, so no span is in it twice. (The migrations
    after it were not recorded either, 0150's rebuild of the same table among them.)"""
    with store_before(chdb_dsn, tmp_path / "before", BY_ID) as store:
        store.insert_spans(rows)
        store.migrate()
        store.client.command(
            f"ALTER TABLE {store.database}.schema_migrations DELETE WHERE name >= {BY_ID!r}",
            settings={"mutations_sync": 2},
        )
        assert store.migrate()[0] == BY_ID
        assert _by_id_counts(store) == _expected_counts(rows)
        store.insert_spans(rows[:10])  # one view feeds the table, not two
        assert _by_id_counts(store) == _expected_counts(rows + rows[:10])


def test_pages_of_other_projects_and_owners_stay_apart(loaded: Store) -> None:
    """A session id equal to a user id is another owner: a user filter never returns it."""
    got = list_spans(loaded, "p1", SpanQuery(equals={"user_id": "user-2-s1"}), limit=10)
    assert got == []
    assert list_spans(loaded, "other", SpanQuery(equals={"user_id": "user-3"}), limit=10) == []


@pytest.mark.parametrize(
    "equals",
    [{"user_id": "user-2"}, {"session_id": "user-5-s0"}, {"user_id": "user-6", "session_id": "user-6-s2"}],
)
def test_lists_filtered_by_user_or_session_read_their_keys_from_spans_by_id(
    loaded: Store, rows: list[dict[str, Any]], equals: dict[str, str]
) -> None:
    """Traces, sessions and users with a span of that user and/or session, paged, as the spans say."""
    matching = [r for r in rows if all(r[k] == v for k, v in equals.items())]
    assert matching
    traces = {r["trace_id"] for r in matching}
    want = [t["trace_id"] for t in expected_traces(rows) if t["trace_id"] in traces]
    seen, after = [], None
    while page := list_traces(loaded, "p1", SpanQuery(equals=equals), after=after, limit=3):
        seen.extend(page)
        after = TraceKey(page[-1]["start_time"], page[-1]["trace_id"])
    assert [t["trace_id"] for t in seen] == want
    sessions = {r["session_id"] for r in matching if r["session_id"]}
    got = list_sessions(loaded, "p1", SpanQuery(equals=equals), limit=1000)
    assert [s["session_id"] for s in got] == [
        g["session_id"] for g in expected_groups(rows, "session_id") if g["session_id"] in sessions
    ]
    users = {r["user_id"] for r in matching if r["user_id"]}
    got = list_users(loaded, "p1", SpanQuery(equals=equals), limit=1000)
    assert [u["user_id"] for u in got] == [
        g["user_id"] for g in expected_groups(rows, "user_id") if g["user_id"] in users
    ]
