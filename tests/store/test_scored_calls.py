"""Migration 0110's ``scored_calls``: each score with the LLM call it counts for, kept at write time.

The analytics read the rule (docs/analytics.md, "Which call a score counts for") from
``scored_calls``, which :mod:`llmtrace.store.attribution` keeps current as scores and calls are
written, in whatever order. These tests check it against the rule computed here in Python from
what was written: scores before or after their spans, re-scores, calls that arrive later and
become the trace's last one, scores on non-LLM spans, on whole traces and on unknown spans, one
trace across two prompts, calls outside the window; the server's Arrow path and the row path;
and the migration's backfill of an older store.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from llmtrace.store import Store, attribution
from llmtrace.store.arrow import SPAN_SCHEMA
from llmtrace.store.migrate import Renderer, apply_migrations, load_migrations, migrations_dir
from llmtrace.store.queries._segment import scored_spans_sql
from llmtrace.store.rows import SPAN_COLUMNS
from tests.analytics.synth import NOW

MIGRATION = "0110_scored_calls.sql"
SINCE, UNTIL = NOW - timedelta(days=3), NOW + timedelta(hours=1)
Attributed = tuple[str, float, datetime, str, str, str]  # name, value, call start, prompt, version, model


def _span(
    trace: int, span: int, kind: str, minute: int, prompt: str = "", version: str = "", model: str = "m"
):
    row: dict[str, Any] = dict.fromkeys(SPAN_COLUMNS, "")
    start = NOW - timedelta(hours=30) + timedelta(minutes=minute)
    row.update(
        project="default",
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        name=kind,
        kind=kind,
        service_name="bot",
        environment="prod",
        start_time=start,
        end_time=start + timedelta(seconds=1),
        duration_ms=1000.0,
        status="ok",
        provider="openai" if kind != "span" else "",
        request_model=model if kind != "span" else "",
        response_model=model if kind != "span" else "",
        prompt_name=prompt,
        prompt_version=version,
        input_tokens=0,
        output_tokens=0,
        cached_input_tokens=0,
        cache_write_tokens=0,
        reasoning_tokens=0,
        output_chars=0,
        cost_usd=None,
        ttft_ms=None,
        tags=[],
        attributes={},
    )
    return row


def _score(trace: int, span: int | None, value: float, *, name: str = "q", second: int = 0) -> dict[str, Any]:
    return {
        "project": "default",
        "trace_id": f"{trace:032x}",
        "span_id": "" if span is None else f"{span:016x}",
        "name": name,
        "value": value,
        "label": "",
        "source": "api",
        "comment": "",
        "timestamp": NOW - timedelta(hours=1) + timedelta(seconds=second),
    }


def _attributed(
    store: Store, since: datetime = SINCE, until: datetime = UNTIL, **filters: str
) -> list[Attributed]:
    params: dict[str, Any] = {"db": store.database, "project": "default", "since": since, "until": until}
    where = " AND start_time >= {since:DateTime64(6)} AND start_time < {until:DateTime64(6)}"
    for i, (column, value) in enumerate(filters.items()):
        params[f"f{i}"] = value
        where += f" AND {column} = {{f{i}:String}}"
    scored = scored_spans_sql(
        where,
        "start_time, prompt_name, prompt_version, model",
        by_name=False,
        time_range=("{since:DateTime64(6)}", "{until:DateTime64(6)}"),
    )
    rows = store.client.query(
        f"SELECT sc_name, value, start_time, prompt_name, prompt_version, model FROM {scored}",
        parameters=params,
    ).result_rows
    return sorted((r[0], r[1], r[2].replace(tzinfo=None), r[3], r[4], r[5]) for r in rows)


def _rule(spans: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[Attributed]:
    """The rule, from what was written: the latest value of each score, counted for the LLM call
    it names, else its trace's last call that names a prompt, else its last call."""
    latest: dict[tuple[str, ...], dict[str, Any]] = {}
    for s in scores:
        key = (s["name"], s["trace_id"], s["span_id"], s["source"])
        if key not in latest or s["timestamp"] >= latest[key]["timestamp"]:
            latest[key] = s
    out = []
    for s in latest.values():
        calls = [c for c in spans if c["trace_id"] == s["trace_id"] and c["kind"] in ("llm", "embedding")]
        if not calls:
            continue
        named = [c for c in calls if c["span_id"] == s["span_id"]]
        call = (
            named[0]
            if named
            else max(calls, key=lambda c: (c["prompt_name"] != "", c["start_time"], c["span_id"]))
        )
        start = call["start_time"].replace(tzinfo=None)
        out.append(
            (s["name"], s["value"], start, call["prompt_name"], call["prompt_version"], call["request_model"])
        )
    return sorted(out)


