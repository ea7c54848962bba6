"""Migrations against the real embedded engine: fresh install, no-op re-run, tamper refusal, TTLs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from spans_factory import make_rows

from llmtrace.store import Store, StoreError
from llmtrace.store.migrate import load_migrations, migrations_dir


def _tables(store: Store) -> dict[str, str]:
    rows = store.client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}",
        parameters={"db": store.database},
    ).result_rows
    return dict(rows)


def _engine_full(store: Store, table: str) -> str:
    return store.client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": store.database, "t": table},
    ).result_rows[0][0]


def test_fresh_migrate_creates_every_table_and_records_each_file(bare_store: Store) -> None:
    names = [m.name for m in load_migrations()]
    assert bare_store.migrate() == names
    expected = {
        "schema_migrations": "MergeTree",
        "spans": "MergeTree",
        "scores": "ReplacingMergeTree",
        "spans_hourly": "AggregatingMergeTree",
        "spans_hourly_mv": "MaterializedView",
        "cost_5m": "SummingMergeTree",
        "cost_5m_mv": "MaterializedView",
    }
    assert expected.items() <= _tables(bare_store).items()
    recorded = bare_store.client.query(
        "SELECT name, checksum, applied_at FROM {db:Identifier}.schema_migrations ORDER BY name",
        parameters={"db": bare_store.database},
    ).result_rows
    assert [r[0] for r in recorded] == names
    assert [r[1] for r in recorded] == [m.checksum for m in load_migrations()]
    assert all(r[2].tzinfo is not None for r in recorded)
    assert "toIntervalDay(90)" in _engine_full(bare_store, "spans")
    assert "toIntervalDay(400)" in _engine_full(bare_store, "spans_hourly")
    assert bare_store.client.command("SELECT currentDatabase()") == bare_store.database


def test_second_migrate_is_a_no_op(store: Store) -> None:
    before = store.client.command(f"SELECT count() FROM {store.database}.schema_migrations")
    assert store.migrate() == []
    assert store.client.command(f"SELECT count() FROM {store.database}.schema_migrations") == before


def test_changed_applied_migration_is_refused_naming_the_file(bare_store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    bare_store.migrate(migrations_dir=copy)
    tampered = copy / "0002_scores.sql"
    tampered.write_text(tampered.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(StoreError, match=r"0002_scores\.sql was changed after it was applied") as info:
        bare_store.migrate(migrations_dir=copy)
    assert "\n" not in str(info.value)


def test_new_migration_file_is_applied_on_the_next_run(bare_store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    bare_store.migrate(migrations_dir=copy)
    (copy / "0099_extra.sql").write_text(
        "-- a comment; with a semicolon\nCREATE TABLE IF NOT EXISTS {{database}}.extra {{on_cluster}}\n"
        "(x String DEFAULT 'a;b') ENGINE = MergeTree() ORDER BY x;\n"
    )
    assert bare_store.migrate(migrations_dir=copy) == ["0099_extra.sql"]
    assert _tables(bare_store)["extra"] == "MergeTree"


def test_ttl_zero_means_no_ttl_and_rerun_with_another_ttl_alters_it(bare_store: Store) -> None:
    bare_store.migrate(span_ttl_days=0)
    assert " TTL " not in _engine_full(bare_store, "spans")
    assert "toIntervalDay(400)" in _engine_full(bare_store, "cost_5m")

    bare_store.migrate(span_ttl_days=30, rollup_ttl_days=800)
    assert "TTL toDateTime(start_time) + toIntervalDay(30)" in _engine_full(bare_store, "spans")
    assert "TTL hour + toIntervalDay(800)" in _engine_full(bare_store, "spans_hourly")
    assert "TTL t + toIntervalDay(800)" in _engine_full(bare_store, "cost_5m")

    bare_store.migrate()  # no TTL given: the existing ones are kept
    assert "toIntervalDay(30)" in _engine_full(bare_store, "spans")

    bare_store.migrate(span_ttl_days=0)
    assert " TTL " not in _engine_full(bare_store, "spans")


@pytest.mark.parametrize("days", [-1, 1.5, True])
def test_invalid_ttl_is_refused(bare_store: Store, days: object) -> None:
    with pytest.raises(StoreError, match="TTL must be a whole number of days"):
        bare_store.migrate(span_ttl_days=days)  # type: ignore[arg-type]


def test_unknown_placeholder_names_the_file(bare_store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    (copy / "0099_typo.sql").write_text("CREATE TABLE {{database}}.x {{on_clustr}} (x String) ENGINE = Log;")
    with pytest.raises(StoreError, match=r"^0099_typo\.sql: unknown placeholder \{\{on_clustr\}\}"):
        bare_store.migrate(migrations_dir=copy)


def test_span_ttl_drops_backfilled_rows_while_rollups_keep_them(store: Store) -> None:
    """Documented in docs/scaling.md: a TTL silently drops inserted rows that are already older than it."""
    old = datetime.now(UTC) - timedelta(days=200)
    rows = [
        r | {"start_time": old, "end_time": old + timedelta(seconds=1)}
        for r in make_rows(5)
        if r["kind"] == "llm"
    ]
    store.insert_spans(rows)
    store.client.command(f"OPTIMIZE TABLE {store.database}.spans FINAL")
    store.client.command(f"OPTIMIZE TABLE {store.database}.spans_hourly FINAL")
    assert store.client.command(f"SELECT count() FROM {store.database}.spans") == 0
    assert store.client.command(f"SELECT countMerge(calls) FROM {store.database}.spans_hourly") == len(rows)


def test_content_codec_migration_keeps_existing_parts_and_rows(bare_store: Store, tmp_path: Path) -> None:
    """0020 changes only the content columns' codec: a store with spans keeps every row and part
    (no mutation rewrites them); parts written afterwards, and merges, use ZSTD(1)."""
    _migrate_before(bare_store, tmp_path, "0020")
    rows = make_rows(200)
    bare_store.insert_spans(rows)
    parts_before = _active_parts(bare_store)

    assert "0020_spans_content_codec.sql" in bare_store.migrate()

    assert _active_parts(bare_store) == parts_before
    mutations = bare_store.client.query(
        "SELECT count() FROM system.mutations WHERE database = {db:String} AND table = 'spans'",
        parameters={"db": bare_store.database},
    ).result_rows[0][0]
    assert mutations == 0  # (0080 drops the drift histogram columns of spans_hourly, a mutation there)
    codecs = dict(
        bare_store.client.query(
            "SELECT name, compression_codec FROM system.columns WHERE database = {db:String} AND table = 'spans'"
            " AND name IN ('input', 'output', 'error_message', 'attributes')",
            parameters={"db": bare_store.database},
        ).result_rows
    )
    assert codecs == dict.fromkeys(["input", "output", "error_message", "attributes"], "CODEC(ZSTD(1))")
    bare_store.insert_spans(make_rows(50, seed=8))
    bare_store.client.command(f"OPTIMIZE TABLE {bare_store.database}.spans FINAL")
    stored = bare_store.client.query(
        "SELECT span_id, input, output FROM {db:Identifier}.spans ORDER BY span_id",
        parameters={"db": bare_store.database},
    ).result_rows
    expected = sorted((r["span_id"], r["input"], r["output"]) for r in rows + make_rows(50, seed=8))
    assert stored == expected


def _migrate_before(store: Store, tmp_path: Path, first_pending: str) -> None:
    """Apply the migrations numbered before ``first_pending`` only, as an older release had."""
    before = tmp_path / "before"
    before.mkdir()
    for path in migrations_dir().glob("*.sql"):
        if path.name < first_pending:
            shutil.copy(path, before)
    store.migrate(migrations_dir=before)


def _active_parts(store: Store) -> list[str]:
    return [
        name
        for (name,) in store.client.query(
            "SELECT name FROM system.parts WHERE database = {db:String} AND table = 'spans' AND active ORDER BY name",
            parameters={"db": store.database},
        ).result_rows
    ]


def test_drift_histogram_migration_moves_the_rollup_histograms_exactly(
    bare_store: Store, tmp_path: Path
) -> None:
    """0080 moves the drift histograms from spans_hourly's -State columns to drift_hourly's plain
    arrays: the backfill equals what spans_hourly held, and spans written afterwards are counted
    once in each table."""
    _migrate_before(bare_store, tmp_path, "0080")
    bare_store.insert_spans(make_rows(300))
    hists = "latency_hist, ttft_hist, input_tokens_hist, output_tokens_hist, cost_hist, output_chars_hist, finish_mix, error_mix, status_mix"
    keys = "project, hour, service_name, environment, model, provider, prompt_name, prompt_version"

    def grouped(sql: str) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        rows = bare_store.client.query(sql, parameters={"db": bare_store.database}).result_rows
        return {tuple(r[:8]): tuple(r[8:]) for r in rows}

    merged = ", ".join(f"sumMapMerge({h})" for h in hists.split(", "))
    old = grouped(f"SELECT {keys}, {merged} FROM {{db:Identifier}}.spans_hourly GROUP BY {keys}")
    assert old and "0080_drift_hourly.sql" in bare_store.migrate()
    summed = ", ".join(f"sumMap({h})" for h in hists.split(", "))
    new_hists = f"SELECT {keys}, {summed} FROM {{db:Identifier}}.drift_hourly GROUP BY {keys}"
    assert grouped(new_hists) == old

    bare_store.insert_spans(make_rows(300, seed=8))
    after = grouped(new_hists)
    calls = grouped(f"SELECT {keys}, countMerge(calls) FROM {{db:Identifier}}.spans_hourly GROUP BY {keys}")
    assert set(after) == set(calls)
    for key, (latency, *_) in after.items():
        assert sum(latency[1]) == calls[key][0]
    assert sum(c for (c,) in calls.values()) > sum(sum(h[0][1]) for h in old.values())


def test_a_merge_tree_setting_the_server_lacks_is_skipped_and_one_it_has_is_set(
    bare_store: Store, tmp_path: Path
) -> None:
    """Merge tuning settings newer than ClickHouse 24 (0135's ``merge_selector_base``) must not
    stop an older server's migration; a setting the server has is applied."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), copy)
    (copy / "0999_tuning.sql").write_text(
        "CREATE TABLE IF NOT EXISTS {{database}}.tuned {{on_cluster}} (x String) ENGINE = MergeTree() ORDER BY x;\n"
        "ALTER TABLE {{database}}.tuned {{on_cluster}} MODIFY SETTING no_server_has_this_setting = 10;\n"
        "ALTER TABLE {{database}}.tuned {{on_cluster}}\n    MODIFY SETTING merge_with_ttl_timeout = 7200;\n"
    )
    assert bare_store.migrate(migrations_dir=copy)[-1] == "0999_tuning.sql"
    assert "merge_with_ttl_timeout = 7200" in _engine_full(bare_store, "tuned")
    assert "no_server_has_this_setting" not in _engine_full(bare_store, "tuned")
