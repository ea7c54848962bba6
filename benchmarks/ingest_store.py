"""The store's share of content-carrying span ingest, background merges included, per variant.

:mod:`ingest_levers` measures one INSERT and one forced merge of each lever in one process; this
measures what a running server's store really pays: the writer's blocks inserted one after
another while ClickHouse merges in the background as it chooses, until every merge the inserts
caused is done. That is where the levers that act on merging (how many times each span is
rewritten: block size, codecs, the materialized views' tables) show. Each variant runs in a
fresh process on a fresh chDB store (merge threads are per process, so the CPU of each variant's
merges is its own), and the variants run interleaved, ``--repeats`` times, so that a slow spell
of the shared machine hits them alike.

Reported per variant, as CPU µs per span (the run with the median total): ``insert`` (the INSERT
with its materialized views: every thread but the merge threads), ``merges`` (chDB's
``MergeMutate`` threads) and ``total``, and the bytes a span takes on disk once merged; the blocks
are issue 14's workload (:mod:`genai_workload`, ~2.1 KB spans) prepared once by the server's
decode path and kept as Arrow IPC files, so every variant receives the very same rows. Also
``merged_rows_per_span``: the rows every merge read (all tables), per span inserted, which counts
how often a span and its copies are rewritten and does not depend on the machine's load, and
``rows_per_span_by_table``, the same split by table (with the rows each table's INSERTs wrote). Eight
blocks are a few seconds of ingest, where a span is merged about once; ``--cycles N`` inserts them
N times over (each time some hours later), which reaches the merge levels of a longer run.
``query_ms``: three exploration queries timed on the store as each variant left it (a merge
setting changes how many parts they meet). Memory: ``peak_rss_over_start_mib`` and
``mean_rss_over_start_mib`` (the process's RSS above what it held before the first INSERT, every
50 ms: the INSERTs' and merges' memory) and ``merge_memory_peak_mib`` (per table, the largest
merge seen in ``system.merges``, with its algorithm and number of parts). The INSERTs go through
the server's :func:`llmtrace.store.client.insert_arrow` (a temporary Arrow file).

Run: ``python benchmarks/ingest_store.py [--blocks 16] [--repeats 3] [--variant NAME ...]
[--cycles 1] [--settle 1]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from genai_workload import GenAiBatches  # a sibling module: benchmarks/ is on sys.path

BLOCK_BATCHES = 64  # 64 requests of 512 spans: the writer's 32k-span block
_CONTENT_COLUMNS = ("input", "output", "error_message")
_ATTRIBUTES = "attributes Map(LowCardinality(String), String)"

# The materialized views that read `spans` (migrations 0003-0121).
SPANS_VIEWS = (
    "spans_hourly_mv",
    "cost_5m_mv",
    "drift_hourly_mv",
    "trace_summaries_mv",
    "session_summaries_mv",
    "user_summaries_mv",
    "spans_by_id_mv",
    "llm_calls_mv",
    "calls_hourly_mv",
    "call_samples_mv",
)
# The regression report's two tables (0120's exact hourly sums, 0121's sample sorted by its key).
_REGRESSION_VIEWS = ("calls_hourly_mv", "call_samples_mv")

SPANS_ALONE = "spans alone (no views, no skip indexes)"
_SPANS_ALONE = [f"DROP VIEW {{db}}.{view}" for view in SPANS_VIEWS] + [
    f"ALTER TABLE {{db}}.spans DROP INDEX {index}"
    for index in ("idx_trace_id", "idx_session_id", "idx_user_id", "idx_content_tokens")
]

# variant -> (spans per INSERT, statements run after migrating; {db} is the database)
VARIANTS: dict[str, tuple[int, list[str]]] = {
    "current": (32_768, []),
    "content lz4": (
        32_768,
        [
            "ALTER TABLE {db}.spans "
            + ", ".join(f"MODIFY COLUMN {c} String CODEC(LZ4)" for c in _CONTENT_COLUMNS)
            + f", MODIFY COLUMN {_ATTRIBUTES} CODEC(LZ4)"
        ],
    ),
    # The token bloom filter over input and output (0060) that full-text search skips granules with.
    "without idx_content_tokens": (32_768, ["ALTER TABLE {db}.spans DROP INDEX idx_content_tokens"]),
    # Span names ("chat gpt-4o", "execute_tool x") repeat: a dictionary instead of compressed text.
    "name LowCardinality": (32_768, ["ALTER TABLE {db}.spans MODIFY COLUMN name LowCardinality(String)"]),
    # The writer's blocks hold what is in flight: 16 requests of 512 spans at most make 8k.
    "8k-span blocks": (8_192, []),
    "2k-span blocks": (2_048, []),
    "64k-span blocks": (65_536, []),
    "without the views": (32_768, [f"DROP VIEW {{db}}.{view}" for view in SPANS_VIEWS]),
    "without the regression views": (32_768, [f"DROP VIEW {{db}}.{view}" for view in _REGRESSION_VIEWS]),
    # Diagnostic: the store's work per span with nothing the read side keeps (no views, no skip
    # index): `spans` alone, its columns and codecs as they are.
    SPANS_ALONE: (32_768, _SPANS_ALONE),
    f"{SPANS_ALONE}, 64k-span blocks": (65_536, _SPANS_ALONE),
    # The token index's replacement candidate: ClickHouse's inverted text index (GA since 26.2).
    "text index instead of idx_content_tokens": (
        32_768,
        [
            "ALTER TABLE {db}.spans DROP INDEX idx_content_tokens",
            "ALTER TABLE {db}.spans ADD INDEX idx_content_text lower(concat(input, ' ', output))"
            " TYPE text(tokenizer = 'splitByNonAlpha')",
        ],
    ),
    # Diagnostic: the token index built by the INSERT only, not rebuilt by merges (merged parts have
    # none, so search would not skip their granules): how much of its cost is the merges'.
    "idx_content_tokens not rebuilt by merges": (
        32_768,
        [
            "ALTER TABLE {db}.spans MODIFY SETTING exclude_materialize_skip_indexes_on_merge = 'idx_content_tokens'"
        ],
    ),
    # A quarter of the filter and two hashes instead of three: less memory written per granule.
    "idx_content_tokens 8 KiB 2 hashes": (
        32_768,
        [
            "ALTER TABLE {db}.spans DROP INDEX idx_content_tokens",
            "ALTER TABLE {db}.spans ADD INDEX idx_content_tokens lower(concat(input, ' ', output))"
            " TYPE tokenbf_v1(8192, 2, 0) GRANULARITY 4",
        ],
    ),
    # Diagnostic: the same filter without lower() (what lower-casing ~1.5 KB per span costs).
    "idx_content_tokens without lower": (
        32_768,
        [
            "ALTER TABLE {db}.spans DROP INDEX idx_content_tokens",
            "ALTER TABLE {db}.spans ADD INDEX idx_content_tokens concat(input, ' ', output)"
            " TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4",
        ],
    ),
    # Inserted parts Compact (one data file) instead of Wide (two files per column): fewer files.
    "compact parts up to 256 MiB": (
        32_768,
        [
            f"ALTER TABLE {{db}}.{table} MODIFY SETTING min_bytes_for_wide_part = 268435456"
            for table in ("spans", "trace_summaries")
        ],
    ),
    # The read side's per-row copies (0090 spans_by_id, 0100 llm_calls, 0121 call_samples) with LZ4
    # instead of ZSTD(1) on their compressed columns: cheaper to write and rewrite at each merge.
    "copies LZ4": (
        32_768,
        [
            "ALTER TABLE {db}.spans_by_id "
            + ", ".join(
                f"MODIFY COLUMN {c} String CODEC(LZ4)"
                for c in ("user_id", "trace_id", "span_id", "session_id")
            )
            + ", MODIFY COLUMN start_time DateTime64(6, 'UTC') CODEC(Delta, LZ4)",
            "ALTER TABLE {db}.llm_calls "
            + ", ".join(f"MODIFY COLUMN {c} String CODEC(LZ4)" for c in ("span_id", "user_id", "session_id"))
            + ", MODIFY COLUMN start_time DateTime64(6, 'UTC') CODEC(Delta, LZ4)",
            "ALTER TABLE {db}.call_samples MODIFY COLUMN start_time DateTime64(6, 'UTC') CODEC(Delta, LZ4)",
        ],
    ),
}

# variant -> settings added to every INSERT of that variant (the writer's own are kept)
INSERT_SETTINGS: dict[str, dict[str, Any]] = {
    # The summary tables (Replacing/AggregatingMergeTree) are not pre-merged in each inserted block:
    # their merges and the reads (FINAL, -Merge) collapse the rows anyway.
    "optimize_on_insert=0": {"optimize_on_insert": 0},
    # Skip indexes built by the first merge of a part instead of by the INSERT that writes it.
    "skip indexes at merge": {"materialize_skip_indexes_on_insert": 0},
    # chDB enables asynchronous inserts by default; the writer already sends large blocks.
    "async_insert=0": {"async_insert": 0},
}
VARIANTS.update({name: (32_768, []) for name in INSERT_SETTINGS})
VARIANTS.update({f"without {view}": (32_768, [f"DROP VIEW {{db}}.{view}"]) for view in SPANS_VIEWS})

# variant -> (the table (or tables, comma-separated), or "%MergeTree" for every table of the store;
# MergeTree settings set on it after migrating)
TABLE_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    # Wider merges: a merge waits for parts summing to ~base times the largest, so each row is
    # rewritten (and the token index rebuilt) at fewer levels; ClickHouse's default is 5.
    # What migration 0135 changed: ClickHouse's default on the tables it sets to 10.
    "merge_selector_base 5 (before 0135)": (
        "%MergeTree",
        {"merge_selector_base": 5},
    ),
    "merge_selector_base 10": ("%MergeTree", {"merge_selector_base": 10}),
    "merge_selector_base 10 on spans only": ("spans", {"merge_selector_base": 10}),
    # A cap on the size of a merged part of `spans`: parts that reach it are not rewritten again
    # (content recompressed, token index rebuilt). 64 MiB is ~100k of issue 14's spans, so at 1M
    # spans the cap binds as a production-sized cap (GiBs) binds after hours of ingest.
    # Merges of `spans` row by row (horizontal) instead of the key columns first and then each
    # other column on its own (vertical, ClickHouse's choice for wide tables and large merges).
    "spans merges horizontal": ("spans", {"enable_vertical_merge_algorithm": 0}),
    "spans merges capped at 64 MiB": ("spans", {"max_bytes_to_merge_at_max_space_in_pool": 64 << 20}),
    "spans merges capped at 256 MiB": ("spans", {"max_bytes_to_merge_at_max_space_in_pool": 256 << 20}),
    "merge_selector_base 20": ("%MergeTree", {"merge_selector_base": 20}),
    "merge_selector_base 20, no lowering heuristic": (
        "%MergeTree",
        {
            "merge_selector_base": 20,
            "merge_selector_enable_heuristic_to_lower_max_parts_to_merge_at_once": 0,
        },
    ),
}
# Merge memory (issue 14's 1.5 GB at 1M spans) on the tables whose merges held the most in a
# running server (docs/scaling.md, "Memory"): smaller blocks per merge step, or vertical merges
# (the key columns first, then one column at a time) from fewer rows.
WIDE_TABLES = "spans,trace_summaries,call_samples,llm_calls"
TABLE_SETTINGS.update(
    {
        "merge_max_block_size 1024 on the wide tables": (WIDE_TABLES, {"merge_max_block_size": 1024}),
        "merge_max_block_size_bytes 2 MiB on the wide tables": (
            WIDE_TABLES,
            {"merge_max_block_size_bytes": 2 << 20},
        ),
        "vertical merges of the wide tables from 16k rows": (
            WIDE_TABLES,
            {
                "vertical_merge_algorithm_min_rows_to_activate": 16_384,
                "vertical_merge_algorithm_min_columns_to_activate": 1,
            },
        ),
    }
)
# The tables merged row by row (horizontally: an AggregatingMergeTree cannot merge vertically)
# whose merges held the most: every column of every part merged is read at once, each through a
# read buffer and a decompressed block of up to max_compress_block_size (1 MiB).
ROW_MERGED = "trace_summaries,spans_by_id,call_samples"
TABLE_SETTINGS.update(
    {
        "row-merged tables in 256 KiB compressed blocks": (
            ROW_MERGED,
            {"max_compress_block_size": 256 << 10},
        ),
        "row-merged tables merge at most 5 parts at once": (ROW_MERGED, {"max_parts_to_merge_at_once": 5}),
    }
)
VARIANTS.update({name: (32_768, []) for name in TABLE_SETTINGS})
# variant -> options of the embedded engine (llmtrace.store.client.EMBEDDED_ENGINE_OPTIONS) added
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    # The read buffer of each column of each part a merge reads (ClickHouse's default 1 MiB).
    "engine max_read_buffer_size 256 KiB": {"max_read_buffer_size": 256 << 10},
}
VARIANTS.update({name: (32_768, []) for name in ENGINE_OPTIONS})
# A second merge level at 1M spans: 8k-span blocks make parts a quarter the size, so at base 10
# the 1M spans reach the level a 32k-span store reaches at ~4M; with and without a cap at 64 MiB
# (~100k spans, scaled down alike), which stops that second rewrite.
SCALED_CAP = "8k-span blocks, spans merges capped at 64 MiB"
TABLE_SETTINGS[SCALED_CAP] = TABLE_SETTINGS["spans merges capped at 64 MiB"]
VARIANTS.update({name: (32_768, []) for name in TABLE_SETTINGS})
VARIANTS[SCALED_CAP] = (8_192, [])

# Before migration 0150: `spans_by_id` as 0090 built it, a row per span and owner (user, session),
# sorted by owner; 0135's merge setting on it as before.
TWO_ROWS_BY_ID = "spans_by_id two rows per span (0090, before 0150)"
VARIANTS[TWO_ROWS_BY_ID] = (32_768, ["ALTER TABLE {db}.spans_by_id MODIFY SETTING merge_selector_base = 10"])

# Diagnostic: every view writes into a Null table (the view's SELECT over each block runs, nothing
# is stored or merged): "current" minus this is what the views' tables cost to insert and merge.
VIEWS_INTO_NULL = "the views into Null tables"
VARIANTS[VIEWS_INTO_NULL] = (32_768, [])


def _views_into_null(client: Any, database: str) -> None:
    """Point each of :data:`SPANS_VIEWS` at a Null-engine copy of its target table."""
    for view in SPANS_VIEWS:
        query = client.query(
            "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {v:String}",
            parameters={"db": database, "v": view},
        ).result_rows[0][0]
        target = re.search(rf"TO {database}\.(\w+)", query)
        assert target, query
        client.command(f"CREATE TABLE {database}.{target[1]}_null AS {database}.{target[1]} ENGINE = Null")
        client.command(f"DROP VIEW {database}.{view}")
        client.command(query.replace(f"TO {database}.{target[1]} ", f"TO {database}.{target[1]}_null ", 1))


def _run_migration(client: Any, database: str, name: str) -> None:
    """Run the statements of migration file ``name`` again on ``database`` (an older layout)."""
    from llmtrace.store.migrate import (
        DEFAULT_ROLLUP_TTL_DAYS,
        DEFAULT_SPAN_TTL_DAYS,
        Renderer,
        load_migrations,
    )

    renderer = Renderer(database, DEFAULT_SPAN_TTL_DAYS, DEFAULT_ROLLUP_TTL_DAYS)
    migration = next(m for m in load_migrations() if m.name == name)
    for statement in renderer.statements(migration.template, name):
        client.command(statement)


def _prepare_blocks(directory: Path, blocks: int, seed: int) -> int:
    """Write ``blocks`` 32k-span Arrow IPC files (as the decode workers build them); the spans."""
    import pyarrow as pa

    from llmtrace.store.arrow import table_to_ipc
    from llmtrace_server import otlp
    from llmtrace_server.ingest import prepare

    batches = GenAiBatches(seed, time.time_ns())
    spans = 0
    for block in range(blocks):
        table = pa.concat_tables(
            [
                prepare(otlp.decode(batches.body(block * BLOCK_BATCHES + i), otlp.PROTOBUF), "p").spans
                for i in range(BLOCK_BATCHES)
            ]
        )
        (directory / f"block-{block:04d}.arrow").write_bytes(table_to_ipc(table))
        spans += table.num_rows
    return spans


def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of this process's threads, by kind (``merges``: MergeMutate; ``other``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    kinds = {"merges": 0.0, "other": 0.0}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        kind = "merges" if name.startswith("MergeMutate") else "other"
        kinds[kind] += (int(fields[11]) + int(fields[12])) / ticks
    return kinds


def _hours_later(table: Any, hours: int) -> Any:
    """``table`` with its spans moved ``hours`` later: a cycle's spans are new hours of the same
    traffic, not the same rows again (which the summary tables would fold into the first ones)."""
    import datetime

    import pyarrow.compute as pc

    if not hours:
        return table
    for column in ("start_time", "end_time"):
        index = table.schema.get_field_index(column)
        shifted = pc.add(table[column], datetime.timedelta(hours=hours))
        table = table.set_column(index, table.schema.field(index), shifted)
    return table


def _query_ms(store: Any) -> dict[str, float]:
    """Median ms of five runs (after a warm-up) of three exploration queries on the store as the
    inserts and merges left it, whose parts are what a merge setting changes: the newest spans, a
    word no span has (every granule the token index keeps is read), the newest traces."""
    from llmtrace.store.queries.spans import SpanQuery, list_spans
    from llmtrace.store.queries.traces import list_traces

    cases = {
        "spans_newest": lambda i: list_spans(store, "p", SpanQuery(), limit=51),
        "spans_text_rare": lambda i: list_spans(store, "p", SpanQuery(text=f"walrus{i}"), limit=51),
        "traces_newest": lambda i: list_traces(store, "p", SpanQuery(), limit=51),
    }
    medians = {}
    for name, case in cases.items():
        case(5)
        times = []
        for i in range(5):
            started = time.perf_counter()
            case(i)
            times.append((time.perf_counter() - started) * 1000)
        medians[name] = round(statistics.median(times), 1)
    return medians


def _merge_events(client: Any) -> dict[str, int]:
    """This process's merge counters so far (ClickHouse's ``system.events``)."""
    rows = client.query("SELECT event, value FROM system.events WHERE event IN ('Merge', 'MergedRows')")
    return {event: int(value) for event, value in rows.result_rows}


def _rows_by_table(client: Any, spans: int) -> dict[str, dict[str, float]]:
    """Per table, per span inserted: rows the INSERTs wrote (level-0 parts) and rows merges read
    (the parts merged away, while still listed inactive), so what each table's copies cost can be
    told apart. chDB sets ``old_parts_lifetime`` to 0, so a part removed before the end is missed:
    lower bounds, to be checked against ``merged_rows_per_span`` (all tables, from the counters)."""
    rows = client.query(
        "SELECT table, sumIf(rows, level = 0), sumIf(rows, NOT active) FROM system.parts"
        " WHERE database = 'bench' GROUP BY table ORDER BY table"
    ).result_rows
    return {
        table: {"inserted": round(inserted / spans, 2), "merged": round(merged / spans, 2)}
        for table, inserted, merged in rows
        if inserted or merged
    }


def _child(
    variant: str, blocks_dir: Path, store_dir: Path, cycles: int = 1, settle_s: float = 1.0
) -> dict[str, Any]:
    """One variant on a fresh store: insert every block (``cycles`` times over: a longer run,
    where merges reach the levels a store reaches after hours of ingest), then wait until no merge
    has run for ``settle_s``; CPU per span."""
    import pyarrow as pa

    from llmtrace.store import _insert_settings, open_store
    from llmtrace.store.arrow import table_from_ipc
    from llmtrace.store.client import EMBEDDED_ENGINE_OPTIONS, insert_arrow

    block_spans, statements = VARIANTS[variant]
    EMBEDDED_ENGINE_OPTIONS.update(ENGINE_OPTIONS.get(variant, {}))
    store = open_store(f"chdb://{store_dir}", "bench")
    store.migrate()
    client = store.client
    if variant == TWO_ROWS_BY_ID:
        _run_migration(client, "bench", "0090_spans_by_id.sql")
    for statement in statements:
        client.command(statement.format(db="bench"))
    if variant == VIEWS_INTO_NULL:
        _views_into_null(client, "bench")
    if variant in TABLE_SETTINGS:
        tables, table_settings = TABLE_SETTINGS[variant]
        assignments = ", ".join(f"{key} = {value}" for key, value in table_settings.items())
        for (table,) in client.query(
            "SELECT name FROM system.tables WHERE database = 'bench' AND engine LIKE '%MergeTree'"
            " AND (has(splitByChar(',', {t:String}), name) OR {t:String} = '%MergeTree')",
            parameters={"t": tables},
        ).result_rows:
            client.command(f"ALTER TABLE bench.{table} MODIFY SETTING {assignments}")
    files = sorted(blocks_dir.glob("block-*.arrow"))
    once = pa.concat_tables([table_from_ipc(path.read_bytes()) for path in files])
    rows = pa.concat_tables([_hours_later(once, cycle) for cycle in range(cycles)])
    spans = rows.num_rows
    inserts = [rows.slice(at, block_spans).combine_chunks() for at in range(0, spans, block_spans)]
    merged_before = _merge_events(client)
    merge_memory: dict[str, tuple[int, str]] = {}
    rss = _RssSampler()
    before, started = _thread_cpu_s(), time.monotonic()
    with rss:
        for number, table in enumerate(inserts):
            settings = {**_insert_settings(f"b{number}"), **INSERT_SETTINGS.get(variant, {})}
            insert_arrow(client, "spans", table, database="bench", settings=settings)
            _merge_memory(client, merge_memory)
        idle_since = None
        while True:  # until no merge has run for a second (merges start a little after an insert)
            running = _merge_memory(client, merge_memory)
            now = time.monotonic()
            if running:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= settle_s:
                break
            time.sleep(0.1)
    after = _thread_cpu_s()
    merged = {name: value - merged_before.get(name, 0) for name, value in _merge_events(client).items()}
    parts, stored = client.query(
        "SELECT count(), sum(data_compressed_bytes) FROM system.parts"
        " WHERE database = 'bench' AND table = 'spans' AND active"
    ).result_rows[0]
    all_parts = client.query(
        "SELECT count() FROM system.parts WHERE database = 'bench' AND active"
    ).result_rows[0][0]
    by_table = _rows_by_table(client, spans)
    query_ms = _query_ms(store)
    store.close()
    merges = (after["merges"] - before["merges"]) / spans * 1e6
    other = (after["other"] - before["other"]) / spans * 1e6
    return {
        "insert_us_per_span": round(other, 2),
        "merges_us_per_span": round(merges, 2),
        "total_us_per_span": round(merges + other, 2),
        "stored_bytes_per_span": round(stored / spans),
        "spans_parts_left": parts,
        "all_parts_left": all_parts,
        "inserts": len(inserts),
        # Rows every merge (all tables) read, per span inserted: how often a span is rewritten.
        "merged_rows_per_span": round(merged.get("MergedRows", 0) / spans, 2),
        "merges": merged.get("Merge", 0),
        "seconds": round(time.monotonic() - started, 1),
        "query_ms": query_ms,
        "rows_per_span_by_table": by_table,
        # The process's RSS above what it held before the first INSERT (the blocks to insert):
        # the INSERTs' and merges' memory, sampled every 50 ms.
        "peak_rss_over_start_mib": round(rss.peak_over_start / 2**20),
        "mean_rss_over_start_mib": round(rss.mean_over_start / 2**20),
        # Per table, the largest memory a running merge held when sampled (after each INSERT and
        # every 0.1 s while waiting for the merges to end), and how it merged.
        "merge_memory_peak_mib": {
            table: [round(peak / 2**20, 1), algorithm]
            for table, (peak, algorithm) in sorted(merge_memory.items())
        },
    }


class _RssSampler:
    """This process's resident memory every 50 ms, relative to when sampling started."""

    def __init__(self) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._samples: list[int] = []

    def __enter__(self) -> _RssSampler:
        self._start = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._samples.append(_rss_bytes())

    @property
    def peak_over_start(self) -> int:
        return max(self._samples, default=self._start) - self._start

    @property
    def mean_over_start(self) -> float:
        return statistics.fmean(self._samples) - self._start if self._samples else 0.0


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _merge_memory(client: Any, peaks: dict[str, tuple[int, str]]) -> int:
    """Record each running merge's memory in ``peaks`` (per table: the largest, its algorithm);
    return how many merges run."""
    rows = client.query(
        "SELECT table, memory_usage, merge_algorithm, num_parts FROM system.merges WHERE database = 'bench'"
    ).result_rows
    for table, memory, algorithm, parts in rows:
        if memory > peaks.get(table, (0, ""))[0]:
            peaks[table] = (int(memory), f"{algorithm}, {parts} parts")
    return len(rows)


