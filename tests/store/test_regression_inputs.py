"""Migrations 0120 ``calls_hourly`` and 0121 ``call_samples``: what a regression report reads.

A report must answer exactly as when it read every call (the test swaps both tables for views over
``spans`` and asks again, over whole hours, off the hour, by dimension and by time windows); the
sample must be the same calls (``cityHash64(span_id)``) whatever the keep fraction; an older store
is backfilled once; an interrupted migration re-runs without counting a call twice; new spans
reach both tables through their views; both keep the spans' TTL.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from spans_factory import make_rows
from test_llm_calls import _same, _traffic, from_on

from llmtrace.store import Store
from llmtrace.store.migrate import Renderer, apply_migrations, load_migrations, migrations_dir
from llmtrace.store.queries import regressions as q
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from tests.analytics.synth import NOW

MIGRATIONS = ("0120_calls_hourly.sql", "0121_call_samples.sql")
SEGMENT = "project, service_name, environment, model, provider, prompt_name, prompt_version"
CALLS = "{db}.spans WHERE kind IN ('llm', 'embedding')"
# The two tables as views computing the same rows from every call in `spans`.
VIEWS = {
    "calls_hourly": f"""SELECT {SEGMENT}, toStartOfHour(start_time) AS hour, toUInt64(1) AS calls,
        toUInt64(status = 'error') AS errors, toUInt64(isNotNull(cost_usd)) AS priced,
        if(isNull(cost_usd), toDecimal256(0, 15), toDecimal256(assumeNotNull(cost_usd), 15)) AS cost_sum,
        if(isNull(cost_usd), toDecimal256(0, 30),
           toDecimal256(assumeNotNull(cost_usd), 15) * toDecimal256(assumeNotNull(cost_usd), 15)) AS cost_sumsq,
        toUInt256(input_tokens) AS in_sum, toUInt256(input_tokens) * input_tokens AS in_sumsq,
        toUInt256(output_tokens) AS out_sum, toUInt256(output_tokens) * output_tokens AS out_sumsq
        FROM {CALLS}""",
    "call_samples": f"""SELECT {SEGMENT}, toUInt32(cityHash64(span_id) % 1000000) AS sample_key,
        start_time, duration_ms, ttft_ms FROM {CALLS}""",
}


def _reports(store: Store) -> dict[str, Any]:
    """Regression reports over every way of naming cohorts, plus the raw samples at two keeps."""
    week = (NOW - timedelta(days=7), NOW + timedelta(hours=1))
    off = (NOW - timedelta(days=2, minutes=17), NOW - timedelta(minutes=17))
    windows = (NOW - timedelta(days=7), NOW - timedelta(days=1), NOW - timedelta(days=1), NOW)
    versions = build_cohorts("prompt_version", "v1", "v2", *week, None, None, None, None)
    reports = {
        "versions": compute_regressions(store, "default", versions, {}),
        "versions_by_service": compute_regressions(store, "default", versions, {"service": "chat"}),
        "models_off_hour": compute_regressions(
            store, "default", build_cohorts("model", "gpt-4o", "claude-sonnet-4", *off, *[None] * 4), {}
        ),
        "providers": compute_regressions(
            store, "default", build_cohorts("provider", "openai", "anthropic", *week, *[None] * 4), {}
        ),
        "windows": compute_regressions(
            store, "default", build_cohorts(None, None, None, None, None, *windows), {"model": "gpt-4o"}
        ),
    }
    for keep in ({0: 1_000_000, 1: 1_000_000}, {0: 250_000, 1: 40_000}):
        for stratify in (False, True):
            key = f"sample_{keep[1]}_{stratify}"
            rows = q.span_summaries(store, "default", versions, {}, keep, stratify)
            reports[key] = sorted(rows, key=lambda r: (r["is_b"], r["stratum"]))
            reports[key + "_mwu"] = q.mann_whitney(store, "default", versions, {}, keep)
    return reports


def test_reports_answer_as_if_they_read_every_call(store: Store) -> None:
    _traffic(store)
    db = store.database
    from_tables = _reports(store)
    versions = from_tables["versions"]
    assert versions["verdict"] == "regressed" and versions["stratified_by"] == "model"  # says something
    assert from_tables["windows"]["cohorts"]["b"]["n"] > 0
    sampled = {int(r["is_b"]): r for r in from_tables["sample_40000_False"] if r["stratum"] == ""}
    assert 0 < sampled[1]["lat_n"] < sampled[1]["n"] / 10 and sampled[0]["lat_n"] < sampled[0]["n"] / 2
    for table, select in VIEWS.items():
        store.client.command(f"DROP VIEW {db}.{table}_mv")
        store.client.command(f"DROP TABLE {db}.{table} SYNC")
        store.client.command(f"CREATE VIEW {db}.{table} AS {select.format(db=db)}")
    _same(from_tables, _reports(store))


@pytest.mark.parametrize("dimension", ["prompt_version", "model"])
def test_whole_hours_read_the_rollup_and_answer_as_every_call(store: Store, dimension: str) -> None:
    """Bounds on whole hours read ``calls_hourly``; the same calls bounded a microsecond later
    are summed call by call from ``llm_calls``: the reports are the same, to the last digit."""
    _traffic(store)
    since, until = NOW - timedelta(days=7), NOW + timedelta(hours=1)
    a, b = ("v1", "v2") if dimension == "prompt_version" else ("gpt-4o", "claude-sonnet-4")
    hours = build_cohorts(dimension, a, b, since, until, *[None] * 4)
    nudged = build_cohorts(dimension, a, b, since + timedelta(microseconds=1), until, *[None] * 4)
    assert hours.whole_hours() and not nudged.whole_hours()
    first = store.client.command(
        f"SELECT count() FROM {store.database}.llm_calls WHERE start_time < {{s:DateTime64(6)}}",
        parameters={"s": nudged.since},
    )
    assert first == store.client.command(
        f"SELECT count() FROM {store.database}.llm_calls WHERE start_time < {{s:DateTime64(6)}}",
        parameters={"s": since},
    )
    from_hours = compute_regressions(store, "default", hours, {"service": "chat"})
    from_calls = compute_regressions(store, "default", nudged, {"service": "chat"})
    assert from_hours["cohorts"].pop("since") != from_calls["cohorts"].pop("since")
    assert from_hours == from_calls
    assert from_hours["cohorts"]["a"]["n"] > 100 and from_hours["cohorts"]["b"]["n"] > 100


def test_the_sample_is_the_calls_whose_hash_is_below_keep(store: Store) -> None:
    """The sampled latencies are exactly those of the calls with ``cityHash64(span_id) % 10^6 < keep``."""
    _traffic(store)
    cohorts = build_cohorts(
        "prompt_version", "v1", "v2", NOW - timedelta(days=7), NOW + timedelta(hours=1), *[None] * 4
    )
    keep = {0: 123_456, 1: 654_321}
    rows = q.span_summaries(store, "default", cohorts, {}, keep, False)
    for row in rows:
        version = "v2" if row["is_b"] else "v1"
        expected = store.client.query(
            f"SELECT duration_ms FROM {store.database}.spans WHERE kind = 'llm'"
            " AND prompt_version = {v:String} AND cityHash64(span_id) % 1000000 < {k:UInt32}"
            " ORDER BY duration_ms",
            parameters={"v": version, "k": keep[row["is_b"]]},
        ).result_rows
        assert row["lat_s"] == [r[0] for r in expected] and len(expected) > 20


def test_new_spans_reach_both_tables_through_their_views(store: Store) -> None:
    store.insert_spans(make_rows(200))
    store.insert_spans(make_rows(150, seed=9))
    db = store.database
    assert _contents(store) == _expected(store)
    assert store.client.command(f"SELECT sum(calls) FROM {db}.calls_hourly") == store.client.command(
        f"SELECT count() FROM {db}.call_samples"
    )


def _contents(store: Store) -> tuple[list[Any], list[Any]]:
    db = store.database
    hourly = store.client.query(
        f"SELECT {SEGMENT}, hour, sum(calls), sum(errors), sum(priced), sum(cost_sum), sum(cost_sumsq),"
        f" sum(in_sum), sum(in_sumsq), sum(out_sum), sum(out_sumsq) FROM {db}.calls_hourly"
        f" GROUP BY {SEGMENT}, hour ORDER BY ALL"
    ).result_rows
    samples = store.client.query(f"SELECT * FROM {db}.call_samples ORDER BY ALL").result_rows
    return hourly, samples


def _expected(store: Store) -> tuple[list[Any], list[Any]]:
    """The same, computed from the calls in `spans` (views, created and dropped here)."""
    db = store.database
    out = []
    for table, select in VIEWS.items():
        store.client.command(f"CREATE VIEW {db}.{table}_expected AS {select.format(db=db)}")
    try:
        hourly = store.client.query(
            f"SELECT {SEGMENT}, hour, sum(calls), sum(errors), sum(priced), sum(cost_sum), sum(cost_sumsq),"
            f" sum(in_sum), sum(in_sumsq), sum(out_sum), sum(out_sumsq) FROM {db}.calls_hourly_expected"
            f" GROUP BY {SEGMENT}, hour ORDER BY ALL"
        ).result_rows
        columns = store.client.query(f"SELECT * FROM {db}.call_samples LIMIT 0").column_names
        samples = store.client.query(
            f"SELECT {', '.join(columns)} FROM {db}.call_samples_expected ORDER BY ALL"
        ).result_rows
        out = [hourly, samples]
    finally:
        for table in VIEWS:
            store.client.command(f"DROP VIEW {db}.{table}_expected")
    assert len(out[1]) > 250
    return out[0], out[1]


@pytest.fixture
def before(tmp_path: Path) -> Path:
    """The migrations up to (not including) 0120."""
    directory = tmp_path / "before"
    directory.mkdir()
    for path in migrations_dir().glob("*.sql"):
        if path.name < MIGRATIONS[0]:
            shutil.copy(path, directory)
    return directory


def test_an_older_store_is_backfilled_once(bare_store: Store, before: Path) -> None:
    apply_migrations(bare_store.client, bare_store.database, directory=before)
    bare_store.insert_spans(make_rows(300, seed=3))
    assert apply_migrations(bare_store.client, bare_store.database) == from_on(MIGRATIONS[0])
    assert _contents(bare_store) == _expected(bare_store)
    bare_store.insert_spans(make_rows(100, seed=4))  # after the migration: through the views, once
    assert apply_migrations(bare_store.client, bare_store.database) == []
    assert _contents(bare_store) == _expected(bare_store)


@pytest.mark.parametrize("migration", MIGRATIONS)
@pytest.mark.parametrize("stop_after", [3, 4])  # after the backfill; after the view too
def test_rerun_after_an_interruption_counts_each_call_once(
    bare_store: Store, before: Path, migration: str, stop_after: int
) -> None:
    """The migration was cut short before it was recorded: running it again starts over."""
    client, db = bare_store.client, bare_store.database
    apply_migrations(client, db, directory=before)
    bare_store.insert_spans(make_rows(300, seed=5))
    if migration == MIGRATIONS[1]:
        shutil.copy(migrations_dir() / MIGRATIONS[0], before)
        apply_migrations(client, db, directory=before)
    (found,) = [m for m in load_migrations() if m.name == migration]
    statements = Renderer(db, 90, 400).statements(found.template, found.name)
    assert statements[3].startswith(f"INSERT INTO {db}.{migration[5:-4]}")
    for statement in statements[: stop_after + 1]:
        client.command(statement)
    assert apply_migrations(client, db) == from_on(migration)
    assert _contents(bare_store) == _expected(bare_store)


@pytest.mark.parametrize("table", ["calls_hourly", "call_samples"])
def test_both_keep_the_span_ttl(bare_store: Store, table: str) -> None:
    client, db = bare_store.client, bare_store.database
    apply_migrations(client, db, span_ttl_days=30)
    query = f"SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = '{table}'"
    assert "toIntervalDay(30)" in client.command(query)
    apply_migrations(client, db, span_ttl_days=0)
    assert " TTL " not in client.command(query)
