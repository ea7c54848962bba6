"""Migration 0135: every table a span block writes (`spans` and the targets of the views that read
it) merges about ten parts at a time instead of five, on a fresh install and on an upgraded store,
without rewriting or changing what the store holds."""

from __future__ import annotations

import re
from pathlib import Path

from older_store import store_before
from spans_factory import make_rows
from table_settings import merge_tree_setting

from llmtrace.store import Store
from llmtrace.store.migrate import Renderer, load_migrations, render_ddl

WIDER = "0135_wider_merges.sql"
SETTING = "merge_selector_base"


def _span_block_tables(store: Store) -> set[str]:
    """`spans` and every table a materialized view on `spans` writes to, asked of the store."""
    rows = store.client.query(
        "SELECT create_table_query FROM system.tables"
        " WHERE database = {db:String} AND engine = 'MaterializedView'",
        parameters={"db": store.database},
    ).result_rows
    db = re.escape(store.database)
    targets = {
        target.group(1)
        for (query,) in rows
        if re.search(rf"\bFROM {db}\.spans\b", query) and (target := re.search(rf"\bTO {db}\.(\w+)", query))
    }
    return {"spans", *targets}


def test_every_table_a_span_block_writes_merges_wider(store: Store) -> None:
    bases = merge_tree_setting(store, SETTING)
    written = _span_block_tables(store)
    assert len(written) == 11  # spans and the ten tables its views fill (0003-0121)
    assert {table: bases[table] for table in written} == dict.fromkeys(written, 10)
    # Tables written per request or per score keep ClickHouse's default.
    assert {table: bases[table] for table in ("scores", "scored_calls", "span_content")} == dict.fromkeys(
        ("scores", "scored_calls", "span_content")
    )


def test_an_upgraded_store_keeps_its_rows_and_the_migration_runs_again(chdb_dsn: str, tmp_path: Path) -> None:
    with store_before(chdb_dsn, tmp_path / "before", WIDER) as old:
        rows = make_rows(400)
        for i in range(0, len(rows), 100):  # several parts
            old.insert_spans(rows[i : i + 100])
        counts = "SELECT (SELECT count() FROM {db:Identifier}.spans), (SELECT count() FROM {db:Identifier}.llm_calls)"
        before = old.client.query(counts, parameters={"db": old.database}).result_rows
        assert set(merge_tree_setting(old, SETTING).values()) == {None}

        old.migrate()
        written = _span_block_tables(old)
        assert {table: merge_tree_setting(old, SETTING)[table] for table in written} == dict.fromkeys(
            written, 10
        )
        assert old.client.query(counts, parameters={"db": old.database}).result_rows == before

        # An interrupted run is run again from its first statement: every statement is idempotent.
        (migration,) = [m for m in load_migrations() if m.name == WIDER]
        renderer = Renderer(old.database, 90, 400, None, frozenset())
        for statement in renderer.statements(migration.template, migration.name):
            old.client.command(statement)
        assert {table: merge_tree_setting(old, SETTING)[table] for table in written} == dict.fromkeys(
            written, 10
        )
        assert old.client.query(counts, parameters={"db": old.database}).result_rows == before


def test_on_a_cluster_the_setting_goes_to_each_local_table() -> None:
    ddl = render_ddl("obs", cluster="prod")
    statements = [s for s in ddl if "merge_selector_base" in s]
    assert len(statements) == 12  # 0135's eleven, and 0150's for the spans_by_id it rebuilds
    assert all(
        re.fullmatch(r"ALTER TABLE obs\.\w+_local ON CLUSTER prod MODIFY SETTING merge_selector_base = 10", s)
        for s in statements
    ), statements