def _insert_spans(store: Store, rows: list[dict[str, Any]], arrow: bool) -> None:
    if arrow:  # the server's path
        store.insert_span_table(pa.Table.from_pylist(rows, schema=SPAN_SCHEMA))
    else:  # the SDK's store backend
        store.insert_spans(rows)


def test_a_trace_score_moves_to_a_later_prompted_call_and_counts_once(store: Store) -> None:
    store.insert_spans([_span(1, 1, "span", 0), _span(1, 2, "llm", 1, "classify", "3", "small")])
    store.insert_scores([_score(1, None, 0.4), _score(1, 1, 0.8)])  # the trace; the function span
    start = NOW.replace(tzinfo=None) - timedelta(hours=30)
    assert _attributed(store) == [
        ("q", 0.4, start + timedelta(minutes=1), "classify", "3", "small"),
        ("q", 0.8, start + timedelta(minutes=1), "classify", "3", "small"),
    ]
    # A later call that names a prompt becomes the trace's last one; a call without one does not.
    store.insert_spans([_span(1, 3, "llm", 2, "summarize", "7", "big"), _span(1, 4, "llm", 3)])
    moved = [
        ("q", 0.4, start + timedelta(minutes=2), "summarize", "7", "big"),
        ("q", 0.8, start + timedelta(minutes=2), "summarize", "7", "big"),
    ]
    assert _attributed(store) == moved
    assert _attributed(store, prompt_name="classify") == []  # a filter never moves a score back
    # The call's own hour, not the score's: a window without the call does not count the score.
    call_time = NOW - timedelta(hours=30) + timedelta(minutes=2)
    assert _attributed(store, since=call_time + timedelta(seconds=1), until=UNTIL) == []
    assert _attributed(store, since=call_time, until=call_time + timedelta(seconds=1)) == moved
    # A later prompted call in another hour: the scores move there and leave nothing behind.
    store.insert_spans([_span(1, 5, "llm", 150, "summarize", "8", "big")])
    assert _attributed(store) == [
        ("q", 0.4, start + timedelta(minutes=150), "summarize", "8", "big"),
        ("q", 0.8, start + timedelta(minutes=150), "summarize", "8", "big"),
    ]
    assert (
        _attributed(store, since=call_time - timedelta(hours=1), until=call_time + timedelta(hours=1)) == []
    )


