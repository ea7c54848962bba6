"""Migration 0140's ``scores_by_trace``: the scores sorted by trace, read when a span block's scored
traces are attributed (:func:`llmtrace.store.attribution.calls_written`).

Reading them from ``scores`` (sorted by score name first) scanned the project's whole score
history for every block. These tests check that the attribution of one trace reads a bounded
number of rows however many other scores the project has; that the migration backfills every
score written before it (a pending one and a re-score) and starts over when re-run; and that a
store without 0140 still attributes, from ``scores``. The rule itself is checked, through this
table, by tests/store/test_scored_calls.py and tests/analytics, unedited.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from older_store import store_before

from llmtrace.store import Store, attribution
from llmtrace.store.migrate import Renderer, apply_migrations, load_migrations
from tests.store.test_scored_calls import _attributed, _rule, _score, _span

MIGRATION = "0140_scores_by_trace.sql"
HISTORY = 100_000  # other scores of the project: 391 granules of scores_by_trace, 13 of scores
BLOCK = 50  # scored traces attributed together, as after a span block: too many for the bloom filter
ROWS_READ = 20_000  # what their attribution may read: a granule of 256 scores each, and a few calls
SCORE_ROW = "project, name, trace_id, span_id, source, value, label, timestamp"


def _add_history(store: Store) -> None:
    """Scores of ``HISTORY`` other traces of the project, written as the API writes them."""
    store.client.command(
        "INSERT INTO {db:Identifier}.scores (project, trace_id, span_id, name, value, label, source, comment,"
        " timestamp) SELECT 'default', lower(hex(cityHash64(number))) || '0000', '', 'q', 0.5, '', 'api', '',"
        " now64(6, 'UTC') FROM numbers({n:UInt32})",
        parameters={"db": store.database, "n": HISTORY},
    )


def _attribute_under_limit(store: Store, traces: list[str], *, by_trace: bool) -> None:
    """Attribute ``traces`` as a span block does, failing if it reads more than ``ROWS_READ`` rows."""
    store.client.command(
        attribution.attribution_sql("trace_id IN {ids:Array(String)}", by_trace=by_trace),
        parameters={"db": store.database, "project": "default", "ids": traces},
        settings={"max_rows_to_read": ROWS_READ},
    )


def test_one_traces_attribution_reads_its_scores_not_the_projects(store: Store) -> None:
    _add_history(store)
    scores = [_score(51, None, 0.2), _score(51, None, 0.7, second=5)]  # a re-score replaces the value
    store.insert_scores(scores)
    spans = [_span(51, 817, "span", 0), _span(51, 818, "llm", 1, "classify", "3")]
    store.insert_spans(spans)
    others = store.client.query(
        "SELECT trace_id FROM {db:Identifier}.scores WHERE trace_id LIKE '%0000'"
        " ORDER BY sipHash64(trace_id) LIMIT {n:UInt32}",  # scattered over the history's granules
        parameters={"db": store.database, "n": BLOCK - 1},
    ).result_rows
    block = [f"{51:032x}", *(t for (t,) in others)]
    _attribute_under_limit(store, block, by_trace=True)
    assert _attributed(store) == _rule(spans, scores) and [a[1] for a in _attributed(store)] == [0.7]
    # The same read from `scores`, sorted by name first, reads every granule of the history.
    with pytest.raises(Exception, match="max_rows_to_read"):
        _attribute_under_limit(store, block, by_trace=False)


def test_an_older_store_is_backfilled_and_a_rerun_starts_over(chdb_dsn: str, tmp_path: Path) -> None:
    with store_before(chdb_dsn, tmp_path / "before", MIGRATION) as older:
        spans = [_span(61, 977, "span", 0), _span(61, 978, "llm", 1, "classify", "3")]
        scores = [_score(61, None, 0.3), _score(62, None, 0.9), _score(62, None, 0.1, second=7)]
        older.insert_spans(spans)
        older.insert_scores(scores)  # 61 attributed; 62 waits for its spans, re-scored
        client, db = older.client, older.database
        (migration,) = [m for m in load_migrations() if m.name == MIGRATION]
        for statement in Renderer(db, 90, 400).statements(migration.template, migration.name):
            client.command(statement)  # cut short before it was recorded: the next run starts over
        assert MIGRATION in apply_migrations(client, db)
        copied = f"SELECT {SCORE_ROW} FROM {db}.scores_by_trace ORDER BY {SCORE_ROW}"
        assert (
            client.query(copied).result_rows
            == client.query(f"SELECT {SCORE_ROW} FROM {db}.scores ORDER BY {SCORE_ROW}").result_rows
        )
        # 62's spans arrive after the migration: its scores are read from the backfilled copy.
        later = [_span(62, 993, "llm", 9, "summarize", "4")]
        older.insert_spans(later)
        assert _attributed(older) == _rule(spans + later, scores) and len(_rule(spans + later, scores)) == 2


def test_a_store_without_0140_still_attributes_from_scores(chdb_dsn: str, tmp_path: Path) -> None:
    with store_before(chdb_dsn, tmp_path / "before", MIGRATION) as older:
        scores = [_score(71, None, 0.4), _score(71, None, 0.8, second=2)]
        older.insert_scores(scores)
        spans = [_span(71, 1137, "llm", 2, "classify", "3")]
        older.insert_spans(spans)
        assert _attributed(older) == _rule(spans, scores) and [a[1] for a in _attributed(older)] == [0.8]
