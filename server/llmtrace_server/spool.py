"""A directory of span batches acknowledged but not yet inserted: the writer's crash log.

Under load the writer acknowledges a request once its spans are in this spool, and inserts them
with later requests' spans as one large block within a second or so (see
:mod:`llmtrace_server.writer`). Each batch is one file (Arrow IPC stream), written in full before
the request is answered and removed once its spans are in the store. A server that crashes (or is
killed) in between finds the files at its next start and inserts what the store does not already
have, so an acknowledged span is never lost and never stored twice.

Files are not fsync'ed: they survive the server process dying, as the store's own parts do
(ClickHouse does not fsync inserted parts by default either), not a power loss. A file cut short
by a crash while it was written belongs to a request that was never answered (its exporter
retries it): it is skipped at start.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from pathlib import Path

import pyarrow as pa

from llmtrace.store import Store
from llmtrace.store.arrow import table_from_ipc
from llmtrace.store.dsn import parse_dsn
from llmtrace_server.settings import Settings

log = logging.getLogger(__name__)

_SUFFIX = ".arrows"


class Spool:
    """The spool directory ``path`` (created if missing). One server process per directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        # Names sort in arrival order across restarts: start time, then a counter. The counter is
        # an itertools.count (its next() is atomic): requests add from several threads at once,
        # and a generator raises "already executing" when two threads enter it.
        self._started = f"{time.time_ns():020d}"
        self._counter = itertools.count()

    def add(self, ipc: bytes) -> Path:
        """Write one batch (Arrow IPC stream bytes); return its file, for :meth:`remove`."""
        final = self.path / f"{self._started}-{next(self._counter):09d}{_SUFFIX}"
        partial = final.with_suffix(".partial")
        with open(partial, "wb") as file:
            file.write(ipc)
        os.replace(partial, final)  # a name ending in _SUFFIX always holds a whole batch
        return final

    def remove(self, entry: Path) -> None:
        """Forget a batch whose spans are in the store."""
        entry.unlink(missing_ok=True)

    def set_aside(self, entry: Path) -> Path:
        """Keep a batch the store refuses out of the way (``*.refused``), for an operator to see."""
        refused = entry.with_suffix(".refused")
        entry.rename(refused)
        return refused

    def set_aside_unreadable(self, entry: Path) -> None:
        """Keep a batch whose file cannot be read back out of the way (``*.unreadable``), if the
        file is there at all."""
        with contextlib.suppress(FileNotFoundError):
            entry.rename(entry.with_suffix(".unreadable"))

    def pending(self) -> list[tuple[Path, pa.Table]]:
        """The batches left by an earlier process, oldest first (unfinished writes are removed)."""
        for partial in self.path.glob("*.partial"):
            partial.unlink(missing_ok=True)
        batches = []
        for entry in sorted(self.path.glob(f"*{_SUFFIX}")):
            try:
                batches.append((entry, table_from_ipc(entry.read_bytes())))
            except (OSError, pa.ArrowException) as exc:  # kept for a look, never read again
                log.error("spool file %s is unreadable (%s); renamed to *.unreadable", entry, exc)
                self.set_aside_unreadable(entry)
        return batches


def ingest_spool(settings: Settings, store: Store) -> Spool | None:
    """The spool ``settings`` ask for: the named directory, else one beside an embedded store's
    directory, per database (chDB lets one process use the store, so one server uses its spool);
    none for an in-memory
    store (nothing survives the process anyway: the writer keeps acknowledged-means-written) or a
    ClickHouse server's unless a directory is named (each server replica needs its own)."""
    if not settings.ingest_spool:
        return None
    if settings.ingest_spool_dir is not None:
        return Spool(settings.ingest_spool_dir)
    path = parse_dsn(store.dsn).path
    if path is None:
        return None
    store_dir = Path(path)
    return Spool(store_dir.with_name(f"{store_dir.name}-ingest-spool") / store.database)
