"""The span writer after a failed block (issue 13): a request the store refuses fails alone, and
spans the store took before the failure are acknowledged and never written twice.

Failures are injected at the driver boundary: a proxy of clickhouse-connect's client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from test_writer import inserted_table, inserts, rows, stored

from llmtrace.store import Store, StoreError
from llmtrace_server.writer import SpanWriter


def rollup_calls(store: Store) -> int:
    sql = f"SELECT countMerge(calls) FROM {store.database}.spans_hourly"
    return int(store.client.query(sql).result_rows[0][0])


class _RefusesSpan:
    """A client whose server refuses every INSERT carrying one span id (a value it cannot take)."""

    def __init__(self, client: Any, span_id: str) -> None:
        self._client = client
        self._span_id = span_id
        self.inserts = 0

    def raw_insert(self, table: Any, columns: Any, block: Any, **kwargs: Any) -> Any:
        data = inserted_table(block)
        self.inserts += 1
        if self._span_id in data["span_id"].to_pylist():
            raise DatabaseError("Code: 70. Unexpected inf or nan to integer conversion")
        return self._client.raw_insert(table, columns, block, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _AlwaysDropsAfterCommit:
    """A client whose INSERTs are all committed but all answered by a dropped connection."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        self._client.raw_insert(*args, **kwargs)
        raise OperationalError("connection reset by peer after the INSERT was sent")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def _together(writer: SpanWriter, *tables: pa.Table) -> list[Any]:
    """Write ``tables`` as requests that share one block (each is still incoming when queued)."""

    async def request(table: pa.Table) -> Any:
        with writer.incoming():
            await asyncio.sleep(0.05)
        return await writer.write(table)

    return await asyncio.gather(*(request(t) for t in tables), return_exceptions=True)


async def test_a_request_the_store_refuses_fails_alone_and_the_others_commit_once(store: Store) -> None:
    first, poisoned, last = rows(4), rows(3), rows(5)
    driver = _RefusesSpan(store.client, poisoned["span_id"][1].as_py())
    writer = SpanWriter(Store(driver, store.database, store.dsn), min_rows=10_000, linger_s=5)
    await writer.start()
    try:
        results = await _together(writer, first, poisoned, last)
    finally:
        await writer.close()
    assert results[0] == 4 and results[2] == 5
    assert isinstance(results[1], StoreError) and "inf or nan" in str(results[1])
    assert stored(store) == rollup_calls(store) == 9
    # One shared block (sent three times), then each request alone.
    assert driver.inserts == 3 + 3


async def test_spans_committed_before_a_failure_are_acknowledged_and_stored_once(store: Store) -> None:
    writer = SpanWriter(Store(_AlwaysDropsAfterCommit(store.client), store.database, store.dsn), min_rows=1)
    await writer.start()
    try:
        assert await writer.write(rows(6)) == 6  # the store has them: not a 503
        retry = rows(2)
        assert await writer.write(retry) == 2
        assert await writer.write(retry) == 0  # an exporter's re-send is still recognised
    finally:
        await writer.close()
    assert stored(store) == rollup_calls(store) == 8
    assert inserts(store) == 2


async def test_the_request_fails_when_the_store_cannot_be_asked(store: Store) -> None:
    writer = SpanWriter(store, min_rows=1)
    await writer.start()
    store.client.command(f"DETACH TABLE {store.database}.spans")
    try:
        with pytest.raises(StoreError):
            await writer.write(rows(2))
    finally:
        store.client.command(f"ATTACH TABLE {store.database}.spans")
    try:
        assert await writer.write(rows(2)) == 2
    finally:
        await writer.close()


class _Scheduled:
    """A client whose INSERTs fail as ``outcomes`` say, in turn: before writing or after writing."""

    def __init__(self, client: Any, outcomes: list[str]) -> None:
        self._client = client
        self.outcomes = list(outcomes)

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "fail_before":
            raise OperationalError("connection refused")
        self._client.raw_insert(*args, **kwargs)
        if outcome == "fail_after":
            raise OperationalError("connection reset by peer after the INSERT was sent")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def test_a_request_written_alone_that_committed_before_failing_is_acknowledged_once(
    store: Store,
) -> None:
    # The block fails three times without writing; the request's own INSERT commits, then fails.
    driver = _Scheduled(store.client, ["fail_before"] * 3 + ["fail_after"])
    writer = SpanWriter(Store(driver, store.database, store.dsn), min_rows=1)
    await writer.start()
    try:
        batch = rows(4)
        assert await writer.write(batch) == 4
        assert await writer.write(batch) == 0  # the exporter's re-send is recognised
    finally:
        await writer.close()
    assert stored(store) == rollup_calls(store) == 4
