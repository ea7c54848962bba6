"""Migration 0130's ``scores_pending``: the traces whose scores wait for an LLM call.

The writer's check after each span block (:func:`llmtrace.store.attribution.calls_written`)
finds the block's scored traces there and in ``scored_calls`` near the block, instead of reading
every score of the project. These tests check that a score written before its trace's calls
waits there until they arrive and is then attributed; that the migration backfills exactly the
scores ``scored_calls`` has no row for, and starts over when re-run; and that a store without
0130 still attributes a score written before its spans (the check of every score).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from older_store import store_before

from llmtrace.store import Store
from llmtrace.store.arrow import SPAN_SCHEMA
from llmtrace.store.migrate import Renderer, apply_migrations, load_migrations
from tests.store.test_scored_calls import _attributed, _rule, _score, _span

MIGRATION = "0130_scores_pending.sql"


def _pending(store: Store) -> list[str]:
    """The keys (hex) of the traces whose scores wait for a call, as the check reads them."""
    rows = store.client.query(
        "SELECT lower(hex(trace_key)) FROM {db:Identifier}.scores_pending FINAL WHERE project = 'default'"
        " ORDER BY trace_key",
        parameters={"db": store.database},
    ).result_rows
    return [r[0] for r in rows]


def _keys(store: Store, *traces: int) -> list[str]:
    rows = store.client.query(
        "SELECT lower(hex(cityHash64(t))) FROM (SELECT arrayJoin({ids:Array(String)}) AS t)"
        " ORDER BY cityHash64(t)",
        parameters={"ids": [f"{t:032x}" for t in traces]},
    ).result_rows
    return [r[0] for r in rows]


def test_a_score_waits_for_its_calls_and_leaves_once_attributed(store: Store) -> None:
    store.insert_spans([_span(21, 337, "llm", 1, "classify", "3")])
    store.insert_scores([_score(21, None, 0.5), _score(22, None, 0.25)])  # 22: no spans yet
    assert _pending(store) == _keys(store, 22)
    spans = [_span(21, 337, "llm", 1, "classify", "3"), _span(22, 353, "span", 3), _span(22, 354, "llm", 4)]
    store.insert_span_table(pa.Table.from_pylist(spans[1:], schema=SPAN_SCHEMA))  # the server's path
    scores = [_score(21, None, 0.5), _score(22, None, 0.25)]
    assert _attributed(store) == _rule(spans, scores) and len(_rule(spans, scores)) == 2
    assert _pending(store) == []
    # A re-score of an attributed trace waits only until its own attribution, in the same write.
    store.insert_scores([_score(22, None, 0.75, second=3)])
    assert _pending(store) == []
    # Nothing waits: a later prompted call three hours on is found through the trace's row in
    # `scored_calls`, and takes the trace's scores.
    later = [_span(22, 355, "llm", 184, "summarize", "1")]
    store.insert_spans(later)
    assert _attributed(store) == _rule(spans + later, [*scores, _score(22, None, 0.75, second=3)])
    assert [a[3] for a in _attributed(store)] == ["classify", "summarize"]


def test_an_older_store_is_backfilled_and_a_rerun_starts_over(chdb_dsn: str, tmp_path: Path) -> None:
    with store_before(chdb_dsn, tmp_path / "before", MIGRATION) as older:
        _backfilled_and_rerun(older)


def _backfilled_and_rerun(bare_store: Store) -> None:
    spans = [_span(31, 497, "span", 0), _span(31, 498, "llm", 1, "classify", "3")]
    scores = [_score(31, None, 0.3), _score(31, 497, 0.6), _score(32, None, 0.9), _score(32, 513, 0.1)]
    bare_store.insert_spans(spans)
    bare_store.insert_scores(scores)  # through the Store: 31 attributed, 32 waits for its spans
    client, db = bare_store.client, bare_store.database
    (migration,) = [m for m in load_migrations() if m.name == MIGRATION]
    for statement in Renderer(db, 90, 400).statements(migration.template, migration.name):
        client.command(statement)  # cut short before it was recorded: the next run starts over
    assert MIGRATION in apply_migrations(client, db)
    assert _pending(bare_store) == _keys(bare_store, 32)
    assert client.query(f"SELECT count() FROM {db}.scores_pending").result_rows[0][0] == 1
    # Its spans arrive after the migration: the scores written before them count.
    later = [_span(32, 513, "llm", 9, "summarize", "4"), _span(32, 514, "llm", 10)]
    bare_store.insert_spans(later)
    assert _attributed(bare_store) == _rule(spans + later, scores) and len(_rule(spans + later, scores)) == 4
    assert _pending(bare_store) == []


def test_a_store_without_0130_still_attributes_a_score_written_before_its_spans(
    chdb_dsn: str, tmp_path: Path
) -> None:
    with store_before(chdb_dsn, tmp_path / "before", MIGRATION) as older:
        scores = [_score(41, None, 0.4)]
        older.insert_scores(scores)
        spans = [_span(41, 657, "llm", 2, "classify", "3")]
        older.insert_span_table(pa.Table.from_pylist(spans, schema=SPAN_SCHEMA))
        assert _attributed(older) == _rule(spans, scores) and len(_rule(spans, scores)) == 1
