"""Trace, session and user lists from the summary views, against totals computed from the spans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from traces_factory import expected_groups, expected_traces, make_traces

from llmtrace.store import Store
from llmtrace.store.queries.sessions import SessionKey, get_session, list_sessions, session_traces
from llmtrace.store.queries.spans import SpanQuery
from llmtrace.store.queries.traces import TraceKey, list_traces
from llmtrace.store.queries.users import UserKey, list_users


@pytest.fixture
def loaded(store: Store) -> tuple[Store, list[dict[str, Any]]]:
    rows = make_traces(400)
    for i in range(0, len(rows), 97):  # several inserts, so summaries span several parts
        store.insert_spans(rows[i : i + 97])
    return store, rows


def _approx(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if name in actual:
            assert actual[name] == (pytest.approx(value) if isinstance(value, float) else value), name


def test_trace_list_matches_the_spans_and_pages_through_every_trace(loaded: tuple[Store, list]) -> None:
    store, rows = loaded
    expected = expected_traces(rows)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = list_traces(store, "p1", SpanQuery(), after=after, limit=37)
        seen.extend(page)
        if len(page) < 37:
            break
        after = TraceKey(page[-1]["start_time"], page[-1]["trace_id"])
    assert [t["trace_id"] for t in seen] == [t["trace_id"] for t in expected]
    for actual, want in zip(seen, expected, strict=True):
        _approx(actual, want)
    agent = next(t for t in seen if t["root_name"] == "invoke_agent planner")
    assert agent["spans"] == 4 and agent["llm_calls"] == 2
    assert list_traces(store, "other-project", SpanQuery()) == []


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"model": "acme-private-1"}, lambda t: "acme-private-1" in t["models"]),
        ({"service": "worker"}, lambda t: t["service_name"] == "worker"),
        ({"user_id": "user-3"}, lambda t: t["user_id"] == "user-3"),
        ({"session_id": "user-2-s1"}, lambda t: t["session_id"] == "user-2-s1"),
        ({"status": "error"}, lambda t: t["errors"] > 0),
        ({"status": "ok"}, lambda t: t["errors"] == 0),
        ({"kind": "tool"}, lambda t: t["root_name"] == "invoke_agent planner"),
        ({"prompt": "plan", "status": "ok"}, lambda t: "plan" in t["prompt_names"] and not t["errors"]),
    ],
)
def test_trace_filters_keep_traces_with_a_matching_span(
    loaded: tuple[Store, list], filters: dict[str, str], keep: Any
) -> None:
    store, rows = loaded
    expected = [t["trace_id"] for t in expected_traces(rows) if keep(t)]
    assert expected
    got = list_traces(store, "p1", SpanQuery(equals=filters), limit=1000)
    assert [t["trace_id"] for t in got] == expected


def test_trace_time_range_and_text(loaded: tuple[Store, list]) -> None:
    store, rows = loaded
    expected = expected_traces(rows)
    since = expected[150]["start_time"]
    until = expected[20]["start_time"]
    got = list_traces(store, "p1", SpanQuery(since=since, until=until), limit=1000)
    assert [t["trace_id"] for t in got] == [t["trace_id"] for t in expected[21:151]]
    otters = {r["trace_id"] for r in rows if "otters" in r["input"]}
    got = list_traces(store, "p1", SpanQuery(text="OTTERS"), limit=1000)
    assert {t["trace_id"] for t in got} == otters
    with pytest.raises(ValueError, match="status"):
        list_traces(store, "p1", SpanQuery(equals={"status": "cancelled"}))


def _late_match(
    rows: list[dict[str, Any]], trace: dict[str, Any], word: str, after_h: float
) -> dict[str, Any]:
    """A span of ``trace`` starting ``after_h`` hours after it, whose output holds ``word``."""
    first = min((r for r in rows if r["trace_id"] == trace["trace_id"]), key=lambda r: r["start_time"])
    start = first["start_time"] + timedelta(hours=after_h)
    return {
        **first,
        "span_id": f"{int(first['span_id'], 16) + 10**6:016x}",
        "parent_span_id": first["span_id"],
        "start_time": start,
        "end_time": start + timedelta(seconds=1),
        "output": f"late answer about {word}",
    }


def test_text_search_pages_find_matches_late_in_a_trace(loaded: tuple[Store, list]) -> None:
    """The search reads only the spans that can belong to the page's traces (from the window's
    start to its top plus the slack): a trace whose only match starts hours after the trace, on
    either side of a window's edge, is still found, on the right page, in start order."""
    store, rows = loaded
    by_start = expected_traces(rows)
    # Matches 1 to 5 hours into traces spread over the whole range, newest to oldest.
    late = [_late_match(rows, by_start[i], "narwhals", 1 + i % 5) for i in range(3, 400, 23)]
    store.insert_spans(late)
    rows = rows + late
    expected = [
        t["trace_id"] for t in expected_traces(rows) if t["trace_id"] in {r["trace_id"] for r in late}
    ]
    assert len(expected) == len(late)
    for limit in (1, 2, 5, 100):
        seen: list[str] = []
        after = None
        while True:
            page = list_traces(store, "p1", SpanQuery(text="narwhals"), after=after, limit=limit)
            seen.extend(t["trace_id"] for t in page)
            if len(page) < limit:
                break
            after = TraceKey(page[-1]["start_time"], page[-1]["trace_id"])
        assert seen == expected, limit


