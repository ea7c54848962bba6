"""Migration 0100's ``llm_calls``: the narrow copy of the LLM calls that the analytics read.

Every consumer must answer exactly as if it read ``spans`` (the test swaps the table for a view
over ``spans`` and asks again); an older store is backfilled; an interrupted migration re-runs
without counting a call twice; new spans reach it through its view; it keeps the spans' TTL.
"""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from spans_factory import make_rows

from llmtrace.store import Store
from llmtrace.store.migrate import Renderer, apply_migrations, load_migrations, migrations_dir, span_ttl_days
from llmtrace.store.queries.alerts import window_metric
from llmtrace.store.queries.metrics import MetricsQuery, metrics_series
from llmtrace.store.queries.overview import period_totals
from llmtrace.store.queries.prompts import version_scores
from llmtrace.store.queries.trends import score_trends
from llmtrace_server.routes.drift import compute_report, resolve_windows
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions
from tests.analytics.synth import NOW, Traffic, load, spans

MIGRATION = "0100_llm_calls.sql"
COLUMNS = (
    "project, trace_id, span_id, start_time, kind, service_name, environment, provider, model,"
    " prompt_name, prompt_version, user_id, session_id, status, error_type, finish_reason, duration_ms,"
    " ttft_ms, cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, output_chars"
)


def _traffic(store: Store) -> None:
    """A week of v1 then a day of v2 (slower, on another model mix), one score per call, plus
    traces whose scores sit on the function span around the calls or on the whole trace."""
    load(store, spans(600, NOW - timedelta(days=7), NOW - timedelta(days=1), Traffic(), seed=1))
    slower = Traffic(prompt_version="v2", latency_mu=7.1, models={"gpt-4o": 0.8, "claude-sonnet-4": 0.2})
    load(store, spans(400, NOW - timedelta(days=1), NOW, slower, seed=2))
    rows, scores = spans(50, NOW - timedelta(hours=20), NOW - timedelta(hours=1), Traffic(), seed=3)
    for i, (row, score) in enumerate(zip(rows[:], scores, strict=True)):
        wrapper = {
            **row,
            "span_id": f"{i + 1:016x}",
            "kind": "span",
            "name": "handle",
            "request_model": "",
            "response_model": "",
        }
        rows.append(wrapper)
        score["span_id"] = "" if i % 2 else wrapper["span_id"]
    load(store, (rows, scores))


