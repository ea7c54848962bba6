"""Migration 0091 copies the summaries into tables with smaller granules: an upgraded store answers
the trace, session and user lists exactly as before, and its views keep feeding the new tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from older_store import store_before
from traces_factory import expected_groups, expected_traces, make_traces

from llmtrace.store import Store
from llmtrace.store.queries.sessions import list_sessions, session_traces
from llmtrace.store.queries.spans import SpanQuery
from llmtrace.store.queries.traces import list_traces
from llmtrace.store.queries.users import list_users

GRANULES = "0091_summaries_granules.sql"
WANTED = {"trace_summaries": 1024, "session_summaries": 256, "user_summaries": 256}


def _granularity(store: Store) -> dict[str, int]:
    rows = store.client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN {t:Array(String)}",
        parameters={"db": store.database, "t": list(WANTED)},
    ).result_rows
    out = {}
    for name, engine in rows:
        setting = engine.split("index_granularity = ")
        out[name] = int(setting[1].split(",")[0]) if len(setting) > 1 else 8192
    return out


def _lists(store: Store) -> tuple[Any, ...]:
    return (
        list_traces(store, "p1", SpanQuery(), limit=1000),
        list_sessions(store, "p1", SpanQuery(), limit=1000),
        list_users(store, "p1", SpanQuery(), limit=1000),
    )


def test_upgrade_keeps_every_summary_and_views_feed_the_new_tables(chdb_dsn: str, tmp_path: Path) -> None:
    rows = make_traces(240)
    with store_before(chdb_dsn, tmp_path / "before", GRANULES) as store:
        store.insert_spans(rows[:500])
        before = _lists(store)
        assert _granularity(store) == dict.fromkeys(WANTED, 8192)

        assert GRANULES in store.migrate()

        assert _granularity(store) == WANTED
        assert _lists(store) == before
        store.insert_spans(rows[500:])
        traces, sessions, users = _lists(store)
        assert [t["trace_id"] for t in traces] == [t["trace_id"] for t in expected_traces(rows)]
        assert [(s["session_id"], s["spans"]) for s in sessions] == [
            (g["session_id"], g["spans"]) for g in expected_groups(rows, "session_id")
        ]
        assert [(u["user_id"], u["spans"]) for u in users] == [
            (g["user_id"], g["spans"]) for g in expected_groups(rows, "user_id")
        ]
        tables = store.client.query(
            "SELECT groupArray(name) FROM system.tables WHERE database = {db:String}",
            parameters={"db": store.database},
        ).result_rows[0][0]
        assert not [t for t in tables if t.endswith("_rebuild")]


@pytest.mark.parametrize("stage", ["half_copied", "swapped_not_recorded"])
def test_rerun_after_an_interruption_counts_every_span_once(
    chdb_dsn: str, tmp_path: Path, stage: str
) -> None:
    rows = make_traces(120, seed=5)
    with store_before(chdb_dsn, tmp_path / "before", GRANULES) as store:
        store.insert_spans(rows)
        db = store.database
        if stage == "half_copied":  # a copy cut short: a partial trace_summaries_rebuild
            store.client.command(f"CREATE TABLE {db}.trace_summaries_rebuild AS {db}.trace_summaries")
            store.client.command(
                f"INSERT INTO {db}.trace_summaries_rebuild SELECT * FROM {db}.trace_summaries LIMIT 7"
            )
        else:  # every step ran, the ledger was not written
            store.migrate()
            store.client.command(
                f"ALTER TABLE {db}.schema_migrations DELETE WHERE name = {GRANULES!r}",
                settings={"mutations_sync": 2},
            )
        assert store.migrate()[0] == GRANULES  # then any later migration, on an older store
        assert _granularity(store) == WANTED
        traces = list_traces(store, "p1", SpanQuery(), limit=1000)
        assert [(t["trace_id"], t["spans"]) for t in traces] == [
            (t["trace_id"], t["spans"]) for t in expected_traces(rows)
        ]
        session = next(t["session_id"] for t in traces if t["session_id"])
        want = [t["trace_id"] for t in reversed(expected_traces(rows)) if t["session_id"] == session]
        assert [t["trace_id"] for t in session_traces(store, "p1", session)] == want
