"""`spans` rows as an Arrow table: the server's bulk insert format.

Building Arrow arrays from per-column Python lists runs in pyarrow's C++, and ClickHouse (and
chDB) parse Arrow natively, so a block of spans reaches the store without clickhouse-connect's
per-value Python encoding (measured on the ingest benchmark's spans: ~2 µs of Python per span
for the Arrow arrays against ~6 µs for the Native encoding of row dicts). A table also pickles as
flat buffers, so decode worker processes hand it back cheaply (row dicts cost the server process
more to unpickle than to insert).

pyarrow ships with chDB (the server's embedded store); the SDK's direct export keeps the plain
:meth:`llmtrace.store.Store.insert_spans` path and does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from llmtrace.store.rows import SPAN_COLUMNS

_TEXT = pa.string()
# Arrow types of the columns that are not plain strings (see schema/migrations/0001_spans.sql).
_TYPES: dict[str, pa.DataType] = {
    "start_time": pa.timestamp("us", tz="UTC"),
    "end_time": pa.timestamp("us", tz="UTC"),
    "duration_ms": pa.float64(),
    "input_tokens": pa.uint32(),
    "output_tokens": pa.uint32(),
    "cached_input_tokens": pa.uint32(),
    "cache_write_tokens": pa.uint32(),
    "reasoning_tokens": pa.uint32(),
    "cost_usd": pa.float64(),
    "ttft_ms": pa.float64(),
    "output_chars": pa.uint32(),
    "tags": pa.list_(_TEXT),
    "attributes": pa.map_(_TEXT, _TEXT),
}
SPAN_SCHEMA = pa.schema([(name, _TYPES.get(name, _TEXT)) for name in SPAN_COLUMNS])
_SPAN_ROW = pa.struct(list(SPAN_SCHEMA))


def span_table(values: Sequence[Sequence[Any]]) -> pa.Table:
    """A table from rows of :func:`llmtrace.store.rows.span_values` (tuples in column order).

    The rows are converted as one struct array, so pyarrow reads the tuples in C++: no Python
    transposition into per-column lists (about 20% less time than ``zip(*values)`` and an array
    per column).
    """
    if not values:
        return SPAN_SCHEMA.empty_table()
    rows = pa.array(values, type=_SPAN_ROW)
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(rows)], schema=SPAN_SCHEMA)


def table_to_ipc(table: pa.Table) -> bytes:
    """``table`` in the Arrow IPC stream format: what the spool stores, and how a decode worker
    hands back a table too large for its shared buffer (:mod:`llmtrace_server.decode_pool`, which
    otherwise writes the same stream straight into that buffer).

    Pickling a table instead costs several times more (a Python reconstruction call per column and
    buffer, ~1 µs per span for the two sides on the benchmark's spans against ~0.2 µs for IPC).
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_ipc(data: bytes) -> pa.Table:
    """The table :func:`table_to_ipc` wrote (its arrays use ``data`` without copying it)."""
    return pa.ipc.open_stream(data).read_all()
