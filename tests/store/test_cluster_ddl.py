"""`llmtrace migrate --cluster`: the rendered DDL (no cluster runs here), syntax-checked by chDB's parser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from llmtrace.store import Store, StoreError
from llmtrace.store.cluster import UNSHARDED_TABLES
from llmtrace.store.migrate import migrations_dir, render_ddl

DB = "obs"


@pytest.fixture(scope="module")
def ddl() -> list[str]:
    return render_ddl(DB, cluster="prod")


def _create(ddl: list[str], name: str) -> str:
    """The statement that creates ``name`` last (a view dropped and created again by 0060: the latter)."""
    *_, statement = [
        s for s in ddl if re.match(rf"CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS {DB}\.{name} ", s)
    ]
    return statement


def _insert(ddl: list[str], table: str) -> str:
    (statement,) = [s for s in ddl if re.match(rf"INSERT INTO {DB}\.{table}\b", s)]
    return statement


def test_every_statement_runs_on_the_cluster(ddl: list[str]) -> None:
    """All DDL runs ON CLUSTER; the INSERTs (0060's copy of spans, 0080's drift backfill, ...) go
    through Distributed tables."""
    assert all(" ON CLUSTER prod" in s.splitlines()[0] for s in ddl if not s.startswith("INSERT "))
    insert, backfill = _insert(ddl, "spans_rebuild"), _insert(ddl, "drift_hourly")
    assert insert.startswith(f"INSERT INTO {DB}.spans_rebuild (") and f"FROM {DB}.spans\n" in insert
    assert "distributed_foreground_insert = 1" in insert
    assert backfill.splitlines()[0] == f"INSERT INTO {DB}.drift_hourly"
    assert f"FROM {DB}.spans_hourly\n" in backfill


def test_spans_rebuild_swaps_the_local_tables_behind_the_distributed_front(ddl: list[str]) -> None:
    """0060 copies spans into a table in the new order, through the Distributed fronts (sharded by
    trace id like spans), then swaps the local tables and drops the old data on every node."""
    rebuild = next(s for s in ddl if s.startswith(f"CREATE TABLE {DB}.spans_rebuild_local "))
    assert (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/spans_rebuild', '{replica}')" in rebuild
    )
    assert (
        "ORDER BY (project, toStartOfHour(start_time), service_name, prompt_name, model, start_time)"
        in rebuild
    )
    assert (
        f"CREATE TABLE {DB}.spans_rebuild ON CLUSTER prod AS {DB}.spans_rebuild_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'spans_rebuild_local', cityHash64(trace_id))"
    ) in ddl
    assert f"EXCHANGE TABLES {DB}.spans_local AND {DB}.spans_rebuild_local ON CLUSTER prod" in ddl
    drops = [s for s in ddl if s.startswith(f"DROP TABLE {DB}.spans_rebuild")]
    assert drops == [
        f"DROP TABLE {DB}.spans_rebuild ON CLUSTER prod SYNC",
        f"DROP TABLE {DB}.spans_rebuild_local ON CLUSTER prod SYNC",
    ]
    assert f"DROP VIEW IF EXISTS {DB}.trace_summaries_mv ON CLUSTER prod" in ddl


def test_drift_histograms_are_a_sharded_rollup_filled_from_the_local_spans(ddl: list[str]) -> None:
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/drift_hourly', "
        in _create(ddl, "drift_hourly_local")
    )
    assert "Distributed('prod', 'obs', 'drift_hourly_local', sipHash64(" in _create(ddl, "drift_hourly")
    view = _create(ddl, "drift_hourly_mv")
    assert f"TO {DB}.drift_hourly_local AS" in view and f"FROM {DB}.spans_local\n" in view


def test_tables_are_replicated_locals_behind_distributed_fronts(ddl: list[str]) -> None:
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/spans', '{replica}')"
        in _create(ddl, "spans_local")
    )
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/scores', '{replica}', timestamp)"
        in _create(ddl, "scores_local")
    )
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/spans_hourly', "
        in (_create(ddl, "spans_hourly_local"))
    )
    assert "ENGINE = ReplicatedSummingMergeTree(" in _create(ddl, "cost_5m_local")
    assert _create(ddl, "spans") == (
        f"CREATE TABLE IF NOT EXISTS {DB}.spans ON CLUSTER prod AS {DB}.spans_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'spans_local', cityHash64(trace_id))"
    )
    assert "Distributed('prod', 'obs', 'scores_local', cityHash64(trace_id))" in _create(ddl, "scores")
    # GenAI event content lives on the shard of the span it belongs to.
    assert "Distributed('prod', 'obs', 'span_content_local', cityHash64(trace_id))" in _create(
        ddl, "span_content"
    )
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/span_content', "
        "'{replica}', ingested_at)" in _create(ddl, "span_content_local")
    )
    assert "Distributed('prod', 'obs', 'spans_hourly_local', sipHash64((project, " in _create(
        ddl, "spans_hourly"
    )
    # The local tables keep the full column list, TTL and settings of the single-node DDL.
    spans_local = _create(ddl, "spans_local")
    assert "TTL toDateTime(start_time) + toIntervalDay(90)" in spans_local
    assert (
        "non_replicated_deduplication_window" in spans_local
        and "cost_usd            Nullable(Float64)" in spans_local
    )


def test_views_read_and_write_the_local_tables(ddl: list[str]) -> None:
    # 0003 creates the hourly view, 0060 again after rebuilding spans, 0080 without the drift histograms.
    hourly = [s for s in ddl if s.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.spans_hourly_mv ")]
    assert len(hourly) == 3
    for view in hourly:
        assert f"TO {DB}.spans_hourly_local AS" in view and f"FROM {DB}.spans_local\n" in view
    drop = [s for s in ddl if s.startswith(f"DROP VIEW IF EXISTS {DB}.spans_hourly_mv")]
    assert drop == [f"DROP VIEW IF EXISTS {DB}.spans_hourly_mv ON CLUSTER prod"] * 2
    cost = _create(ddl, "cost_5m_mv")
    assert f"TO {DB}.cost_5m_local AS" in cost and f"FROM {DB}.spans_local\n" in cost


def test_summary_tables_shard_with_their_spans(ddl: list[str]) -> None:
    """A trace's summary rows live on the shard of its spans; session and user totals are partial
    -State values on every shard that has their spans, merged by the Distributed read."""
    assert "Distributed('prod', 'obs', 'trace_summaries_local', cityHash64(trace_id))" in _create(
        ddl, "trace_summaries"
    )
    for table in ("trace_summaries", "session_summaries", "user_summaries"):
        assert (
            f"ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{table}', "
            in _create(ddl, f"{table}_local")
        )
        view = _create(ddl, f"{table}_mv")
        assert f"TO {DB}.{table}_local AS" in view and re.search(rf"FROM {DB}\.spans_local\b", view)


def test_later_migrations_on_sharded_tables_target_the_local_tables(tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    (copy / "9999_more.sql").write_text(
        "ALTER TABLE {{database}}.spans {{on_cluster}} ADD COLUMN IF NOT EXISTS region LowCardinality(String);\n"
        "ALTER TABLE {{database}}.cost_5m {{on_cluster}} MODIFY SETTING merge_with_ttl_timeout = 3600;\n"
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.by_region_mv {{on_cluster}} TO {{database}}.cost_5m "
        "AS SELECT * FROM {{database}}.spans;\n"
    )
    ddl = render_ddl(DB, cluster="prod", directory=copy)
    assert ddl[-4:] == [
        # A new column goes to the local table and to its Distributed front; a setting only to the local table.
        f"ALTER TABLE {DB}.spans_local ON CLUSTER prod ADD COLUMN IF NOT EXISTS region LowCardinality(String)",
        f"ALTER TABLE {DB}.spans ON CLUSTER prod ADD COLUMN IF NOT EXISTS region LowCardinality(String)",
        f"ALTER TABLE {DB}.cost_5m_local ON CLUSTER prod MODIFY SETTING merge_with_ttl_timeout = 3600",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.by_region_mv ON CLUSTER prod TO {DB}.cost_5m_local "
        f"AS SELECT * FROM {DB}.spans_local",
    ]


def test_control_tables_are_replicated_to_every_node_unsharded(ddl: list[str]) -> None:
    ledger = _create(ddl, "schema_migrations")
    assert "ReplicatedMergeTree('/clickhouse/tables/{database}/schema_migrations', '{replica}')" in ledger
    assert not any("schema_migrations_local" in s for s in ddl)
    created = {m.group(1) for s in ddl if (m := re.match(rf"CREATE TABLE IF NOT EXISTS {DB}\.(\w+) ", s))}
    for table in UNSHARDED_TABLES & created:
        assert f"'/clickhouse/tables/{{database}}/{table}', '{{replica}}'" in _create(ddl, table)
        assert f"{table}_local" not in created


def test_cluster_ddl_parses_in_clickhouse(store: Store, ddl: list[str]) -> None:
    for statement in ddl:
        formatted = store.client.query(
            "SELECT formatQuery({q:String})", parameters={"q": statement}
        ).result_rows
        assert "ON CLUSTER prod" in formatted[0][0] or statement.startswith("INSERT ")


def test_single_node_ddl_has_no_cluster_artifacts_and_runs_on_chdb(store: Store) -> None:
    ddl = render_ddl("fresh_single", span_ttl_days=7)
    assert not any(re.search(r"ON CLUSTER|Replicated|Distributed|_local\b", s) for s in ddl)
    try:
        for statement in ddl:
            store.client.command(statement)
        tables = store.client.query(
            "SELECT name FROM system.tables WHERE database = 'fresh_single'"
        ).result_rows
        assert {"spans", "scores", "spans_hourly", "cost_5m", "schema_migrations"} <= {t[0] for t in tables}
    finally:
        store.client.command("DROP DATABASE IF EXISTS fresh_single SYNC")


@pytest.mark.parametrize("name", ["bad-name", "x; DROP", ""])
def test_invalid_cluster_name_is_refused(name: str) -> None:
    with pytest.raises(StoreError, match="invalid cluster name"):
        render_ddl(DB, cluster=name or " ")


def test_spans_by_id_and_the_summaries_copies_on_a_cluster(ddl: list[str]) -> None:
    """0090: spans_by_id lives beside its spans (sharded by trace id), its view reads the local
    spans, its backfill goes through the Distributed fronts. 0091: each summary table is copied
    through its front into a `_rebuild` table sharded like it, and the local tables are swapped."""
    by_id = next(s for s in ddl if s.startswith(f"CREATE TABLE {DB}.spans_by_id_local "))
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/spans_by_id', '{replica}')" in by_id
    assert "ORDER BY (project, owner, owner_id, start_time, trace_id, span_id)" in by_id
    assert (
        f"CREATE TABLE {DB}.spans_by_id ON CLUSTER prod AS {DB}.spans_by_id_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'spans_by_id_local', cityHash64(trace_id))"
    ) in ddl
    view = _create(ddl, "spans_by_id_mv")
    assert f"TO {DB}.spans_by_id_local AS" in view and f"FROM {DB}.spans_local\n" in view
    backfill = next(s for s in ddl if s.startswith(f"INSERT INTO {DB}.spans_by_id\n"))
    assert f"FROM {DB}.spans\n" in backfill and "distributed_foreground_insert = 1" in backfill
    # A re-run drops both the front and the local table before creating them again (0090, 0150).
    assert [s for s in ddl if s.startswith(f"DROP TABLE IF EXISTS {DB}.spans_by_id")] == 2 * [
        f"DROP TABLE IF EXISTS {DB}.spans_by_id ON CLUSTER prod SYNC",
        f"DROP TABLE IF EXISTS {DB}.spans_by_id_local ON CLUSTER prod SYNC",
    ]

    for table, granularity in (
        ("trace_summaries", 1024),
        ("session_summaries", 256),
        ("user_summaries", 256),
    ):
        rebuild = next(s for s in ddl if s.startswith(f"CREATE TABLE {DB}.{table}_rebuild_local "))
        assert (
            f"ReplicatedAggregatingMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{table}_rebuild', "
            in rebuild
        )
        assert f"index_granularity = {granularity}" in rebuild
        front = next(s for s in ddl if s.startswith(f"CREATE TABLE {DB}.{table}_rebuild ON CLUSTER"))
        original = _create(ddl, table)
        assert front.split(f"'{table}_rebuild_local', ")[1] == original.split(f"'{table}_local', ")[1]
        assert f"EXCHANGE TABLES {DB}.{table}_local AND {DB}.{table}_rebuild_local ON CLUSTER prod" in ddl
        copy = next(s for s in ddl if s.startswith(f"INSERT INTO {DB}.{table}_rebuild "))
        assert f"FROM {DB}.{table}\n" in copy
        view = _create(ddl, f"{table}_mv")
        assert f"TO {DB}.{table}_local AS" in view


def test_llm_calls_shard_with_their_spans_and_backfill_through_the_front(ddl: list[str]) -> None:
    """0100's narrow table of LLM calls: sharded by trace id like spans and scores (a score meets
    its trace's calls on one shard), filled from the local spans by its view, backfilled through
    the Distributed fronts, and dropped on both the front and the local tables on a re-run."""
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/llm_calls', '{replica}')"
        in _create(ddl, "llm_calls_local")
    )
    assert _create(ddl, "llm_calls") == (
        f"CREATE TABLE IF NOT EXISTS {DB}.llm_calls ON CLUSTER prod AS {DB}.llm_calls_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'llm_calls_local', cityHash64(trace_id))"
    )
    view = _create(ddl, "llm_calls_mv")
    assert f"TO {DB}.llm_calls_local AS" in view and f"FROM {DB}.spans_local\n" in view
    backfill = _insert(ddl, "llm_calls")
    assert f"FROM {DB}.spans\n" in backfill and "distributed_foreground_insert = 1" in backfill
    drops = [s for s in ddl if re.match(rf"DROP TABLE IF EXISTS {DB}\.llm_calls", s)]
    assert drops == [
        f"DROP TABLE IF EXISTS {DB}.llm_calls ON CLUSTER prod SYNC",
        f"DROP TABLE IF EXISTS {DB}.llm_calls_local ON CLUSTER prod SYNC",
    ]
    # The view is dropped before the table it writes, and created after the backfill.
    order = [ddl.index(s) for s in (f"DROP VIEW IF EXISTS {DB}.llm_calls_mv ON CLUSTER prod", drops[0])]
    assert order[0] < order[1] < ddl.index(backfill) < ddl.index(view)


def test_scored_calls_shard_with_their_scores_and_backfill_through_the_front(ddl: list[str]) -> None:
    """0110's scores with their calls: sharded by trace id like the scores and calls they are made
    from, replicated with their version and deletion columns, backfilled through the Distributed fronts (the
    scored traces found with GLOBAL IN, so no shard is asked to read another's scores), and
    dropped on both the front and the local tables on a re-run."""
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/scored_calls',"
        " '{replica}', version, is_deleted)" in _create(ddl, "scored_calls_local")
    )
    assert _create(ddl, "scored_calls") == (
        f"CREATE TABLE IF NOT EXISTS {DB}.scored_calls ON CLUSTER prod AS {DB}.scored_calls_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'scored_calls_local', cityHash64(trace_id))"
    )
    backfill = _insert(ddl, "scored_calls")
    assert f"FROM {DB}.scores FINAL" in backfill and f"FROM {DB}.llm_calls\n" in backfill
    assert f"GLOBAL IN (SELECT project, cityHash64(trace_id) FROM {DB}.scores)" in backfill
    assert "distributed_foreground_insert = 1" in backfill
    drops = [s for s in ddl if re.match(rf"DROP TABLE IF EXISTS {DB}\.scored_calls", s)]
    assert drops == [
        f"DROP TABLE IF EXISTS {DB}.scored_calls ON CLUSTER prod SYNC",
        f"DROP TABLE IF EXISTS {DB}.scored_calls_local ON CLUSTER prod SYNC",
    ]
    assert ddl.index(drops[0]) < ddl.index(_create(ddl, "scored_calls")) < ddl.index(backfill)


def test_pending_scores_shard_with_their_trace_and_their_views_read_the_local_tables(ddl: list[str]) -> None:
    """0130's pending scored traces: sharded by the trace key (cityHash64 of the trace id, so the
    shard of the trace's scores and calls), filled and emptied by views on each shard's local
    `scores` and `scored_calls`, backfilled through the front after the views exist."""
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/scores_pending',"
        " '{replica}', version, is_deleted)" in _create(ddl, "scores_pending_local")
    )
    assert _create(ddl, "scores_pending") == (
        f"CREATE TABLE IF NOT EXISTS {DB}.scores_pending ON CLUSTER prod AS {DB}.scores_pending_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'scores_pending_local', trace_key)"
    )
    added, removed = _create(ddl, "scores_pending_mv"), _create(ddl, "scores_attributed_mv")
    assert f"TO {DB}.scores_pending_local AS" in added and f"FROM {DB}.scores_local" in added
    assert f"TO {DB}.scores_pending_local AS" in removed and f"FROM {DB}.scored_calls_local" in removed
    backfill = _insert(ddl, "scores_pending")
    assert f"GLOBAL NOT IN (SELECT project, cityHash64(trace_id) FROM {DB}.scored_calls)" in backfill
    assert "distributed_foreground_insert = 1" in backfill
    assert ddl.index(added) < ddl.index(backfill) and ddl.index(removed) < ddl.index(backfill)


def test_scores_by_trace_shard_with_their_trace_and_their_view_reads_the_local_scores(ddl: list[str]) -> None:
    """0140's scores sorted by trace: sharded by the trace key (the shard of the scores they copy
    and of the trace's calls, which attribution joins them to), filled by a view on each shard's
    local `scores`, backfilled through the front after the view exists."""
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/scores_by_trace',"
        " '{replica}', timestamp)" in _create(ddl, "scores_by_trace_local")
    )
    assert _create(ddl, "scores_by_trace") == (
        f"CREATE TABLE IF NOT EXISTS {DB}.scores_by_trace ON CLUSTER prod AS {DB}.scores_by_trace_local\n"
        f"ENGINE = Distributed('prod', '{DB}', 'scores_by_trace_local', trace_key)"
    )
    view = _create(ddl, "scores_by_trace_mv")
    assert f"TO {DB}.scores_by_trace_local AS" in view and f"FROM {DB}.scores_local" in view
    backfill = _insert(ddl, "scores_by_trace")
    assert f"FROM {DB}.scores\n" in backfill and "distributed_foreground_insert = 1" in backfill
    assert ddl.index(view) < ddl.index(backfill)
