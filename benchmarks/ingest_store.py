"""The store's share of content-carrying span ingest, background merges included, per variant.

:mod:`ingest_levers` measures one INSERT and one forced merge of each lever in one process; this
measures what a running server's store really pays: the writer's blocks inserted one after
another while ClickHouse merges in the background as it chooses, until every merge the inserts
caused is done. That is where the levers that act on merging (how many times each span is
rewritten: block size, codecs, the materialized views' tables) show. Each variant runs in a fresh process on a
fresh chDB store (merge threads are per process, so the CPU of each variant's merges is its own),
and the variants run interleaved, ``--repeats`` times, so that a slow spell of the shared machine
hits them alike.

Reported per variant, as CPU µs per span (the run with the median total): ``insert`` (the INSERT
with its materialized views: every thread but the merge threads), ``merges`` (chDB's
``MergeMutate`` threads) and ``total``, and the bytes a span takes on disk once merged; the blocks
are issue 14's workload (:mod:`genai_workload`, ~2.1 KB spans) prepared once by the server's
decode path and kept as Arrow IPC files, so every variant receives the very same rows.

Run: ``python benchmarks/ingest_store.py [--blocks 16] [--repeats 3] [--variant NAME ...]``;
``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import os
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
_VIEWS = (
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
    "without the views": (32_768, [f"DROP VIEW {{db}}.{view}" for view in _VIEWS]),
    "without the regression views": (32_768, [f"DROP VIEW {{db}}.{view}" for view in _REGRESSION_VIEWS]),
    # The token index's replacement candidate: ClickHouse's inverted text index (GA since 26.2).
    "text index instead of idx_content_tokens": (
        32_768,
        [
            "ALTER TABLE {db}.spans DROP INDEX idx_content_tokens",
            "ALTER TABLE {db}.spans ADD INDEX idx_content_text lower(concat(input, ' ', output))"
            " TYPE text(tokenizer = 'splitByNonAlpha')",
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
VARIANTS.update({f"without {view}": (32_768, [f"DROP VIEW {{db}}.{view}"]) for view in _VIEWS})


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


def _child(variant: str, blocks_dir: Path, store_dir: Path) -> dict[str, Any]:
    """One variant on a fresh store: insert every block, wait for merges to end; CPU per span."""
    import pyarrow as pa

    from llmtrace.store import _insert_settings, open_store
    from llmtrace.store.arrow import table_from_ipc

    block_spans, statements = VARIANTS[variant]
    store = open_store(f"chdb://{store_dir}", "bench")
    store.migrate()
    client = store.client
    for statement in statements:
        client.command(statement.format(db="bench"))
    files = sorted(blocks_dir.glob("block-*.arrow"))
    rows = pa.concat_tables([table_from_ipc(path.read_bytes()) for path in files])
    spans = rows.num_rows
    inserts = [rows.slice(at, block_spans).combine_chunks() for at in range(0, spans, block_spans)]
    before, started = _thread_cpu_s(), time.monotonic()
    for number, table in enumerate(inserts):
        settings = {**_insert_settings(f"b{number}"), **INSERT_SETTINGS.get(variant, {})}
        client.insert_arrow("spans", table, database="bench", settings=settings)
    idle_since = None
    while True:  # until no merge has run for a second (merges start a little after an insert)
        running = client.query("SELECT count() FROM system.merges WHERE database = 'bench'").result_rows[0][0]
        now = time.monotonic()
        if running:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= 1.0:
            break
        time.sleep(0.1)
    after = _thread_cpu_s()
    parts, stored = client.query(
        "SELECT count(), sum(data_compressed_bytes) FROM system.parts"
        " WHERE database = 'bench' AND table = 'spans' AND active"
    ).result_rows[0]
    all_parts = client.query(
        "SELECT count() FROM system.parts WHERE database = 'bench' AND active"
    ).result_rows[0][0]
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
        "seconds": round(time.monotonic() - started, 1),
    }


def main(
    blocks: int = 16, repeats: int = 3, seed: int = 1, variants: list[str] | None = None
) -> dict[str, Any]:
    """Prepare ``blocks`` 32k-span blocks, then run each of ``variants`` (default all) ``repeats``
    times, interleaved, each in a fresh process and store."""
    chosen = variants or list(VARIANTS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="llmtrace-ingest-store-") as tmp:
        blocks_dir = Path(tmp) / "blocks"
        blocks_dir.mkdir()
        spans = _prepare_blocks(blocks_dir, blocks, seed)
        for repeat in range(repeats):
            for name in chosen:
                store_dir = Path(tmp) / f"store-{repeat}-{chosen.index(name)}"
                done = subprocess.run(
                    [sys.executable, __file__, "--child", name, str(blocks_dir), str(store_dir)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[name].append(
                    {**json.loads(done.stdout), "load_average_1m": round(os.getloadavg()[0], 2)}
                )
    result: dict[str, Any] = {"spans": spans, "block_spans": spans // blocks, "repeats": repeats}
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
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="only these (repeatable)")
    args = parser.parse_args()
    print(json.dumps(main(args.blocks, args.repeats, variants=args.variant), indent=2))