def test_newest_matches_of_an_older_trace_do_not_hide_a_newer_trace(loaded: tuple[Store, list]) -> None:
    """The newest matching spans all belong to a trace that started earlier than another match:
    the page is the trace that started last, found by searching the whole window."""
    store, rows = loaded
    by_start = expected_traces(rows)
    older, newer = by_start[10], by_start[5]
    late = [_late_match(rows, newer, "walruses", 1 / 60)]
    for k in range(8):  # the newest spans of the store, all in the older trace
        span = _late_match(rows, older, "walruses", 0)
        start = by_start[0]["start_time"] + timedelta(minutes=10 + k)
        late.append({**span, "span_id": f"{k + 1:04x}{span['span_id'][4:]}", "start_time": start})
    store.insert_spans(late)
    got = list_traces(store, "p1", SpanQuery(text="walruses"), limit=1)
    assert [t["trace_id"] for t in got] == [newer["trace_id"]]
    got = list_traces(store, "p1", SpanQuery(text="walruses"), limit=10)
    assert [t["trace_id"] for t in got] == [newer["trace_id"], older["trace_id"]]


@pytest.mark.parametrize("limit", [1, 3, 10, 37])
def test_text_search_pages_through_every_match_in_order(loaded: tuple[Store, list], limit: int) -> None:
    """A word in many traces: a page comes from the newest matching spans when their traces fill
    it, else from the whole window; either way every matching trace appears once, in order."""
    store, rows = loaded
    otters = {r["trace_id"] for r in rows if "otters" in r["input"]}
    expected = [t["trace_id"] for t in expected_traces(rows) if t["trace_id"] in otters]
    seen: list[str] = []
    after = None
    while True:
        page = list_traces(store, "p1", SpanQuery(text="otters"), after=after, limit=limit)
        seen.extend(t["trace_id"] for t in page)
        if len(page) < limit:
            break
        after = TraceKey(page[-1]["start_time"], page[-1]["trace_id"])
    assert seen == expected and len(expected) > 100


def test_sessions_and_users_match_the_spans(loaded: tuple[Store, list]) -> None:
    store, rows = loaded
    for key, lister, make_key in (
        ("session_id", list_sessions, SessionKey),
        ("user_id", list_users, UserKey),
    ):
        expected = expected_groups(rows, key)
        seen: list[dict[str, Any]] = []
        after = None
        while True:
            page = lister(store, "p1", SpanQuery(), after=after, limit=5)
            seen.extend(page)
            if len(page) < 5:
                break
            after = make_key(page[-1]["last_seen"], page[-1][key])
        assert [g[key] for g in seen] == [g[key] for g in expected]
        for actual, want in zip(seen, expected, strict=True):
            _approx(actual, want)


def test_one_session_and_its_traces_oldest_first(loaded: tuple[Store, list]) -> None:
    store, rows = loaded
    session = "user-4-s0"
    want = [t for t in reversed(expected_traces(rows)) if t["session_id"] == session]
    got = session_traces(store, "p1", session)
    assert [t["trace_id"] for t in got] == [t["trace_id"] for t in want]
    for actual, expected in zip(got, want, strict=True):
        _approx(actual, expected)
    totals = get_session(store, "p1", session)
    assert totals is not None and totals["traces"] == len(want)
    assert totals["last_seen"] - totals["first_seen"] >= timedelta(0)
    assert get_session(store, "p1", "no-such-session") is None
    assert session_traces(store, "p1", "no-such-session") == []


def test_sessions_filtered_by_user(loaded: tuple[Store, list]) -> None:
    store, rows = loaded
    expected = [g["session_id"] for g in expected_groups(rows, "session_id") if g["user_id"] == "user-1"]
    got = list_sessions(store, "p1", SpanQuery(equals={"user_id": "user-1"}), limit=100)
    assert [s["session_id"] for s in got] == expected