def _answers(store: Store) -> dict[str, Any]:
    """What each reader of ``llm_calls`` answers on the store."""
    week = (NOW - timedelta(days=7), NOW + timedelta(hours=1))
    cohorts = build_cohorts("prompt_version", "v1", "v2", *week, None, None, None, None)
    off_hour = (NOW - timedelta(hours=30, minutes=17), NOW - timedelta(minutes=17))
    windows = resolve_windows(None, None, None, None, now=NOW + timedelta(hours=1))
    return {
        "regressions": compute_regressions(store, "default", cohorts, {}),
        "regressions_off_hour": compute_regressions(
            store, "default", build_cohorts("model", "gpt-4o", "claude-sonnet-4", *off_hour, *[None] * 4), {}
        ),
        "drift": compute_report(store, "default", windows, {}),
        "trends": score_trends(
            store,
            "default",
            name=None,
            interval="6h",
            since=week[0],
            until=week[1],
            group_by=("prompt_version", "model"),
            filters={},
            pass_threshold=0.5,
        ),
        "version_scores": version_scores(store, "default", *week),
        "totals": period_totals(store, "default", *off_hour, {"service": "chat"}),
        "metrics": metrics_series(
            store,
            "default",
            MetricsQuery(interval="15m", since=off_hour[0], until=off_hour[1], group_by=("model",)),
        ),
        "alerts": sorted(
            window_metric(store, "default", {}, NOW, timedelta(hours=6), "latency_p95_ms", "model")
        ),
    }


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 12 significant digits (a float sum may add up in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def test_every_reader_answers_as_if_it_read_spans(store: Store) -> None:
    _traffic(store)
    db = store.database
    assert store.client.command(f"SELECT count() FROM {db}.llm_calls") == 1050
    from_table = _answers(store)
    assert from_table["regressions"]["verdict"] == "regressed"  # the data says something
    assert from_table["version_scores"][("answer", "v2")]["quality"][1] == 400
    # The same questions with `llm_calls` replaced by the LLM calls of `spans`, read directly.
    store.client.command(f"DROP VIEW {db}.llm_calls_mv")
    store.client.command(f"DROP TABLE {db}.llm_calls SYNC")
    store.client.command(
        f"CREATE VIEW {db}.llm_calls AS SELECT {COLUMNS}, cityHash64(trace_id) AS trace_key"
        f" FROM {db}.spans WHERE kind IN ('llm', 'embedding')"
    )
    _same(from_table, _answers(store))


def test_new_spans_reach_llm_calls_through_its_view(store: Store) -> None:
    rows = make_rows(200)
    store.insert_spans(rows)
    db = store.database
    copied = store.client.query(
        f"SELECT {COLUMNS} FROM {db}.llm_calls ORDER BY span_id", parameters={}
    ).result_rows
    expected = store.client.query(
        f"SELECT {COLUMNS} FROM {db}.spans WHERE kind IN ('llm', 'embedding') ORDER BY span_id"
    ).result_rows
    assert copied == expected
    assert 150 < len(copied) < 200  # every tenth span is a tool call, left out


@pytest.fixture
def before(tmp_path: Path) -> Path:
    """The migrations up to (not including) 0100."""
    directory = tmp_path / "before"
    directory.mkdir()
    for path in migrations_dir().glob("*.sql"):
        if path.name < MIGRATION:
            shutil.copy(path, directory)
    return directory


def _calls(store: Store) -> list[tuple[Any, ...]]:
    return store.client.query(
        f"SELECT {COLUMNS} FROM {store.database}.llm_calls ORDER BY span_id"
    ).result_rows


def _expected(store: Store) -> list[tuple[Any, ...]]:
    return store.client.query(
        f"SELECT {COLUMNS} FROM {store.database}.spans WHERE kind IN ('llm', 'embedding') ORDER BY span_id"
    ).result_rows


def test_an_older_store_is_backfilled_once(bare_store: Store, before: Path) -> None:
    apply_migrations(bare_store.client, bare_store.database, directory=before)
    bare_store.insert_spans(make_rows(300, seed=3))
    assert apply_migrations(bare_store.client, bare_store.database)[0] == MIGRATION  # and the later ones
    backfilled = _calls(bare_store)
    assert backfilled == _expected(bare_store) and len(backfilled) > 250
    # Spans written after the migration arrive through the view, once.
    bare_store.insert_spans(make_rows(100, seed=4))
    assert _calls(bare_store) == _expected(bare_store)
    assert apply_migrations(bare_store.client, bare_store.database) == []
    assert _calls(bare_store) == _expected(bare_store)


@pytest.mark.parametrize("stop_after", [3, 4])  # after the backfill; after the view too
def test_rerun_after_an_interruption_counts_each_call_once(
    bare_store: Store, before: Path, stop_after: int
) -> None:
    """The migration was cut short before it was recorded: running it again starts over."""
    client, db = bare_store.client, bare_store.database
    apply_migrations(client, db, directory=before)
    bare_store.insert_spans(make_rows(300, seed=5))
    (migration,) = [m for m in load_migrations() if m.name == MIGRATION]
    statements = Renderer(db, 90, 400).statements(migration.template, migration.name)
    assert statements[3].startswith(f"INSERT INTO {db}.llm_calls")
    for statement in statements[: stop_after + 1]:
        client.command(statement)
    assert apply_migrations(client, db)[0] == MIGRATION
    assert _calls(bare_store) == _expected(bare_store)


def test_llm_calls_keep_the_span_ttl(bare_store: Store) -> None:
    client, db = bare_store.client, bare_store.database
    apply_migrations(client, db, span_ttl_days=30)
    ttl = client.command(
        f"SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'llm_calls'"
    )
    assert "TTL toDateTime(start_time) + toIntervalDay(30)" in ttl
    apply_migrations(client, db, span_ttl_days=0)
    assert span_ttl_days(client, db) == 0
    ttl = client.command(
        f"SELECT engine_full FROM system.tables WHERE database = '{db}' AND name = 'llm_calls'"
    )
    assert " TTL " not in ttl
