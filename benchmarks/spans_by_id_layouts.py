"""What `spans_by_id`'s own rows cost to write and merge, per layout, measured side by side.

`ingest_store` measures the whole store, where a few µs per span are within the shared machine's
run-to-run spread. This isolates the table: the same 32k-span blocks of issue 14's workload
(:mod:`genai_workload`, prepared by the server's decode path) sit in Memory tables, and each
layout's ``INSERT ... SELECT`` (the view's own SELECT: 0090's ARRAY JOIN over the two owners,
0150's one row per span) writes them into its table, block by block, the layouts taking turns;
then one ``OPTIMIZE ... FINAL`` of each table (one merge level). CPU time of this process (chDB
runs in it) per span inserted, median of every INSERT and of the ``rounds`` merges; and the
rows and compressed bytes each layout keeps per span.

Run: ``python benchmarks/spans_by_id_layouts.py [--blocks 4] [--rounds 3]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest_store import _prepare_blocks  # a sibling module: benchmarks/ is on sys.path

_LOCATION = (
    "start_time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)), trace_id String CODEC(ZSTD(1)),"
    " span_id String CODEC(ZSTD(1)), service_name LowCardinality(String), prompt_name LowCardinality(String),"
    " model LowCardinality(String), environment LowCardinality(String), provider LowCardinality(String),"
    " prompt_version LowCardinality(String), status LowCardinality(String), kind LowCardinality(String)"
)
_PARTS = "ENGINE = MergeTree PARTITION BY toYYYYMM(start_time)"
_ONE = (
    "CREATE TABLE {t} (project LowCardinality(String), user_id String CODEC(ZSTD(1)), "
    + _LOCATION
    + ", session_id String CODEC(ZSTD(1)){index}) "
    + _PARTS
    + " ORDER BY (project, user_id, start_time, trace_id, span_id)"
)
_ONE_SELECT = (
    "SELECT project, user_id, start_time, trace_id, span_id, service_name, prompt_name, model, environment,"
    " provider, prompt_version, status, kind, session_id FROM {src} WHERE user_id != '' OR session_id != ''"
)
# layout -> (CREATE TABLE {t}, the view's SELECT over {src}): as migrations 0090 and 0150 write them.
LAYOUTS: dict[str, tuple[str, str]] = {
    "two rows per span (0090)": (
        "CREATE TABLE {t} (project LowCardinality(String), owner Enum8('user' = 1, 'session' = 2),"
        " owner_id String CODEC(ZSTD(1)), "
        + _LOCATION
        + ", user_id String CODEC(ZSTD(1)), session_id String CODEC(ZSTD(1))) "
        + _PARTS
        + " ORDER BY (project, owner, owner_id, start_time, trace_id, span_id)",
        "SELECT project, o.1, o.2, start_time, trace_id, span_id, service_name, prompt_name, model, environment,"
        " provider, prompt_version, status, kind, user_id, session_id FROM {src}"
        " ARRAY JOIN arrayFilter(x -> x.2 != '', [('user', user_id), ('session', session_id)]) AS o",
    ),
    "one row per span (0150)": (
        _ONE.replace("{index}", ", INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1"),
        _ONE_SELECT,
    ),
    # Diagnostic: what 0150's bloom filter on session_id costs.
    "one row per span, without the bloom filter": (_ONE.replace("{index}", ""), _ONE_SELECT),
}
BLOCK_SPANS = 32_768


def main(blocks: int = 4, rounds: int = 3) -> dict[str, Any]:
    """Per layout: CPU µs per span of its INSERTs and of one merge, rows and bytes per span."""
    from llmtrace.store import open_store
    from llmtrace.store.arrow import table_from_ipc

    inserts: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    merges: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    kept: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="llmtrace-by-id-") as tmp:
        blocks_dir = Path(tmp) / "blocks"
        blocks_dir.mkdir()
        spans = _prepare_blocks(blocks_dir, blocks, seed=1)
        store = open_store(f"chdb://{tmp}/store", "bench")
        store.migrate()
        client = store.client
        client.command("SYSTEM STOP MERGES")
        for number, path in enumerate(sorted(blocks_dir.glob("block-*.arrow"))):
            client.command(f"CREATE TABLE bench.src{number} AS bench.spans ENGINE = Memory")
            client.insert_arrow(f"src{number}", table_from_ipc(path.read_bytes()), database="bench")
        for r in range(rounds):
            tables = {name: f"bench.layout{i}_{r}" for i, name in enumerate(LAYOUTS)}
            for name, (create, _) in LAYOUTS.items():
                client.command(create.format(t=tables[name]))
            for number in range(blocks):
                for name, (_, select) in LAYOUTS.items():
                    started = time.process_time()
                    client.command(f"INSERT INTO {tables[name]} " + select.format(src=f"bench.src{number}"))
                    inserts[name].append((time.process_time() - started) / BLOCK_SPANS * 1e6)
            for name, table in tables.items():
                client.command(f"SYSTEM START MERGES {table}")
                started = time.process_time()
                client.command(f"OPTIMIZE TABLE {table} FINAL")
                merges[name].append((time.process_time() - started) / spans * 1e6)
                kept[name] = client.query(
                    "SELECT sum(rows), sum(data_compressed_bytes) FROM system.parts"
                    " WHERE database = 'bench' AND table = {t:String} AND active",
                    parameters={"t": table.split(".")[1]},
                ).result_rows[0]
        store.close()
    return {
        "spans": spans,
        "rounds": rounds,
        **{
            name: {
                "insert_us_per_span": round(statistics.median(inserts[name]), 2),
                "merge_us_per_span": round(statistics.median(merges[name]), 2),
                "rows_per_span": round(kept[name][0] / spans, 2),
                "bytes_per_span": round(kept[name][1] / spans, 1),
            }
            for name in LAYOUTS
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(main(args.blocks, args.rounds), indent=2))
