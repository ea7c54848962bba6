"""INSERT an Arrow table into the embedded store in process, without serialising it.

clickhouse-connect's ``insert_arrow`` on chDB writes the table as an Arrow IPC file into memory,
copies that into a temporary file, and runs ``INSERT ... FROM INFILE``, which reads the file back
and parses it: for a 32k-span block of content-carrying spans that is ~70 MB serialised, written
through the kernel, read back and parsed, before ClickHouse converts a single column. chDB's
``Python()`` table function instead reads the ``pyarrow.Table`` where it lies (measured on the
writer's 32k-span blocks of issue 14's spans: ~2–3 µs of CPU less per span, and the ~140 MB of
transient copies per block are gone, see docs/scaling.md).

Only an embedded (chDB) client has a connection to do this with; a ClickHouse server gets
``insert_arrow`` as before (:meth:`llmtrace.store.Store.insert_span_table`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from llmtrace.store.rows import SPAN_COLUMNS

_COLUMNS = ", ".join(SPAN_COLUMNS)
# Setting names and values are the store's own (:func:`llmtrace.store._insert_settings`: flags and
# the writer's hex digests); anything else is refused rather than quoted into SQL.
_SETTING_NAME = re.compile(r"^[a-z_]+\Z")
_SETTING_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")


def embedded_connection(client: Any) -> tuple[Any, threading.Lock] | None:
    """The chDB connection behind a clickhouse-connect chDB client, with the lock that serialises
    every call on it; None for a ClickHouse server's client.

    clickhouse-connect keeps them on its backend's handle (``client._backend._handle``, a private
    attribute): tests/store/test_writes.py fails if an upgrade moves them, rather than letting the
    embedded store fall back to the serialising path unnoticed.
    """
    handle = getattr(getattr(client, "_backend", None), "_handle", None)
    conn = getattr(handle, "conn", None)
    lock = getattr(handle, "lock", None)
    if conn is None or lock is None:
        return None
    return conn, lock


def insert_spans_in_process(
    connection: tuple[Any, threading.Lock], database: str, table: Any, settings: Mapping[str, Any]
) -> None:
    """INSERT ``table`` (a ``pyarrow.Table`` of :data:`llmtrace.store.arrow.SPAN_SCHEMA`) into
    ``database.spans``.

    ``database`` must already be a checked name (:func:`llmtrace.store.dsn.check_database_name`).
    """
    if table.schema.names != list(SPAN_COLUMNS):
        raise ValueError("not a spans table: its columns differ from SPAN_COLUMNS")
    clause = ", ".join(f"{name} = {_setting(name, value)}" for name, value in settings.items())
    sql = f"INSERT INTO {database}.spans ({_COLUMNS}) SELECT {_COLUMNS} FROM Python(llmtrace_spans_block)"
    if clause:
        sql += f" SETTINGS {clause}"
    conn, lock = connection
    # chDB's Python() resolves the name in the calling frames' variables: this local.
    llmtrace_spans_block = table  # noqa: F841
    with lock:
        conn.query(sql, "TabSeparated")


def _setting(name: str, value: Any) -> str:
    text = str(int(value)) if isinstance(value, bool | int) else str(value)
    if not _SETTING_NAME.match(name) or not _SETTING_VALUE.match(text):
        raise ValueError(f"unexpected insert setting {name}={text!r}")
    return text if isinstance(value, bool | int) else f"'{text}'"
