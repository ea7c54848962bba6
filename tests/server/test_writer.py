"""The span writer's group commit: concurrent requests share an INSERT, a lone one never waits."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.exceptions import OperationalError

from llmtrace._internal import semconv as sc
from llmtrace.store import Store
from llmtrace.store.arrow import span_table, table_from_ipc, table_to_ipc
from llmtrace.store.rows import SpanRecord, span_values
from llmtrace_server.writer import SpanWriter, _token

START_NS = time.time_ns() - 60 * 1_000_000_000  # one partition for every row: one part per INSERT


def rows(n: int) -> pa.Table:
    attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 5,
    }
    return span_table(
        [
            span_values(
                SpanRecord(
                    os.urandom(16).hex(),
                    os.urandom(8).hex(),
                    "chat",
                    START_NS,
                    START_NS + 10**9,
                    attributes=attrs,
                )
            )
            for _ in range(n)
        ]
    )


def inserts(store: Store) -> int:
    """INSERTs into `spans` so far: each writes one level-0 part (merged parts stay listed, inactive)."""
    return int(
        store.client.query(
            "SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'spans' AND level = 0",
            parameters={"db": store.database},
        ).result_rows[0][0]
    )


def stored(store: Store) -> int:
    return int(store.client.query(f"SELECT count() FROM {store.database}.spans").result_rows[0][0])


async def test_requests_still_decoding_join_the_same_insert(store: Store) -> None:
    writer = SpanWriter(store, min_rows=10_000, linger_s=30)
    await writer.start()
    try:

        async def request(delay: float) -> int:
            with writer.incoming():  # the request is being read and decoded ...
                await asyncio.sleep(delay)
                batch = rows(50)
            return await writer.write(batch)  # ... and then queues its rows

        written = await asyncio.gather(*(request(0.05 * i) for i in range(6)))
    finally:
        await writer.close()
    assert written == [50] * 6
    assert (inserts(store), stored(store)) == (1, 300)


async def test_a_lone_request_is_written_at_once(store: Store) -> None:
    writer = SpanWriter(store, min_rows=10_000, linger_s=30)
    await writer.start()
    try:
        t0 = time.monotonic()
        assert await writer.write(rows(3)) == 3
        assert time.monotonic() - t0 < 10  # far below the 30 s linger: nothing else was incoming
    finally:
        await writer.close()
    assert stored(store) == 3


async def test_a_stalled_request_holds_a_block_back_no_longer_than_the_linger(store: Store) -> None:
    writer = SpanWriter(store, min_rows=10_000, linger_s=0.3)
    await writer.start()
    try:
        with writer.incoming():  # e.g. a client uploading its body very slowly
            t0 = time.monotonic()
            assert await writer.write(rows(4)) == 4
            waited = time.monotonic() - t0
    finally:
        await writer.close()
    assert 0.3 <= waited < 10 and stored(store) == 4


async def test_a_full_block_is_written_without_waiting_for_the_linger(store: Store) -> None:
    writer = SpanWriter(store, min_rows=100, linger_s=30)
    await writer.start()
    try:
        with writer.incoming():  # another request is still decoding, but the block is full
            t0 = time.monotonic()
            assert await writer.write(rows(100)) == 100
            assert time.monotonic() - t0 < 10
    finally:
        await writer.close()


async def test_spans_repeated_across_requests_of_one_block_are_stored_once(store: Store) -> None:
    writer = SpanWriter(store, min_rows=10_000, linger_s=30)
    await writer.start()
    try:
        first = rows(3)
        second = pa.concat_tables([first.slice(1), rows(2)])  # two spans of `first`, two new ones
        written = await asyncio.gather(writer.write(first), writer.write(second))
        again = await writer.write(second)  # a later re-send: nothing new
    finally:
        await writer.close()
    assert written == [3, 2] and again == 0
    assert (inserts(store), stored(store)) == (1, 5)


def test_the_dedup_token_is_kept_by_a_copy_of_the_block_and_differs_for_other_spans() -> None:
    block = rows(4)
    copied = table_from_ipc(table_to_ipc(block))  # same spans, other buffers (as from a decode worker)
    assert _token(copied) == _token(block)
    assert _token(block.slice(1)) != _token(block)  # a slice shares the buffers but not the spans
    assert _token(rows(4)) != _token(block)


def inserted_table(block: Any) -> pa.Table:
    """The spans of an INSERT's Arrow IPC file (what :func:`llmtrace.store.client.insert_arrow`
    hands the driver's ``raw_insert``), read without moving the driver's position in it."""
    table = pa.ipc.open_file(block).read_all()
    block.seek(0)
    return table


class _CommitThenDrop:
    """clickhouse-connect's client whose first INSERT is committed but answered by a dropped
    connection, as a ClickHouse server behind a flaky network can do."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.inserts = 0

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        self.inserts += 1
        result = self._client.raw_insert(*args, **kwargs)
        if self.inserts == 1:
            raise OperationalError("connection reset by peer after the INSERT was sent")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def test_a_block_whose_insert_failed_after_committing_is_stored_once(store: Store) -> None:
    flaky = _CommitThenDrop(store.client)
    writer = SpanWriter(Store(flaky, store.database, store.dsn), min_rows=1)
    await writer.start()
    try:
        assert await writer.write(rows(5)) == 5  # the re-sent block is recognised by its token
    finally:
        await writer.close()
    assert flaky.inserts == 2
    assert (inserts(store), stored(store)) == (1, 5)
    rollup = f"SELECT countMerge(calls) FROM {store.database}.spans_hourly"
    assert store.client.query(rollup).result_rows[0][0] == 5  # the views skipped the re-sent block too