def test_a_re_score_replaces_the_value_and_a_score_on_a_call_stays_on_it(store: Store) -> None:
    store.insert_scores([_score(2, 2 * 16 + 1, 0.1)])  # before its spans: not counted yet
    assert _attributed(store) == []
    store.insert_spans(
        [_span(2, 2 * 16 + 1, "llm", 5, "classify", "3"), _span(2, 2 * 16 + 2, "llm", 6, "summarize", "7")]
    )
    start = NOW.replace(tzinfo=None) - timedelta(hours=30)
    assert _attributed(store) == [("q", 0.1, start + timedelta(minutes=5), "classify", "3", "m")]
    store.insert_scores([_score(2, 2 * 16 + 1, 0.9, second=5)])
    assert _attributed(store) == [("q", 0.9, start + timedelta(minutes=5), "classify", "3", "m")]
    store.insert_scores([_score(2, 2 * 16 + 1, 0.5, second=2)])  # older than the value it follows
    assert _attributed(store) == [("q", 0.9, start + timedelta(minutes=5), "classify", "3", "m")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_of_writes_gives_the_rule(store: Store, seed: int) -> None:
    """Random traces (calls with and without prompts, function spans), scores on calls, on
    function spans, on whole traces and on spans never sent, re-scores; all written in a random
    order of small batches, through the server's Arrow path and the row path."""
    rng = random.Random(seed)
    spans: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for trace in range(1, 41):
        base = trace * 16
        spans.append(_span(trace, base, "span", rng.randrange(600)))
        for k in range(rng.randrange(0, 4)):
            prompt = rng.choice(["", "classify", "summarize"])
            spans.append(
                _span(
                    trace,
                    base + 1 + k,
                    rng.choice(["llm", "llm", "embedding"]),
                    rng.randrange(600),
                    prompt,
                    rng.choice(["1", "2"]) if prompt else "",
                    rng.choice(["a", "b"]),
                )
            )
        for n in range(rng.randrange(1, 4)):
            target = rng.choice([None, base, base + 1, base + 2, base + 9])
            # Distinct timestamps: of two writes of one score, the later one is the re-score.
            scores.append(_score(trace, target, rng.random(), name=rng.choice(["q", "h"]), second=2 * n))
            if rng.random() < 0.3:  # a re-score
                scores.append(
                    {
                        **scores[-1],
                        "value": rng.random(),
                        "timestamp": scores[-1]["timestamp"] + timedelta(seconds=1),
                    }
                )
    writes: list[tuple[str, dict[str, Any]]] = [("span", s) for s in spans] + [("score", s) for s in scores]
    rng.shuffle(writes)
    while writes:
        size = rng.randrange(1, 12)
        batch, writes = writes[:size], writes[size:]
        span_rows = [row for kind, row in batch if kind == "span"]
        score_rows = [row for kind, row in batch if kind == "score"]
        if span_rows:
            _insert_spans(store, span_rows, arrow=rng.random() < 0.5)
        if score_rows:
            store.insert_scores(score_rows)
    assert _attributed(store) == _rule(spans, scores)
    assert len(_attributed(store)) > 20


def test_an_older_store_is_backfilled_and_a_rerun_starts_over(bare_store: Store, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in migrations_dir().glob("*.sql"):
        if path.name < MIGRATION:
            shutil.copy(path, before)
    client, db = bare_store.client, bare_store.database
    apply_migrations(client, db, directory=before)
    spans = [
        _span(5, 81, "span", 0),
        _span(5, 82, "llm", 1, "classify", "3"),
        _span(5, 83, "llm", 2, "summarize", "7"),
        _span(6, 97, "llm", 4),
    ]
    scores = [
        _score(5, None, 0.3),
        _score(5, 81, 0.6),
        _score(5, 82, 0.2),
        _score(6, None, 0.7),
        _score(7, None, 1.0),
    ]
    client.insert(
        "spans", [[r[c] for c in SPAN_COLUMNS] for r in spans], column_names=list(SPAN_COLUMNS), database=db
    )
    client.insert("scores", [list(s.values()) for s in scores], column_names=list(scores[0]), database=db)
    (migration,) = [m for m in load_migrations() if m.name == MIGRATION]
    statements = Renderer(db, 90, 400).statements(migration.template, migration.name)
    assert statements[2].startswith(f"INSERT INTO {db}.scored_calls")
    for statement in statements:  # cut short before it was recorded: the next run starts over
        client.command(statement)
    assert MIGRATION in apply_migrations(client, db)
    assert _attributed(bare_store) == _rule(spans, scores) and len(_rule(spans, scores)) == 4
    # Written after the migration: kept current at write time.
    later = [_span(7, 113, "llm", 9, "classify", "4")]
    bare_store.insert_spans(later)
    assert _attributed(bare_store) == _rule(spans + later, scores)


def test_rebuild_attributes_what_was_written_around_the_store(store: Store) -> None:
    """Spans and scores inserted with SQL (as the benchmarks fill a store) are attributed by
    ``rebuild``, the same as through the Store."""
    spans = [_span(9, 145, "span", 0), _span(9, 146, "llm", 1, "classify", "3"), _span(9, 147, "llm", 70)]
    scores = [_score(9, None, 0.25), _score(9, 145, 0.5), _score(9, 147, 0.75), _score(10, None, 1.0)]
    db = store.database
    store.client.insert(
        "spans", [[r[c] for c in SPAN_COLUMNS] for r in spans], column_names=list(SPAN_COLUMNS), database=db
    )
    store.client.insert(
        "scores", [list(s.values()) for s in scores], column_names=list(scores[0]), database=db
    )
    assert _attributed(store) == []
    attribution.rebuild(store, "default")
    assert _attributed(store) == _rule(spans, scores) and len(_rule(spans, scores)) == 3