def main(
    blocks: int = 16,
    repeats: int = 3,
    seed: int = 1,
    variants: list[str] | None = None,
    cycles: int = 1,
    settle_s: float = 1.0,
) -> dict[str, Any]:
    """Prepare ``blocks`` 32k-span blocks, then run each of ``variants`` (default all) ``repeats``
    times, interleaved, each in a fresh process and store, inserting the blocks ``cycles`` times
    over (the same spans again: the store's work is the same as for new ones)."""
    chosen = list(dict.fromkeys(variants or VARIANTS))  # a variant named twice would reuse its store
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="llmtrace-ingest-store-") as tmp:
        blocks_dir = Path(tmp) / "blocks"
        blocks_dir.mkdir()
        spans = _prepare_blocks(blocks_dir, blocks, seed)
        for repeat in range(repeats):
            for name in chosen:
                store_dir = Path(tmp) / f"store-{repeat}-{chosen.index(name)}"
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        name,
                        *map(str, (blocks_dir, store_dir, cycles, settle_s)),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                run = {**json.loads(done.stdout), "load_average_1m": round(os.getloadavg()[0], 2)}
                runs[name].append(run)
                # Each run as it ends: removing the stores at the end can take minutes.
                print(json.dumps({"variant": name, "repeat": repeat, **run}), file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        "spans": spans * cycles,
        "block_spans": spans // blocks,
        "repeats": repeats,
        "settle_s": settle_s,
    }
    for name, measured in runs.items():
        ordered = sorted(measured, key=lambda run: run["total_us_per_span"])
        result[name] = {
            **ordered[len(ordered) // 2],
            "total_us_per_span_runs": [run["total_us_per_span"] for run in measured],
        }
    base = result[chosen[0]]
    for name in chosen:
        result[name][f"total_vs_{chosen[0]}"] = round(
            result[name]["total_us_per_span"] / base["total_us_per_span"], 3
        )
    return result


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        child_args = (sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
        print(json.dumps(_child(*child_args)))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="only these (repeatable)")
    parser.add_argument("--cycles", type=int, default=1, help="insert the blocks this many times over")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds without a merge that end a run")
    args = parser.parse_args()
    print(
        json.dumps(
            main(args.blocks, args.repeats, variants=args.variant, cycles=args.cycles, settle_s=args.settle),
            indent=2,
        )
    )
