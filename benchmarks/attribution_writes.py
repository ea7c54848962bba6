"""What attributing scores at write time (migrations 0110, 0130) costs a writer, on a ui_pages store.

After each span block the store asks which of the block's traces have scores and attributes
those again (:func:`llmtrace.store.attribution.calls_written`); after scores, it attributes them
(:func:`~llmtrace.store.attribution.scores_written`). Measured on a store built by
``benchmarks/ui_pages.py`` (28 days, scores on 1 call in 20), process CPU per call (median of
``--repeats``, the variants interleaved), for the writer's 32k-span block (16k LLM calls, the
newest of the store):

* the check alone (which traces with calls in the block's minutes have scores): as it is
  (``check``: the pending scored traces and the scored calls within a day of the block, 0130)
  and as it was (``check_all_scores``: the trace of every score of the project);
* the (project, minute) pairs of the block's calls, from the writer's Arrow table
  (:func:`~llmtrace.store.attribution.calls_in_table`);
* the block's calls on the newest stored traces (1 in 20 scored: the check and the attribution),
  and the same as it was before migration 0140 (``block_stored_traces_reading_scores``);
* 100 scores on stored traces.

``--histories 25000,250000`` measures the check again at each score history of the project, at
the same rate of calls and scores: a database per history beside the store's, with the store's
calls of the block's last two days, and its newest scores (with their ``scored_calls`` rows)
up to that many; more than the store has are made up, 3-27 days old, as scores of calls gone from
the copy. Each database also holds a project ``other`` without scores whose block is the same calls
at the same time, to show what the writer's check costs a project beside one with a long
history; and the whole step for each project's block (``block``: the check and the attribution of
its scored traces, their scores read by trace from ``scores_by_trace``, migration 0140),
interleaved with the step as it was before 0140 (``block_reading_scores``: from ``scores
FINAL``, sorted by name first, so every granule of the history). The databases are built once
(migrated to 0121, filled, then migrated, so 0130's backfill is timed) and kept for the next
run; the migrations added since are applied and timed (``migrate_s``).

    nice python benchmarks/attribution_writes.py --store DIR --spans 10000000 --histories 25000,250000,2500000

The store's rows are written again as they are (same attribution, same version): the
answers do not change.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from llmtrace.store import Store, attribution, open_store
from llmtrace.store.migrate import apply_migrations, migrations_dir

BLOCK_CALLS = 16_384  # a 32k-span writer block of ui_pages' traces: a service span and a call each
PENDING_MIGRATION = "0130_scores_pending.sql"
CALL_COLUMNS = (
    "project, trace_id, span_id, start_time, kind, service_name, environment, provider, model, prompt_name,"
    " prompt_version, user_id, session_id, status, error_type, finish_reason, duration_ms, ttft_ms, cost_usd,"
    " input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, output_chars"
)
SCORED_COLUMNS = (
    "project, name, trace_id, span_id, source, value, label, version, is_deleted, start_time, service_name,"
    " environment, provider, model, prompt_name, prompt_version"
)


def _cpu_ms(fn: Callable[[], object]) -> float:
    c0 = time.process_time()
    fn()
    return (time.process_time() - c0) * 1000


def _interleaved(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median CPU ms of each variant, run in turn ``repeats`` times (same load for each)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(_cpu_ms(fn))
    return {name: round(statistics.median(t), 1) for name, t in times.items()}


def _block(store: Store, project: str = "default") -> list[tuple[str, datetime]]:
    calls = store.client.query(
        "SELECT start_time FROM {db:Identifier}.llm_calls WHERE project = {project:String}"
        " ORDER BY start_time DESC LIMIT {n:UInt32}",
        parameters={"db": store.database, "project": project, "n": BLOCK_CALLS},
    ).result_rows
    return [(project, t) for (t,) in calls]


def _minutes(block: list[tuple[str, datetime]]) -> list[datetime]:
    return sorted({t.replace(second=0, microsecond=0) for _, t in block})


def main(path: str, spans: int, repeats: int = 5, histories: tuple[int, ...] = ()) -> dict[str, Any]:
    store = open_store(f"chdb://{path}", f"bench_ui_{spans}")
    t0 = time.monotonic()
    applied = store.migrate()
    migrated_s = time.monotonic() - t0
    calls = store.client.query(
        "SELECT project, trace_id, start_time FROM {db:Identifier}.llm_calls"
        " ORDER BY start_time DESC LIMIT {n:UInt32}",
        parameters={"db": store.database, "n": BLOCK_CALLS},
    ).result_rows
    block = [(p, t) for p, _, t in calls]
    minutes = _minutes(block)
    scores = [
        {"project": p, "trace_id": t, "span_id": "", "name": "quality", "value": 0.5, "label": "",
         "source": "bench", "comment": "", "timestamp": datetime.now(UTC)}
        for p, t, _ in calls[:100]
    ]  # fmt: skip
    per_span = 1000 / (2 * len(calls))
    checks = _interleaved(
        {
            "check": lambda: attribution._scored_traces(store, "default", minutes),
            "check_all_scores": lambda: attribution._scored_traces_of_all_scores(store, "default", minutes),
        },
        repeats,
    )
    table = _span_table(block)
    in_table = _interleaved({"minutes": lambda: attribution.calls_in_table(table)}, repeats)["minutes"]
    whole = _interleaved(
        {
            "block": lambda: attribution.calls_written(store, block),
            "block_reading_scores": lambda: _block_reading_scores(store, block),
        },
        repeats,
    )
    stored = whole["block"]
    scored = _interleaved({"scores": lambda: attribution.scores_written(store, scores)}, repeats)["scores"]
    out: dict[str, Any] = {
        "spans": spans,
        "migrated_now": applied,
        "migrate_s": round(migrated_s, 1),
        "block_calls": len(calls),
        "check_cpu_ms": checks["check"],
        "check_us_per_span": round(checks["check"] * per_span, 2),
        "check_all_scores_cpu_ms": checks["check_all_scores"],
        "check_all_scores_us_per_span": round(checks["check_all_scores"] * per_span, 2),
        "block_minutes_cpu_ms": in_table,
        "block_stored_traces_cpu_ms": round(stored, 1),
        "block_stored_traces_us_per_span": round(stored * per_span, 2),
        "block_stored_traces_reading_scores_cpu_ms": whole["block_reading_scores"],
        "scores_100_cpu_ms": round(scored, 1),
    }
    if histories:
        out["histories"] = _histories(path, store, histories, repeats)
    return out


def _block_reading_scores(store: Store, block: list[tuple[str, datetime]]) -> None:
    """:func:`attribution.calls_written` as it was before migration 0140 (and is on a store
    without it): the block's scored traces' scores read from ``scores FINAL``, sorted by name."""
    sql = attribution.attribution_sql("trace_id IN {ids:Array(String)}", attribution.NEAR_BLOCK)
    chunk = attribution._IDS_PER_QUERY
    for project in sorted({p for p, _ in block}):
        minutes = _minutes([c for c in block if c[0] == project])
        scored = attribution._scored_traces(store, project, minutes)
        hi = minutes[-1] + timedelta(minutes=1)
        bound = {"db": store.database, "project": project, "lo": minutes[0], "hi": hi}
        for first in range(0, len(scored), chunk):
            store.client.command(sql, parameters={**bound, "ids": scored[first : first + chunk]})


def _span_table(block: list[tuple[str, datetime]]) -> Any:
    """The columns :func:`attribution.calls_in_table` reads of the block's 32k spans: each call
    and the service span around it."""
    import pyarrow as pa

    return pa.table(
        {
            "project": [p for p, _ in block for _ in range(2)],
            "kind": ["span", "llm"] * len(block),
            "start_time": pa.array([t for _, t in block for _ in range(2)], pa.timestamp("us", tz="UTC")),
        }
    )


def _histories(path: str, source: Store, sizes: tuple[int, ...], repeats: int) -> list[dict[str, Any]]:
    stores = {size: _history_store(path, source, size) for size in sizes}
    variants: dict[str, Callable[[], object]] = {}
    for size, (store, _) in stores.items():
        for project in ("default", "other"):
            minutes = _minutes(_block(store, project))
            variants[f"{size} {project} check"] = lambda s=store, p=project, m=minutes: (
                attribution._scored_traces(s, p, m)
            )
            variants[f"{size} {project} check_all_scores"] = lambda s=store, p=project, m=minutes: (
                attribution._scored_traces_of_all_scores(s, p, m)
            )
            block = _block(store, project)
            variants[f"{size} {project} block"] = lambda s=store, b=block: attribution.calls_written(s, b)
            variants[f"{size} {project} block_reading_scores"] = lambda s=store, b=block: (
                _block_reading_scores(s, b)
            )
    cpu = _interleaved(variants, repeats)
    per_span = 1000 / (2 * BLOCK_CALLS)
    rows = []
    for size, (store, migrate_s) in stores.items():
        counts = store.client.query(
            "SELECT (SELECT count() FROM {db:Identifier}.scores WHERE project = 'default'),"
            " (SELECT count() FROM {db:Identifier}.scores_pending FINAL WHERE project = 'default')",
            parameters={"db": store.database},
        ).result_rows[0]
        row: dict[str, Any] = {"scores": counts[0], "pending": counts[1], "migrate_s": migrate_s}
        for project in ("default", "other"):
            for variant in ("check", "check_all_scores"):
                ms = cpu[f"{size} {project} {variant}"]
                row[f"{project}_{variant}_cpu_ms"] = ms
                row[f"{project}_{variant}_us_per_span"] = round(ms * per_span, 2)
            for variant in ("block", "block_reading_scores"):
                ms = cpu[f"{size} {project} {variant}"]
                row[f"{project}_{variant}_cpu_ms"] = ms
                row[f"{project}_{variant}_us_per_span"] = round(ms * per_span, 2)
        rows.append(row)
    return rows


def _history_store(path: str, source: Store, size: int) -> tuple[Store, float | None]:
    """The database of one score history (see the module's docstring); built when missing."""
    store = open_store(f"chdb://{path}", f"bench_attr_history_{size}")
    if PENDING_MIGRATION in _applied(store):
        t0 = time.monotonic()  # built by an earlier run: the migrations added since, timed
        return store, round(time.monotonic() - t0, 1) if store.migrate() else None
    store.client.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", parameters={"db": store.database})
    before = Path(tempfile.mkdtemp())
    try:
        for file in migrations_dir().glob("*.sql"):
            if file.name < PENDING_MIGRATION:
                shutil.copy(file, before)
        apply_migrations(store.client, store.database, directory=before)
    finally:
        shutil.rmtree(before)
    params = {"db": store.database, "src": source.database, "n": size}
    newest = "(SELECT max(start_time) FROM {src:Identifier}.llm_calls)"
    store.client.command(
        f"INSERT INTO {{db:Identifier}}.llm_calls ({CALL_COLUMNS})"
        f" SELECT {CALL_COLUMNS} FROM {{src:Identifier}}.llm_calls"
        f" WHERE start_time >= {newest} - INTERVAL 2 DAY",
        parameters=params,
    )
    store.client.command(  # project `other`: the block's calls again, without scores
        f"INSERT INTO {{db:Identifier}}.llm_calls ({CALL_COLUMNS})"
        f" SELECT 'other', {CALL_COLUMNS.split(', ', 1)[1]} FROM {{src:Identifier}}.llm_calls"
        f" ORDER BY start_time DESC LIMIT {BLOCK_CALLS}",
        parameters=params,
    )
    kept = "SELECT trace_id FROM {src:Identifier}.scores ORDER BY timestamp DESC LIMIT {n:UInt64}"
    store.client.command(
        "INSERT INTO {db:Identifier}.scores SELECT * FROM {src:Identifier}.scores"
        f" WHERE trace_id IN ({kept})",
        parameters=params,
    )
    store.client.command(
        f"INSERT INTO {{db:Identifier}}.scored_calls ({SCORED_COLUMNS})"
        f" SELECT {SCORED_COLUMNS} FROM {{src:Identifier}}.scored_calls WHERE trace_id IN ({kept})",
        parameters=params,
    )
    have = store.client.query("SELECT count() FROM {db:Identifier}.scores", parameters=params).result_rows[0][
        0
    ]
    params["more"] = max(0, size - have)
    store.client.command(  # made-up older scores, 3-27 days old, with the calls they count for
        "INSERT INTO {db:Identifier}.scores (project, trace_id, span_id, name, value, label, source, comment,"
        " timestamp) SELECT 'default', lower(hex(cityHash64(number, 31))) || lower(hex(cityHash64(number, 37))),"
        f" '', 'quality', 0.5, '', 'made-up', '', {newest} - toIntervalSecond(3 * 86400 + number % (24 * 86400))"
        " FROM numbers({more:UInt64})",
        parameters=params,
    )
    store.client.command(
        f"INSERT INTO {{db:Identifier}}.scored_calls ({SCORED_COLUMNS})"
        " SELECT 'default', 'quality', trace_id, '', 'made-up', 0.5, '', 1, 0, timestamp, 'chat', 'prod',"
        " 'openai', 'gpt-4o', 'answer', 'v1' FROM {db:Identifier}.scores WHERE source = 'made-up'"
        " SETTINGS max_partitions_per_insert_block = 0",
        parameters=params,
    )
    t0 = time.monotonic()
    store.migrate()
    return store, round(time.monotonic() - t0, 1)


def _applied(store: Store) -> set[str]:
    try:
        rows = store.client.query(
            "SELECT name FROM {db:Identifier}.schema_migrations", parameters={"db": store.database}
        ).result_rows
    except Exception:  # no database yet
        return set()
    return {name for (name,) in rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a store directory made by benchmarks/ui_pages.py")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--histories", default="", help="score histories to measure the check at, e.g. 25000,250000"
    )
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.histories.split(",") if n)
    print(json.dumps(main(args.store, args.spans, args.repeats, sizes), indent=2, default=str))
