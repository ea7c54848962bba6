"""Group commit of ingested spans: concurrent requests share one INSERT, each acked once written.

Every INSERT into the spans table also feeds two materialized views and costs tens of
milliseconds whatever its size, so one INSERT per 512-span request caps ingest near 10k spans/s.
The writer instead takes everything that arrived while the previous INSERT ran (up to
``max_rows``) and writes it as one block; each request's future resolves only after that block is
stored, so "acknowledged" still means "written". While other requests are still being read or
decoded (:meth:`SpanWriter.incoming`) and the block is under ``min_rows``, it lingers up to
``linger_s`` for them: each INSERT costs ~20 ms of CPU whatever its size (mostly the two
materialized views) and leaves a part to merge, so under load a few large blocks are far cheaper
than many small ones (measured on chDB, insert and merges: ~13 µs of store CPU per span in 8k-span
blocks, ~8.6 µs in 16k-span blocks, ~7.4 µs in 32k-span blocks). At low load nothing waits: a
lone request is written at once, and a block never waits for requests that are not on their way.

Because the composition of a block depends on timing, a retried request would not carry the same
ClickHouse de-duplication token as its first attempt. Duplicates are therefore filtered per span:
the writer remembers the (project, trace_id, span_id) of spans written in the last ``window_s``
seconds (at most ``max_keys``, 12 bytes each: :mod:`llmtrace_server.seen_keys`) and drops re-sent
ones. The memory is rebuilt from the store at start, so a batch acknowledged just before a crash is
still recognised when the exporter retries it.
Under load, "acknowledged" means "in the spool" instead (:mod:`llmtrace_server.spool`, when the
server has one): a request that arrives while an INSERT runs or rows wait for the next one is
answered once its spans are in a spool file (where they wait: not in memory), and they are
inserted with the others' within ``spool_delay_s`` (a block is written sooner once it holds
``min_rows``). A sender's throughput is what it keeps in flight divided by the answer's latency,
so waiting for the INSERT capped a
sender with 4 or 16 batches in flight far below what the store can take; and the blocks such
senders made (all they had in flight: 2k-8k spans) cost the store several times the CPU per span
of a 32k-span block in INSERTs and merges. A lone request is still written before it is answered
(read-your-writes at low load), and so is every request while ``max_spooled_rows`` are waiting:
the memory and the loss window stay bounded. A spooled batch whose INSERT fails while the store is
unavailable is retried until it is written (later requests then wait and fail with 503 as
before); one the store refuses while it takes the others' spans (a value validation did not
catch) cannot be answered 503 any more: its file is set aside (``*.refused``) and logged. The
files of batches a crash left are inserted at the next start, without the spans the store has.

A failed INSERT is first sent again as the same block under the same token (ClickHouse skips it if
the first attempt was committed after all). If it still fails, the writer asks the store which of
the block's spans it has and writes the rest of each request alone, so a request that the store
refuses fails by itself and the others commit once (see :meth:`SpanWriter._recover`). A block that
spans more months than one INSERT may touch is written as several (:func:`_month_parts`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.concurrency import run_in_threadpool

from llmtrace.store import Store, StoreError
from llmtrace.store.arrow import table_to_ipc
from llmtrace.store.queries.spans import recent_span_keys, stored_span_keys
from llmtrace_server.seen_keys import Keys, SeenKeys
from llmtrace_server.spool import Spool


@dataclass(slots=True)
class _Pending:
    spans: pa.Table | None  # None: read from ``spooled`` when its block is written (:meth:`table`)
    rows: int
    done: asyncio.Future[int]
    spooled: Path | None = None  # its spool file: already acknowledged, written by the writer alone
    queued_at: float = 0.0  # loop time
    attempts: int = 0  # failed INSERTs of a spooled batch (the retry pause grows with them)

    def table(self) -> pa.Table:
        """The spans, read back from the spool file for a spooled batch.

        A spooled batch waits as its file, not in memory: under load up to ``max_spooled_rows``
        (64k spans, ~120 MiB of Arrow for content-carrying spans) wait for the INSERTs, and held
        as tables they were a large share of the server's peak memory. The file is memory-mapped,
        so its pages are read from the page cache without a copy, once, for the INSERT.
        """
        if self.spans is not None:
            return self.spans
        assert self.spooled is not None
        with pa.memory_map(str(self.spooled)) as source:
            return pa.ipc.open_stream(source).read_all()


class UnreadableSpoolFile(Exception):
    """A spooled batch's file cannot be read back for its INSERT (removed or damaged outside the
    server): that batch alone is given up, with an error in the log; its block's others are written."""


