"""The decode worker pool: the same answers as decoding in the server process, through shared memory
or (over a buffer's size) the pipe; a dead worker breaks the pool; nothing is left behind."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import otlp_build as ob
import pytest

from llmtrace._internal import semconv as sc
from llmtrace_server.decode_pool import DecodePool
from llmtrace_server.ingest import DecodeFailure, PreparedBatch, decode_batch
from llmtrace_server.otlp import PROTOBUF

CHAT = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 120,
    sc.GEN_AI_INPUT_MESSAGES: '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
}
ARGS = (PROTOBUF, None, "p1", 1 << 24, None)


def _body(spans: int, bad: int = 0) -> bytes:
    good = [ob.span({**CHAT, "n": i}) for i in range(spans)]
    broken = [ob.span({**CHAT, sc.GEN_AI_USAGE_INPUT_TOKENS: "many"}) for _ in range(bad)]
    return ob.request(good + broken).SerializeToString()


def _same(got: PreparedBatch | DecodeFailure, body: bytes) -> None:
    expected = decode_batch(body, *ARGS)
    assert isinstance(got, PreparedBatch) and isinstance(expected, PreparedBatch)
    assert got.spans.equals(expected.spans)
    assert got.rejected == expected.rejected and got.duplicates == expected.duplicates
    assert got.ipc is not None  # kept for the spool


def _shared_files() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("llmtrace-decode-*")} if shm.is_dir() else set()


@pytest.mark.parametrize("buffer_bytes", [1 << 22, 2048], ids=["shared memory", "over the buffers: the pipe"])
def test_workers_answer_as_the_server_process_would(buffer_bytes: int) -> None:
    before = _shared_files()
    bodies = [_body(40, bad=1), _body(1), _body(200)]

    async def run() -> list[PreparedBatch | DecodeFailure]:
        pool = DecodePool(2, buffer_bytes)
        try:
            answers = await asyncio.gather(*(pool.decode(body, *ARGS) for body in bodies * 2))
            answers.append(await pool.decode(b"\xff\xff", *ARGS))
            return answers
        finally:
            pool.shutdown()

    answers = asyncio.run(run())
    for body, got in zip(bodies * 2, answers, strict=False):
        _same(got, body)
    malformed = answers[-1]
    assert isinstance(malformed, DecodeFailure) and malformed.status == 400
    assert malformed.message == decode_batch(b"\xff\xff", *ARGS).message  # type: ignore[union-attr]
    assert not multiprocessing.active_children()
    # The workers removed their files once both sides had mapped them. (Only new files count:
    # /dev/shm is the machine's, and other servers' pools come and go meanwhile.)
    assert not _shared_files() - before


def test_a_request_that_stops_waiting_does_not_get_its_answer_read_by_the_next() -> None:
    first, second = _body(300), _body(3)

    async def run() -> PreparedBatch | DecodeFailure:
        pool = DecodePool(1)
        try:
            await pool.decode(second, *ARGS)  # the worker is up
            waiting = asyncio.ensure_future(pool.decode(first, *ARGS))
            await asyncio.sleep(0.01)
            waiting.cancel()
            return await pool.decode(second, *ARGS)
        finally:
            pool.shutdown()

    _same(asyncio.run(run()), second)


async def _kill_its_worker(pool: DecodePool) -> None:
    """Start ``pool``'s single worker with one request, then kill it as the OOM killer would."""
    await pool.decode(_body(1), *ARGS)
    (worker,) = multiprocessing.active_children()
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(10)


def test_a_worker_that_dies_breaks_the_pool() -> None:
    async def run() -> None:
        pool = DecodePool(1)
        try:
            await _kill_its_worker(pool)
            with pytest.raises(BrokenProcessPool):
                await pool.decode(_body(1), *ARGS)
            with pytest.raises(BrokenProcessPool):  # the server says to restart it (a 503)
                await pool.decode(_body(1), *ARGS)
        finally:
            pool.shutdown()

    asyncio.run(run())


def test_requests_waiting_for_a_worker_when_it_dies_are_told_the_pool_is_broken() -> None:
    """Not left waiting forever for a worker that never comes back."""

    async def run() -> list[object]:
        pool = DecodePool(1)
        try:
            await _kill_its_worker(pool)
            waiting = [pool.decode(_body(1), *ARGS) for _ in range(3)]
            return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 30)
        finally:
            pool.shutdown()

    assert [type(r) for r in asyncio.run(run())] == [BrokenProcessPool] * 3
