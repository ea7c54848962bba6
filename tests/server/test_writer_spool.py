"""The writer's spool: under load a request is answered once its spans are spooled, and spooled
spans reach the store once, also when the server stopped before writing them."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from llmtrace.store import Store, StoreError
from llmtrace.store.arrow import table_to_ipc
from llmtrace_server.settings import Settings
from llmtrace_server.spool import Spool, ingest_spool
from llmtrace_server.writer import SpanWriter
from tests.server.test_writer import inserted_table, inserts, rows, stored


def spooled_files(spool: Spool) -> list[str]:
    return sorted(path.name for path in spool.path.iterdir())


REFUSED = "the store refuses this span"


class Driver:
    """clickhouse-connect's client that fails every INSERT while ``down``, and refuses a block
    carrying a span named :data:`REFUSED` (a value the store cannot take)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.down = False

    def raw_insert(self, table: str, columns: Any, block: Any, **kwargs: Any) -> Any:
        data = inserted_table(block)
        if self.down:
            raise OperationalError("connection refused")
        if REFUSED in data["name"].to_pylist():
            raise DatabaseError("Code: 70. Unexpected inf or nan to integer conversion")
        return self._client.raw_insert(table, columns, block, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@asynccontextmanager
async def open_block(writer: SpanWriter, spans: pa.Table) -> AsyncIterator[asyncio.Task[int]]:
    """A request waiting for its write while another is still decoding: the writer holds the block
    open, so requests that come meanwhile are answered from the spool."""
    with writer.incoming():
        waiting = asyncio.create_task(writer.write(spans))
        await asyncio.sleep(0.2)
        yield waiting


async def spooling_writer(store: Store, spool: Spool) -> SpanWriter:
    """A started writer whose blocks wait long for more rows (until the test lets them go)."""
    writer = SpanWriter(store, min_rows=10_000, linger_s=30, spool=spool, spool_delay_s=30)
    await writer.start()
    return writer


def refused_rows(n: int) -> pa.Table:
    table = rows(n)
    return table.set_column(table.schema.get_field_index("name"), "name", pa.array([REFUSED] * n))


async def test_a_request_arriving_while_a_block_is_open_is_answered_once_spooled(
    store: Store, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(store, spool)
    try:
        async with open_block(writer, rows(3)) as first:
            assert await asyncio.wait_for(writer.write(rows(4)), 10) == 4  # answered at once ...
            assert len(spooled_files(spool)) == 1  # ... once its spans are in the spool
            assert not first.done() and stored(store) == 0
        assert await asyncio.wait_for(first, 20) == 3  # the block: both requests' spans
    finally:
        await writer.close()
    assert (inserts(store), stored(store)) == (1, 7)
    assert spooled_files(spool) == []  # written: forgotten


async def test_spans_spooled_but_not_written_when_the_server_stopped_are_written_at_the_next_start(
    store: Store, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(store, spool)
    async with open_block(writer, rows(3)) as waiting:
        assert await writer.write(rows(4)) == 4  # acknowledged ...
        await writer.close()  # ... and the server stops before the block is written
    waiting.cancel()
    assert stored(store) == 0 and len(spooled_files(spool)) == 1

    restarted = SpanWriter(store, spool=Spool(tmp_path / "spool"))
    await restarted.start()
    await restarted.close()
    assert stored(store) == 4 and spooled_files(spool) == []


async def test_a_spool_left_by_a_crash_is_written_without_the_spans_the_store_has(
    store: Store, tmp_path: Path
) -> None:
    written = rows(5)
    store.insert_span_table(written)  # the crash came after this block's INSERT ...
    spool = Spool(tmp_path / "spool")
    spool.add(table_to_ipc(pa.concat_tables([written.slice(0, 2), rows(3)])))  # ... before forgetting it
    spool.add(table_to_ipc(rows(2)))
    (spool.path / "00000000000000000009-000000000.partial").write_bytes(b"half a batch")  # never answered
    (spool.path / "00000000000000000009-000000001.arrows").write_bytes(b"not arrow")
    writer = SpanWriter(store, spool=Spool(tmp_path / "spool"))
    await writer.start()
    await writer.close()
    assert stored(store) == 5 + 3 + 2  # every span once
    assert spooled_files(spool) == ["00000000000000000009-000000001.unreadable"]  # kept for a look


def test_the_spool_lives_beside_an_embedded_store_per_database(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data"
    memory = Store(store.client, "shop", "chdb://memory/shop")
    assert ingest_spool(Settings(), memory) is None  # nothing survives an in-memory store anyway
    on_disk = Store(store.client, "shop", f"chdb://{path}")
    spool = ingest_spool(Settings(), on_disk)
    assert spool is not None and spool.path == tmp_path / "data-ingest-spool" / "shop"
    assert ingest_spool(Settings(ingest_spool=False), on_disk) is None
    named = ingest_spool(Settings(ingest_spool_dir=tmp_path / "elsewhere"), on_disk)
    assert named is not None and named.path == tmp_path / "elsewhere"


async def test_spooled_spans_are_written_once_the_store_is_back(store: Store, tmp_path: Path) -> None:
    driver = Driver(store.client)
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(Store(driver, store.database, store.dsn), spool)
    try:
        async with open_block(writer, rows(3)) as waiting:
            assert await writer.write(rows(4)) == 4  # acknowledged from the spool
            driver.down = True  # ... and the store goes away before the block is written
        with pytest.raises(StoreError):
            await asyncio.wait_for(waiting, 30)  # a waiting request learns it was not written
        assert len(spooled_files(spool)) == 1  # the acknowledged one is kept, and retried
        driver.down = False
        for _ in range(200):
            if not spooled_files(spool):
                break
            await asyncio.sleep(0.1)
    finally:
        await writer.close()
    assert stored(store) == 4 and spooled_files(spool) == []


async def test_a_spooled_batch_the_store_refuses_is_set_aside_and_the_others_written(
    store: Store, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(Store(Driver(store.client), store.database, store.dsn), spool)
    try:
        async with open_block(writer, rows(3)) as waiting:
            assert await writer.write(refused_rows(2)) == 2  # acknowledged: too late for a 503
            assert await writer.write(rows(4)) == 4
        assert await asyncio.wait_for(waiting, 30) == 3
        for _ in range(100):
            if len(spooled_files(spool)) == 1 and stored(store) == 7:
                break
            await asyncio.sleep(0.1)
    finally:
        await writer.close()
    assert stored(store) == 7  # the two other requests
    [kept] = spooled_files(spool)
    assert kept.endswith(".refused")  # not lost without a trace, not retried for ever


async def test_a_spooled_batch_whose_file_is_gone_is_given_up_alone(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A spooled batch waits as its file; a file removed before the INSERT loses that batch (said in
    the log), never the block's others, and is not retried for ever ahead of later blocks."""
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(store, spool)
    try:
        async with open_block(writer, rows(3)) as waiting:
            assert await writer.write(rows(4)) == 4
            [gone] = spool.path.iterdir()
            assert await writer.write(rows(5)) == 5
            gone.unlink()  # removed by hand, say
        assert await asyncio.wait_for(waiting, 30) == 3
        for _ in range(100):
            if not spooled_files(spool):
                break
            await asyncio.sleep(0.1)
        assert stored(store) == 3 + 5 and spooled_files(spool) == []
        async with open_block(writer, rows(2)) as later:  # the writer goes on as before
            assert await writer.write(rows(1)) == 1
        assert await asyncio.wait_for(later, 30) == 2
    finally:
        await writer.close()
    assert stored(store) == 3 + 5 + 2 + 1
    assert f"{gone} cannot be read" in caplog.text and "its 4 acknowledged spans are lost" in caplog.text


async def test_a_request_that_cannot_be_spooled_waits_for_its_write(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    writer = await spooling_writer(store, spool)
    try:
        async with open_block(writer, rows(3)) as first:
            shutil.rmtree(spool.path)  # the spool cannot take files (as with a full disk)
            second = asyncio.create_task(writer.write(rows(4)))
            await asyncio.sleep(0.3)
            assert not second.done()  # not acknowledged from a spool it is not in
        assert await asyncio.wait_for(second, 20) == 4 and await first == 3
    finally:
        await writer.close()
    assert stored(store) == 7


def test_requests_spool_from_several_threads_at_once(tmp_path: Path) -> None:
    """Requests spool from the thread pool concurrently: every add gets a file of its own (a shared
    generator of names raised "generator already executing" when two threads entered it)."""
    spool = Spool(tmp_path / "spool")
    paths: list[Path] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def add_many() -> None:
        start.wait()
        try:
            paths.extend(spool.add(b"x") for _ in range(300))
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: inside next(), if a switch can land there
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(set(paths)) == len(paths) == 8 * 300