def _read(item: _Pending) -> pa.Table | UnreadableSpoolFile:
    try:
        return item.table()
    except (OSError, pa.ArrowException) as exc:
        return UnreadableSpoolFile(f"spool file {item.spooled} cannot be read ({exc})")


_KEY_COLUMNS = ("project", "trace_id", "span_id")
INSERT_ATTEMPTS = 3  # per block, the same block and token each time (see SpanWriter._insert)
INSERT_RETRY_DELAY_S = 0.2  # times the attempt number
SPOOLED_RETRY_MAX_DELAY_S = 5.0
MAX_MONTHS_PER_INSERT = 90  # ClickHouse refuses blocks touching over 100 partitions (months)
_MONTH_LOWER_BOUND_US = 28 * 86400 * 10**6  # no month is shorter
log = logging.getLogger(__name__)


def _key(project: str, trace_id: str, span_id: str) -> int:
    """A span's identity as the int the duplicate filter remembers (see :func:`_table_keys`)."""
    return hash(f"{project}:{trace_id}:{span_id}")


def _table_keys(spans: pa.Table) -> Keys:
    """:func:`_key` of every row of ``spans``; the strings are joined in Arrow, not per row in Python."""
    joined = pc.binary_join_element_wise(*(spans[column] for column in _KEY_COLUMNS), ":")
    return np.fromiter(map(hash, joined.to_pylist()), dtype=np.int64, count=len(joined))


