"""Migration 0150: ``spans_by_id`` holds one row per span that carries a user or a session id,
sorted by user (0090 wrote one per owner: two for nearly every span). A store upgraded from the
two-row layout is rebuilt once, even after an interrupted run, and its pages still equal what the
spans say; on a cluster the new table stays beside its spans."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from older_store import store_before
from test_spans_by_id import expected_page_ids
from traces_factory import make_traces

from llmtrace.store import Store
from llmtrace.store.migrate import render_ddl
from llmtrace.store.queries.sessions import session_traces
from llmtrace.store.queries.spans import SpanQuery, list_spans

ONE_ROW = "0150_spans_by_id_one_row.sql"
DB = "obs"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return make_traces(200)


def _by_id_rows(store: Store) -> int:
    return store.client.query(
        "SELECT count() FROM {db:Identifier}.spans_by_id", parameters={"db": store.database}
    ).result_rows[0][0]


def _carrying_an_id(rows: list[dict[str, Any]]) -> int:
    return sum(bool(r["user_id"] or r["session_id"]) for r in rows)


def _ids(spans: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["trace_id"], s["span_id"]) for s in spans]


def test_one_row_per_span_with_a_user_or_a_session(store: Store, rows: list[dict[str, Any]]) -> None:
    """Spans with both ids, one id or none: one row each for the first two kinds, none for the last."""
    assert {(bool(r["user_id"]), bool(r["session_id"])) for r in rows} >= {(True, True), (False, True)}
    assert any(not r["user_id"] and not r["session_id"] for r in rows)
    store.insert_spans(rows)
    assert _by_id_rows(store) == _carrying_an_id(rows)


def test_a_session_is_found_by_its_bloom_filter(store: Store, rows: list[dict[str, Any]]) -> None:
    """A session's rows are looked up through the bloom filter on session_id (ClickHouse refuses
    the query if the index is not used), and its page equals what the spans say."""
    store.insert_spans(rows)
    session = next(r["session_id"] for r in rows if r["session_id"].startswith("user-"))
    query = SpanQuery(equals={"session_id": session})
    sql = "SELECT count() FROM {db:Identifier}.spans_by_id WHERE project = 'p1' AND session_id = {s:String}"
    found = store.client.query(
        sql,
        parameters={"db": store.database, "s": session},
        settings={"force_data_skipping_indices": "idx_session_id"},
    )
    assert found.result_rows[0][0] == len(expected_page_ids(rows, query))
    assert _ids(list_spans(store, "p1", query, limit=1000)) == expected_page_ids(rows, query)


def test_upgrade_rebuilds_the_two_row_table_once(
    chdb_dsn: str, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    """An existing store: its two rows per span become one, the view feeds new spans once, and a
    run cut short before it was recorded rebuilds the table from scratch (no span twice)."""
    with store_before(chdb_dsn, tmp_path / "before", ONE_ROW) as store:
        store.insert_spans(rows[:120])
        assert _by_id_rows(store) > _carrying_an_id(rows[:120])  # 0090's row per owner
        assert store.migrate() == [ONE_ROW]
        assert _by_id_rows(store) == _carrying_an_id(rows[:120])
        store.client.command(
            f"ALTER TABLE {store.database}.schema_migrations DELETE WHERE name = {ONE_ROW!r}",
            settings={"mutations_sync": 2},
        )
        assert store.migrate() == [ONE_ROW]
        store.insert_spans(rows[120:])
        assert _by_id_rows(store) == _carrying_an_id(rows)
        for equals in ({"user_id": "user-3"}, {"session_id": "user-2-s1"}, {"session_id": "anon-s0"}):
            query = SpanQuery(equals=equals)
            want = expected_page_ids(rows, query)
            assert want and _ids(list_spans(store, "p1", query, limit=1000)) == want
        session = [r for r in rows if r["session_id"] == "user-2-s1"]
        got = {t["trace_id"] for t in session_traces(store, "p1", "user-2-s1")}
        assert got == {r["trace_id"] for r in session}


def test_the_one_row_table_on_a_cluster() -> None:
    """0150 on a cluster: the rebuilt local table sorted by user with its bloom filter, behind the
    same Distributed front (sharded by trace id, beside the spans); the view reads the local spans
    and the backfill goes through the front."""
    ddl = render_ddl(DB, cluster="prod")
    *_, local = [s for s in ddl if s.startswith(f"CREATE TABLE {DB}.spans_by_id_local ")]
    assert "ORDER BY (project, user_id, start_time, trace_id, span_id)" in local
    assert "INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1" in local
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/spans_by_id', '{replica}')" in local
    *_, front = [s for s in ddl if s.startswith(f"CREATE TABLE {DB}.spans_by_id ON CLUSTER prod AS")]
    assert f"ENGINE = Distributed('prod', '{DB}', 'spans_by_id_local', cityHash64(trace_id))" in front
    *_, view = [
        s for s in ddl if re.match(rf"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}\.spans_by_id_mv ", s)
    ]
    assert f"TO {DB}.spans_by_id_local AS" in view and f"FROM {DB}.spans_local\n" in view
    assert "owner" not in view
    *_, backfill = [s for s in ddl if s.startswith(f"INSERT INTO {DB}.spans_by_id\n")]
    assert f"FROM {DB}.spans\n" in backfill and "user_id != '' OR session_id != ''" in backfill
