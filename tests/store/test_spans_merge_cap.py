"""Migration 0145: merges of `spans` stop at parts of 1 GiB (each merge rewrites the content and
rebuilds the token index), on a fresh install and on an upgraded store, without rewriting or
changing what the store holds."""

from __future__ import annotations

from pathlib import Path

from older_store import store_before
from spans_factory import make_rows
from table_settings import merge_tree_setting

from llmtrace.store import Store
from llmtrace.store.migrate import Renderer, load_migrations, render_ddl

CAP = "0145_spans_merge_cap.sql"
SETTING = "max_bytes_to_merge_at_max_space_in_pool"


def test_merges_of_spans_stop_at_one_gib_and_no_other_table_is_capped(store: Store) -> None:
    caps = merge_tree_setting(store, SETTING)
    assert caps.pop("spans") == 1 << 30
    # The copies are narrow (a rewrite of them is cheap): ClickHouse's default still applies.
    assert set(caps.values()) == {None}


def test_an_upgraded_store_keeps_its_rows_and_the_migration_runs_again(chdb_dsn: str, tmp_path: Path) -> None:
    with store_before(chdb_dsn, tmp_path / "before", CAP) as old:
        rows = make_rows(300)
        for i in range(0, len(rows), 100):  # several parts
            old.insert_spans(rows[i : i + 100])
        count = "SELECT count(), sum(input_tokens) FROM {db:Identifier}.spans"
        before = old.client.query(count, parameters={"db": old.database}).result_rows
        assert merge_tree_setting(old, SETTING)["spans"] is None

        old.migrate()
        assert merge_tree_setting(old, SETTING)["spans"] == 1 << 30
        assert old.client.query(count, parameters={"db": old.database}).result_rows == before

        # An interrupted run is run again from its first statement: every statement is idempotent.
        (migration,) = [m for m in load_migrations() if m.name == CAP]
        renderer = Renderer(old.database, 90, 400, None, frozenset())
        for statement in renderer.statements(migration.template, migration.name):
            old.client.command(statement)
        assert merge_tree_setting(old, SETTING)["spans"] == 1 << 30
        assert old.client.query(count, parameters={"db": old.database}).result_rows == before


def test_on_a_cluster_the_cap_goes_to_the_local_spans_table() -> None:
    statements = [s for s in render_ddl("obs", cluster="prod") if "max_bytes_to_merge" in s]
    assert statements == [
        "ALTER TABLE obs.spans_local ON CLUSTER prod MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1073741824"
    ]