class SpanWriter:
    """Coalesces concurrent :meth:`write` calls into single inserts; one writer task per app."""

    def __init__(
        self,
        store: Store,
        *,
        max_rows: int = 32_768,
        min_rows: int = 24_576,
        linger_s: float = 0.25,
        window_s: int = 900,
        max_keys: int = 2_000_000,
        spool: Spool | None = None,
        spool_delay_s: float = 1.0,
        max_spooled_rows: int | None = None,
    ) -> None:
        self._store = store
        self._spool = spool
        self._spool_delay_s = spool_delay_s
        self._max_spooled_rows = 2 * max_rows if max_spooled_rows is None else max_spooled_rows
        self._spooled_rows = 0  # acknowledged and not yet written
        self._holding = False  # a block is being gathered or inserted
        self._retry: list[_Pending] = []  # spooled batches whose INSERT failed
        self._max_rows = max_rows
        self._min_rows = min(min_rows, max_rows)
        self._linger_s = linger_s
        self._incoming = 0  # requests being read or decoded: their rows will come soon
        self._arrived = asyncio.Event()  # set when rows are queued or a request stops being incoming
        self._window_s = window_s
        self._max_keys = max_keys
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._seen = SeenKeys(window_s, max_keys)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        rows = await run_in_threadpool(recent_span_keys, self._store, self._window_s, self._max_keys)
        self._seen.add(np.fromiter((_key(*row) for row in rows), dtype=np.int64, count=len(rows)))
        if self._spool is not None:
            await self._insert_left_over(self._spool)
        self._task = asyncio.create_task(self._run(), name="llmtrace-span-writer")

    async def _insert_left_over(self, spool: Spool) -> None:
        """Insert what an earlier process acknowledged and did not write (none of it twice)."""
        batches = await run_in_threadpool(spool.pending)
        if not batches:
            return
        tables = [table for _, table in batches]
        stored = await run_in_threadpool(self._stored_keys, tables)
        rest = self._keep_stored(pa.concat_tables(tables), stored)
        if rest.num_rows:
            await self._insert_block(rest, INSERT_ATTEMPTS)  # raises: the server does not start
            self._keep_stored(rest, _table_keys(rest))
        log.info("inserted %d spooled spans left by an earlier process", rest.num_rows)
        for entry, _ in batches:
            spool.remove(entry)

    async def close(self) -> None:
        """Stop; spooled spans still waiting are inserted now (else at the next start)."""
        task = self._task
        while task is not None and not task.done():
            # Again until it ends: Python 3.11's wait_for drops a cancellation that arrives as the
            # awaited event is set (as a request queues its rows).
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        waiting = [*self._retry, *(self._queue.get_nowait() for _ in range(self._queue.qsize()))]
        self._retry = []
        if any(item.spooled is not None for item in waiting):
            try:
                results = await self._flush(waiting)
            except Exception as exc:
                results = [exc] * len(waiting)
            self._settle(waiting, results)

    @contextmanager
    def incoming(self) -> Iterator[None]:
        """Mark a request whose rows are on their way (being read or decoded), so a block waits for them."""
        self._incoming += 1
        try:
            yield
        finally:
            self._incoming -= 1
            self._arrived.set()

    async def write(self, spans: pa.Table, ipc: bytes | None = None) -> int:
        """Store ``spans`` (:func:`llmtrace.store.arrow.span_table`; ``ipc``: the same as Arrow IPC
        bytes, when the caller has them); returns once they are written (the count of new,
        non-duplicate spans) or, under load, spooled (the count of spans: which are re-sends is
        known at the INSERT).

        Raises the store's error when the INSERT failed (nothing of this request was written).
        """
        if not spans.num_rows:
            return 0
        if self._task is None or self._task.done():
            raise StoreError("the span writer is not running")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        spool = self._spool
        if (
            spool is not None
            and (self._holding or self._retry or not self._queue.empty())
            and self._spooled_rows + spans.num_rows <= self._max_spooled_rows
        ):
            try:
                entry = await run_in_threadpool(spool.add, table_to_ipc(spans) if ipc is None else ipc)
            except OSError as exc:  # e.g. a full disk: this request waits for its write instead
                log.warning("cannot spool %d spans (%s); writing them before answering", spans.num_rows, exc)
            else:
                self._spooled_rows += spans.num_rows
                self._queue.put_nowait(_Pending(None, spans.num_rows, done, entry, loop.time()))
                self._arrived.set()
                return spans.num_rows
        self._queue.put_nowait(_Pending(spans, spans.num_rows, done))
        self._arrived.set()
        return await asyncio.shield(done)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            retrying = bool(self._retry)
            if retrying:  # spooled batches whose INSERT failed: after a pause, before the rest
                delay = min(INSERT_RETRY_DELAY_S * 2 ** self._retry[0].attempts, SPOOLED_RETRY_MAX_DELAY_S)
                await asyncio.sleep(delay)
                batch, self._retry = self._retry, []
            else:
                batch = [await self._queue.get()]
            self._holding = True
            size = sum(item.rows for item in batch)
            spooled = all(item.spooled is not None for item in batch)
            # Only acknowledged rows: gather a large block, up to the spool delay of the oldest
            # (a retry goes with what is queued now: its rows have waited long enough).
            if retrying:
                deadline = loop.time()
            elif spooled:
                deadline = batch[0].queued_at + self._spool_delay_s
            else:
                deadline = loop.time() + self._linger_s
            while True:
                while size < self._max_rows and not self._queue.empty():
                    item = self._queue.get_nowait()
                    batch.append(item)
                    size += item.rows
                    if spooled and item.spooled is None:  # a request waits for this block
                        spooled = False
                        deadline = min(deadline, loop.time() + self._linger_s)
                wait = deadline - loop.time()
                if size >= self._min_rows or wait <= 0 or (not spooled and self._incoming == 0):
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), wait)
                except TimeoutError:
                    pass
            try:
                results = await self._flush(batch)
            except Exception as exc:  # every request of the block learns it was not written
                results = [exc] * len(batch)
            finally:
                self._holding = False
            self._settle(batch, results)

    def _settle(self, batch: list[_Pending], results: list[int | BaseException]) -> None:
        """Answer the waiting requests of a written block; forget written spool files; retry the
        spooled batches that were not written, or set aside those the store refuses."""
        # Every request failed: the store is unavailable, not refusing one request's values.
        outage = all(
            isinstance(result, BaseException) and not isinstance(result, UnreadableSpoolFile)
            for result in results
        )
        for item, result in zip(batch, results, strict=True):
            if item.spooled is None:
                if item.done.done():
                    continue
                if isinstance(result, BaseException):
                    item.done.set_exception(result)
                else:
                    item.done.set_result(result)
                continue
            if isinstance(result, BaseException) and outage:
                item.attempts += 1
                self._retry.append(item)  # kept until the store takes it: it was acknowledged
                continue
            self._spooled_rows -= item.rows
            assert self._spool is not None
            if isinstance(result, UnreadableSpoolFile):  # never retried: it would hold up the rest
                log.error("%s; its %d acknowledged spans are lost", result, item.rows)
                self._spool.set_aside_unreadable(item.spooled)
            elif isinstance(result, BaseException):  # the others of its block were written
                log.error(
                    "the store refuses %d acknowledged spans (%s); their batch is kept in %s",
                    item.rows,
                    result,
                    self._spool.set_aside(item.spooled),
                )
            else:
                self._spool.remove(item.spooled)

    async def _flush(self, batch: list[_Pending]) -> list[int | BaseException]:
        """Write the new spans of ``batch`` as one block; per request, its number of new spans,
        or the error that kept its spans from the store."""
        read = [_read(item) for item in batch]
        keys = np.concatenate(
            [_table_keys(spans) for spans in read if isinstance(spans, pa.Table)] or [np.empty(0, np.int64)]
        )
        # New: the first of its key in the block (a repeat later in the block is dropped too; the
        # sort is stable) and not remembered. Sorted keys are also searched 2-3x faster. They are
        # remembered once the block is written, not before.
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        new_ordered = np.ones(len(ordered), dtype=np.bool_)
        new_ordered[1:] = ordered[1:] != ordered[:-1]
        new_ordered &= ~self._seen.contains(ordered)
        new = np.empty_like(new_ordered)
        new[order] = new_ordered
        tables: list[pa.Table | None] = []  # per request: its new spans (None: none)
        fresh: list[int | BaseException] = []
        offset = 0
        for spans in read:
            if isinstance(spans, UnreadableSpoolFile):
                tables.append(None)
                fresh.append(spans)
                continue
            keep = new[offset : offset + spans.num_rows]
            offset += spans.num_rows
            count = int(keep.sum())
            if count < spans.num_rows:
                spans = spans.filter(pa.array(keep, type=pa.bool_()))
            tables.append(spans if count else None)
            fresh.append(count)
        written = [table for table in tables if table is not None]
        try:
            if written:
                await self._insert_block(pa.concat_tables(written), INSERT_ATTEMPTS)
        except StoreError as exc:
            return await self._recover(tables, fresh, exc)
        self._seen.add(ordered[new_ordered])
        return fresh

    async def _recover(
        self, tables: list[pa.Table | None], fresh: list[int | BaseException], error: StoreError
    ) -> list[int | BaseException]:
        """After a block failed: keep what reached the store, then write each request's rest alone.

        A block can fail for one request (a value the store refuses) or after part of it was
        committed (a dropped connection, one month's part of a split block). Asking the store which
        of the block's spans it has means that none is written twice and none is reported as lost
        (a request is never answered 503 for rows that were written); writing the rest per request,
        each under its own token, means one request's bad block fails that request alone.
        """
        try:
            stored = await run_in_threadpool(self._stored_keys, [t for t in tables if t is not None])
        except Exception as exc:  # the store cannot even be asked: every request must retry
            log.warning("cannot tell which spans of a failed insert were stored: %s", exc)
            return [error if isinstance(count, int) and count else count for count in fresh]
        results: list[int | BaseException] = []
        for table, count in zip(tables, fresh, strict=True):
            if table is None:
                results.append(count)
                continue
            rest = self._keep_stored(table, stored)
            try:
                if rest.num_rows:
                    await self._insert_block(rest, 1)
            except StoreError as exc:
                log.warning("span insert of one request failed: %s", exc)
                try:  # it may have been committed before failing, as the block could be
                    stored_now = await run_in_threadpool(self._stored_keys, [rest])
                except Exception:
                    stored_now = np.empty(0, dtype=np.int64)
                if self._keep_stored(rest, stored_now).num_rows:
                    results.append(exc)
                    continue
            else:
                self._keep_stored(rest, _table_keys(rest))  # all of it is stored now
            results.append(count)
        return results

    def _keep_stored(self, table: pa.Table, stored: Keys) -> pa.Table:
        """Remember the spans of ``table`` whose keys are in ``stored`` (written: a re-send of them
        is dropped); return the others."""
        span_keys = _table_keys(table)
        present = np.isin(span_keys, stored)
        self._seen.add(span_keys[present])
        if present.all():
            return table.slice(0, 0)
        return table.filter(pa.array(~present, type=pa.bool_()))

    def _stored_keys(self, tables: list[pa.Table]) -> Keys:
        """:func:`_key` of the spans of ``tables`` that are in the store."""
        if not tables:
            return np.empty(0, dtype=np.int64)
        block = pa.concat_tables(tables)
        bounds = pc.min_max(block["start_time"])
        rows = stored_span_keys(
            self._store, block["span_id"].to_pylist(), bounds["min"].as_py(), bounds["max"].as_py()
        )
        return np.fromiter((_key(*row) for row in rows), dtype=np.int64, count=len(rows))

    async def _insert_block(self, block: pa.Table, attempts: int) -> None:
        """INSERT ``block``, split by month when it spans more than ClickHouse takes at once."""
        for part in _month_parts(block):
            await self._insert(part, attempts)

    async def _insert(self, block: pa.Table, attempts: int) -> None:
        """INSERT ``block``; when that fails, send the very same block under the same token again.

        A failed INSERT does not mean nothing was written: a connection to a ClickHouse server can
        drop after the server committed the block. Re-sending the identical block under the same
        ``insert_deduplication_token`` is safe either way (ClickHouse skips a block it already
        has), whereas failing the requests at once would make their exporters re-send the spans
        in a block of another composition, which the token cannot recognise.
        """
        token = _token(block)
        for attempt in range(1, attempts + 1):
            try:
                await run_in_threadpool(self._store.insert_span_table, block, dedup_token=token)
                return
            except StoreError:
                if attempt == attempts:
                    raise
                log.warning(
                    "span insert failed (attempt %d of %d); sending the block again", attempt, attempts
                )
                await asyncio.sleep(INSERT_RETRY_DELAY_S * attempt)


