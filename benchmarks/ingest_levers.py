"""The pieces of content-carrying span ingest measured in isolation, one lever at a time.

Where :mod:`ingest` measures the whole server, this measures its parts on issue 14's workload
(:mod:`genai_workload`, ~2.1 KB spans) in one process, as CPU µs per span:

* the decode path: protobuf parse into ``SpanRecord`` (``otlp.decode``), the row mapping
  (``span_values``), the Arrow conversion (``span_table``) and the IPC hand-off from a decode
  worker (``table_to_ipc`` + ``table_from_ipc``);
* the INSERT of 32k-span blocks (what the writer sends) into ``spans`` tables that differ by one
  lever each: the content codec (ZSTD(3) before migration 0020, ZSTD(1) after, LZ4), without the
  two rollup views (0003, 0004), without the three trace/session/user summary views (0010,
  0011), without the three skip indexes of ``spans``. Every variant lives in its own database of
  one chDB engine and receives the same blocks, in turns (round r inserts block r into each
  variant), so a slow spell of the shared machine hits them all alike; merges are stopped while
  inserting so each INSERT is measured alone;
* then one merge of each variant's parts into one (``OPTIMIZE ... FINAL``): what background
  merges pay per span for every level they rewrite, and the bytes a span takes on disk.

CPU time (not wall time) is reported: it does not depend on how many cores the machine's other
users leave, though a loaded machine still inflates it; ``min`` is the least disturbed round.

Run: ``python benchmarks/ingest_levers.py [--rounds 5]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genai_workload import GenAiBatches  # sibling modules: benchmarks/ is on sys.path
from ingest_store import SPANS_VIEWS

BLOCK_BATCHES = 64  # 64 requests of 512 spans: the writer's 32k-span block
_CONTENT = "Map(LowCardinality(String), String)"
# The materialized views that read `spans`, but spans_by_id_mv.
_NOT_BY_ID = tuple(view for view in SPANS_VIEWS if view != "spans_by_id_mv")
# variant -> (the first migration left out, None for all; statements run after migrating; {db} is
# its database)
VARIANTS: dict[str, tuple[str | None, list[str]]] = {
    "zstd3 (before 0020)": ("0020", []),
    "zstd1 (0020)": (None, []),
    "zstd1, spans sorted as before 0060": ("0060", []),
    "zstd1 without idx_content_tokens (0060)": (
        None,
        ["ALTER TABLE {db}.spans DROP INDEX idx_content_tokens"],
    ),
    "zstd1 without rollup views": (None, ["DROP VIEW {db}.spans_hourly_mv", "DROP VIEW {db}.cost_5m_mv"]),
    "zstd1 without summary views": (
        None,
        [f"DROP VIEW {{db}}.{name}_summaries_mv" for name in ("trace", "session", "user")],
    ),
    **{
        f"zstd1 without {name}_summaries_mv": (None, [f"DROP VIEW {{db}}.{name}_summaries_mv"])
        for name in ("trace", "session", "user")
    },
    "zstd1 without skip indexes": (
        None,
        [
            f"ALTER TABLE {{db}}.spans DROP INDEX {name}"
            for name in ("idx_trace_id", "idx_session_id", "idx_user_id")
        ],
    ),
    # Migration 0150: spans_by_id with one row per span, against 0090's row per owner; the store
    # with every view, and with spans_by_id_mv the only one (what its rows cost, alone).
    "spans_by_id two rows per span (before 0150)": ("0150", []),
    "only spans_by_id_mv (0150)": (None, [f"DROP VIEW {{db}}.{view}" for view in _NOT_BY_ID]),
    "only spans_by_id_mv, two rows per span (before 0150)": (
        "0150",
        [f"DROP VIEW {{db}}.{view}" for view in _NOT_BY_ID],
    ),
    "lz4": (
        None,
        [
            "ALTER TABLE {db}.spans MODIFY COLUMN input String CODEC(LZ4), "
            "MODIFY COLUMN output String CODEC(LZ4), "
            f"MODIFY COLUMN attributes {_CONTENT} CODEC(LZ4)"
        ],
    ),
}


def _cpu_us_per_span(spans: int, work: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Least CPU µs per span of ``repeats`` runs of ``work`` (and its last result)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()
        result = work()
        best = min(best, time.process_time() - start)
    return round(best / spans * 1e6, 2), result


def _decode_path(bodies: list[bytes]) -> tuple[dict[str, float], list[Any]]:
    from llmtrace.store.arrow import span_table, table_from_ipc, table_to_ipc
    from llmtrace.store.rows import span_values
    from llmtrace_server import otlp
    from llmtrace_server.gc_tuning import tune_gc

    tune_gc()  # as in a decode worker
    spans = len(bodies) * 512
    now_ns = time.time_ns()
    figures: dict[str, float] = {}
    figures["protobuf_decode"], decoded = _cpu_us_per_span(
        spans, lambda: [otlp.decode(body, otlp.PROTOBUF) for body in bodies]
    )
    figures["row_mapping"], rows = _cpu_us_per_span(
        spans, lambda: [[span_values(r, project="p", now_ns=now_ns) for _, r in d.records] for d in decoded]
    )
    figures["arrow_conversion"], tables = _cpu_us_per_span(spans, lambda: [span_table(r) for r in rows])
    figures["ipc_handoff"], _ = _cpu_us_per_span(
        spans, lambda: [table_from_ipc(table_to_ipc(t)) for t in tables]
    )
    figures["total"] = round(sum(figures.values()), 2)
    return figures, tables


def main(rounds: int = 5, seed: int = 1, variants: list[str] | None = None) -> dict[str, Any]:
    """Decode path per piece, then ``rounds`` 32k-span blocks into each variant (of ``variants``,
    default all; the ZSTD(3) baseline always) and one merge."""
    import pyarrow as pa

    from llmtrace.store import Store, _insert_settings, open_store
    from llmtrace.store.migrate import migrations_dir

    batches = GenAiBatches(seed, time.time_ns(), templates=BLOCK_BATCHES)
    decode, _ = _decode_path([batches.body(seq) for seq in range(BLOCK_BATCHES)])
    from llmtrace_server import otlp
    from llmtrace_server.ingest import prepare

    blocks = [
        pa.concat_tables(
            [
                prepare(otlp.decode(batches.body(r * BLOCK_BATCHES + i), otlp.PROTOBUF), "p").spans
                for i in range(BLOCK_BATCHES)
            ]
        )
        for r in range(rounds)
    ]
    spans = blocks[0].num_rows
    with tempfile.TemporaryDirectory(prefix="llmtrace-levers-") as tmp:
        before: dict[str | None, Path | None] = {None: None}
        for cut in {c for c, _ in VARIANTS.values() if c is not None}:
            directory = Path(tmp) / f"before_{cut}"
            directory.mkdir()
            for path in migrations_dir().glob("*.sql"):
                if path.name < cut:
                    shutil.copy(path, directory)
            before[cut] = directory
        first = open_store(f"chdb://{tmp}/data", "lever_0")
        client = first.client
        databases: dict[str, str] = {}
        chosen = {"zstd3 (before 0020)", *(variants or VARIANTS)}
        for number, (name, (cut, statements)) in enumerate(VARIANTS.items()):
            if name not in chosen:
                continue
            database = f"lever_{number}"
            Store(client, database, first.dsn).migrate(migrations_dir=before[cut])
            for statement in statements:
                client.command(statement.format(db=database))
            client.command(f"SYSTEM STOP MERGES {database}.spans")
            databases[name] = database
        inserts: dict[str, list[float]] = {name: [] for name in databases}
        for r, block in enumerate(blocks):
            for name, database in databases.items():
                start = time.process_time()
                client.insert_arrow(
                    "spans", block, database=database, settings=_insert_settings(f"round-{r}")
                )
                inserts[name].append(round((time.process_time() - start) / spans * 1e6, 2))
        measured: dict[str, dict[str, Any]] = {}
        for name, database in databases.items():
            client.command(f"SYSTEM START MERGES {database}.spans")
            start = time.process_time()
            client.command(f"OPTIMIZE TABLE {database}.spans FINAL")
            merge = (time.process_time() - start) / (spans * rounds) * 1e6
            stored = client.query(
                "SELECT sum(data_compressed_bytes) FROM system.parts"
                " WHERE database = {db:String} AND table = 'spans' AND active",
                parameters={"db": database},
            ).result_rows[0][0]
            measured[name] = {
                "insert_us_per_span_min": min(inserts[name]),
                "insert_us_per_span_median": statistics.median(inserts[name]),
                "insert_us_per_span_rounds": inserts[name],
                "merge_us_per_span": round(merge, 2),
                "stored_bytes_per_span": round(stored / (spans * rounds)),
            }
        first.close()
    base = measured["zstd3 (before 0020)"]
    for figures in measured.values():
        figures["insert_min_vs_zstd3"] = round(
            figures["insert_us_per_span_min"] / base["insert_us_per_span_min"], 3
        )
        figures["stored_vs_zstd3"] = round(
            figures["stored_bytes_per_span"] / base["stored_bytes_per_span"], 3
        )
    return {
        "block_spans": spans,
        "rounds": rounds,
        "decode_path_us_per_span": decode,
        "insert_variants": measured,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variant", action="append", choices=VARIANTS, help="only these (repeatable)")
    args = parser.parse_args()
    print(json.dumps(main(args.rounds, variants=args.variant), indent=2))
