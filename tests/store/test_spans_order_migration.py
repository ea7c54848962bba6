"""Migration 0060 rebuilds `spans` in newest-first order: an existing store keeps every row, its
TTL and its rollups, and the materialized views are fed by the new table afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from older_store import store_before
from spans_factory import make_rows

from llmtrace.store import Store
from llmtrace.store.migrate import span_ttl_days

REBUILD = "0060_spans_newest_first.sql"
NEW_KEY = "project, toStartOfHour(start_time), service_name, prompt_name, model, start_time"


@pytest.fixture
def old_store(chdb_dsn: str, tmp_path: Path) -> Iterator[Store]:
    """A store migrated up to (not including) 0060."""
    with store_before(chdb_dsn, tmp_path / "before", REBUILD) as store:
        yield store


def _all_rows(store: Store) -> list[tuple[object, ...]]:
    return store.client.query(
        "SELECT * EXCEPT (ingested_at), model FROM {db:Identifier}.spans ORDER BY trace_id, span_id",
        parameters={"db": store.database},
    ).result_rows


def _rollup_totals(store: Store) -> tuple[int, ...]:
    """Spans counted by each view that reads `spans` (a copy that fired them would double these)."""
    return tuple(
        store.client.command(sql.format(db=store.database))
        for sql in (
            "SELECT countMerge(calls) FROM {db}.spans_hourly",
            "SELECT sum(calls) FROM {db}.cost_5m",
            "SELECT sum(spans) FROM {db}.trace_summaries",
            "SELECT sum(spans) FROM {db}.session_summaries",
            "SELECT sum(spans) FROM {db}.user_summaries",
        )
    )


def _expected_totals(store: Store) -> tuple[int, ...]:
    return tuple(
        store.client.command(f"SELECT countIf({cond}) FROM {store.database}.spans")
        for cond in (
            "kind IN ('llm', 'embedding')",
            "kind IN ('llm', 'embedding')",
            "1",
            "session_id != ''",
            "user_id != ''",
        )
    )


def test_rebuild_keeps_rows_and_rollups_and_views_read_the_new_table(
    old_store: Store,
) -> None:
    store = old_store
    store.insert_spans(make_rows(300))
    rows_before, totals_before = _all_rows(store), _rollup_totals(store)
    assert totals_before == _expected_totals(store) and totals_before[2] == 300

    assert REBUILD in store.migrate()

    assert _all_rows(store) == rows_before
    assert _rollup_totals(store) == totals_before  # the copy did not feed the views again
    key, tables = store.client.query(
        "SELECT sorting_key, (SELECT groupArray(name) FROM system.tables WHERE database = {db:String})"
        " FROM system.tables WHERE database = {db:String} AND name = 'spans'",
        parameters={"db": store.database},
    ).result_rows[0]
    assert key == NEW_KEY and "spans_rebuild" not in tables

    store.insert_spans(make_rows(120, seed=9))
    assert store.client.command(f"SELECT count() FROM {store.database}.spans") == 420
    assert _rollup_totals(store) == _expected_totals(store)  # every view is fed by the new table
    assert store.migrate() == []


@pytest.mark.parametrize("days", [30, 0])
def test_rebuild_keeps_the_store_ttl(chdb_dsn: str, tmp_path: Path, days: int) -> None:
    """A store whose span TTL was set (30 days, or 0: kept forever) keeps it, not the default."""
    with store_before(chdb_dsn, tmp_path / "before", REBUILD, span_ttl_days=days) as store:
        store.insert_spans(make_rows(20))

        store.migrate()

        assert span_ttl_days(store.client, store.database) == days
        assert store.client.command(f"SELECT count() FROM {store.database}.spans") == 20


def test_rerun_after_an_interrupted_copy_copies_once(old_store: Store) -> None:
    """A copy cut short leaves a partial `spans_rebuild`: the next run drops it and copies again."""
    store = old_store
    store.insert_spans(make_rows(50))
    store.client.command(
        f"CREATE TABLE {store.database}.spans_rebuild AS {store.database}.spans"
        f" ENGINE = MergeTree ORDER BY tuple()"
    )
    store.client.command(
        f"INSERT INTO {store.database}.spans_rebuild SELECT * FROM {store.database}.spans LIMIT 10"
    )

    store.migrate()

    assert store.client.command(f"SELECT count() FROM {store.database}.spans") == 50