def _month_parts(block: pa.Table) -> list[pa.Table]:
    """``block`` as parts of at most :data:`MAX_MONTHS_PER_INSERT` months each (usually itself).

    The tables are partitioned by month and ClickHouse refuses an INSERT whose block touches more
    than 100 partitions (``max_partitions_per_insert_block``): without the split, one old batch
    would fail the block every request shares. The usual block covers minutes, which the min/max
    check sees without computing a month per row.
    """
    start = block["start_time"]
    bounds = pc.min_max(start)
    low, high = bounds["min"].value, bounds["max"].value
    if low is None or high - low < (MAX_MONTHS_PER_INSERT - 1) * _MONTH_LOWER_BOUND_US:
        return [block]
    months = pc.add(pc.multiply(pc.year(start), 12), pc.month(start))
    order = pc.sort_indices(months)
    block, months = block.take(order), months.take(order)
    counts = pc.value_counts(months).field("counts").to_pylist()
    parts = []
    offset = 0
    for first in range(0, len(counts), MAX_MONTHS_PER_INSERT):
        size = sum(counts[first : first + MAX_MONTHS_PER_INSERT])
        parts.append(block.slice(offset, size))
        offset += size
    return parts


def _token(block: pa.Table) -> str:
    """ClickHouse's insert_deduplication_token for ``block``: a digest of its key columns' data.

    It names the block, so the same block inserted twice (:meth:`SpanWriter._insert` re-sending
    it) is stored once. The writer never re-forms an old block (re-sent spans are filtered per
    span above), so the digest can follow the block's order and chunking and hash the Arrow
    buffers as they are, with no Python work per span.
    """
    digest = hashlib.sha256()
    for column in _KEY_COLUMNS:
        for chunk in block[column].chunks:
            digest.update(f"{chunk.offset}:{len(chunk)}".encode())  # which part of the buffers is data
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
    return digest.hexdigest()
