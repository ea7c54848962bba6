"""Open a clickhouse-connect client for a parsed DSN, turning driver failures into one-line errors.

chDB runs ClickHouse inside this process and allows one data directory per process; a second
process on the same directory fails inside chDB with an opaque "Error initializing
EmbeddedServer". We recognise that case (the directory's ``status`` file names the holder's PID)
and say what to do instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmtrace.store.dsn import StoreDSN
from llmtrace.store.errors import StoreError

# tz_mode="aware": DateTime64(6, 'UTC') values come back as UTC-aware datetimes on both backends,
# so a round trip through the store returns exactly the aware datetime that went in.
_CLIENT_KWARGS: dict[str, Any] = {"tz_mode": "aware"}
_CONNECT_TIMEOUT_S = 5
# Server settings of the embedded engine (chDB takes them in its connection string). chDB's two
# background threads take turns between up to four merges in progress (ClickHouse's default ratio
# of 2 merges per thread), each holding its buffers. Every table receives the writer's INSERTs in
# step, so several tables reach their merge level together: at the peak of a 1M-span ingest four
# merges (`spans`, `llm_calls`, `call_samples`, `trace_summaries`) held ~210 MiB. With a ratio of 1
# at most two are in progress; the two threads were the limit anyway (docs/scaling.md, "Memory").
EMBEDDED_ENGINE_OPTIONS: dict[str, Any] = {"background_merges_mutations_concurrency_ratio": 1}


def insert_arrow(client: Any, table: str, data: Any, *, database: str, settings: dict[str, Any]) -> None:
    """INSERT the ``pyarrow.Table`` ``data`` into ``table`` through a temporary file of Arrow IPC.

    clickhouse-connect's ``insert_arrow`` serializes the whole table into an Arrow buffer and then
    copies that into a ``bytes`` object before writing it out (to chDB's ``FROM INFILE`` file, or
    the HTTP body): two in-memory copies of the block at once, ~120 MiB of the server's peak RSS
    for its 32k-span blocks of content-carrying spans. Serialized straight into a file and handed
    over as a stream, the block is never copied in memory; the bytes written and read are the same.
    """
    import tempfile

    import pyarrow as pa
    from clickhouse_connect.driver.binding import quote_identifier

    with tempfile.TemporaryFile(prefix="llmtrace-insert-") as file:
        with pa.ipc.new_file(pa.PythonFile(file, mode="w"), data.schema) as writer:
            writer.write_table(data)
        file.seek(0)
        name = f"{quote_identifier(database)}.{quote_identifier(table)}"
        client.raw_insert(name, data.schema.names, file, settings=settings, fmt="Arrow")


def connect(dsn: StoreDSN) -> Any:
    """Return a clickhouse-connect client for ``dsn`` or raise :class:`StoreError`."""
    try:
        import clickhouse_connect
    except ImportError:
        extra = "server" if dsn.embedded else "clickhouse"
        raise StoreError(
            f"store {dsn.masked} needs clickhouse-connect: pip install 'llmtrace[{extra}]'"
        ) from None
    if dsn.embedded:
        return _connect_chdb(clickhouse_connect, dsn)
    try:
        with _quiet_driver():
            return clickhouse_connect.get_client(
                host=dsn.host,
                port=dsn.port,
                username=dsn.username or "default",
                password=dsn.password or "",
                secure=dsn.secure,
                connect_timeout=_CONNECT_TIMEOUT_S,
                **_CLIENT_KWARGS,
            )
    except Exception as exc:
        raise StoreError(f"cannot reach ClickHouse at {dsn.masked}: {_reason(exc)}") from None


@contextmanager
def _quiet_driver() -> Iterator[None]:
    """The driver logs a warning before raising; we raise one clear line instead."""
    driver_logger = logging.getLogger("clickhouse_connect.driver._backend.http_sync")
    previous = driver_logger.level
    driver_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        driver_logger.setLevel(previous)


def _reason(exc: object) -> str:
    """The useful part of a driver error: the OS error (refused, unresolvable) or the server's reply."""
    text = str(exc)
    os_error = re.search(r"\[Errno -?\d+\] ([^\"')(]+)", text)
    if os_error:
        return os_error.group(1).strip()
    return _first_line(text)


def _connect_chdb(clickhouse_connect: Any, dsn: StoreDSN) -> Any:
    if dsn.path is not None:
        try:
            Path(dsn.path).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the embedded store directory {dsn.path}: {exc.strerror}"
            ) from None
    with _held_stderr() as held:
        try:
            client = clickhouse_connect.get_client(
                interface="chdb", path=dsn.path, chdb_options=EMBEDDED_ENGINE_OPTIONS, **_CLIENT_KWARGS
            )
        except ImportError:
            raise StoreError(f"store {dsn.masked} needs chDB: pip install 'llmtrace[server]'") from None
        except Exception as exc:
            held.discard = True
            raise _chdb_error(dsn, str(exc)) from None
    return client


class _Held:
    discard = False


@contextmanager
def _held_stderr() -> Iterator[_Held]:
    """Hold what is written to file descriptor 2 while chDB opens a store.

    On a store another process holds, chDB's C++ code prints several raw ``Cannot lock file``
    lines to fd 2 before raising; the StoreError raised instead already says what is wrong and
    what to do, so those lines are dropped (``discard``). Anything written on success is passed on.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        held = _Held()
        try:
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not held.discard:
                buffer.seek(0)
                text = buffer.read()
                if text:
                    sys.stderr.write(text.decode(errors="replace"))
                    sys.stderr.flush()


def _chdb_error(dsn: StoreDSN, message: str) -> StoreError:
    other = re.search(r"already initialized with path '([^']*)'", message)
    if other:
        return StoreError(
            f"cannot open embedded store {dsn.path or 'in memory'}: this process already has the embedded "
            f"store {other.group(1)} open, and chDB allows one store per process; use that store, or run "
            "another process for the other one"
        )
    holder = _holder_pid(dsn.path)
    if holder is not None or "EmbeddedServer" in message or "Cannot lock file" in message:
        who = f"process {holder}" if holder is not None else "another process"
        return StoreError(
            f"embedded store {dsn.path} is already open in {who} (chDB allows one process per store): "
            "send spans to the running server instead (OTLP to its /v1/traces, or start one with "
            "`llmtrace serve`), or use another --store path"
        )
    return StoreError(f"cannot open embedded store {dsn.masked}: {_first_line(message)}")


def _holder_pid(path: str | None) -> int | None:
    """The PID in ``<path>/status`` if that process is alive and is not us (ClickHouse writes it)."""
    if path is None:
        return None
    try:
        text = (Path(path) / "status").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"^PID:\s*(\d+)", text, re.MULTILINE)
    if not match:
        return None
    pid = int(match.group(1))
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
