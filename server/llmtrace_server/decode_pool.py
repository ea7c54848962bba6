"""Worker processes that decode OTLP bodies, so ingest is not bound to one core by the GIL.

Each worker owns a pipe and two buffers of shared memory (files in ``/dev/shm``, mapped by the
server and the worker): the server copies a request body into one, the worker writes its Arrow
IPC result straight into the other, and the pipe carries a few hundred bytes per request. Why not
``ProcessPoolExecutor``: it pickles the ~1 MB body into a pipe and the ~1 MB result back, and the
pipe's 64 KiB capacity cuts each into a dozen writes, reads, wake-ups and copies; on issue 14's
batches that cost ~2.5 µs per span in the server process (which the GIL makes the bottleneck) and
~2 in the worker. A body or result larger than its buffer still goes through the pipe.

"spawn", not fork: the server runs chDB's threads, and forking a threaded process is unsafe.
Each worker imports the decoder and tunes its garbage collector once, at start. It holds only its
own end of its pipe, so it exits as soon as the server process is gone, even one killed with
SIGKILL (or by the OOM killer): its next read or write of the pipe fails. A worker that dies
breaks the pool (:class:`BrokenProcessPool`, as ``ProcessPoolExecutor`` did): the server answers
503 and says to restart it.
"""

from __future__ import annotations

import asyncio
import mmap
import multiprocessing
import os
import signal
import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

from llmtrace.store.arrow import table_from_ipc, table_to_ipc
from llmtrace_server.arrow_pool import use_system_pool
from llmtrace_server.gc_tuning import tune_gc
from llmtrace_server.ingest import DecodeFailure, PreparedBatch, SpanLimits, decode_batch

# Each worker's two buffers: bodies and results up to this size cross through shared memory (a
# batch of 512 content-carrying spans is ~1 MB); larger ones through the pipe. The space is
# reserved when a worker starts: a write into a shared file whose file system is full (a
# container's small /dev/shm) would kill the process with SIGBUS instead of raising an error.
BUFFER_BYTES = 8 * 1024 * 1024
_SHM_DIR = "/dev/shm"  # memory-backed where it exists; elsewhere a temporary file works the same
_INLINE = -1  # a size field meaning "the bytes are in the message itself"


def decode_pool(workers: int) -> DecodePool | None:
    """``workers`` decode processes (started on demand), or None to decode in threads."""
    if workers <= 0:
        return None
    return DecodePool(workers)


class DecodePool:
    """Decode request bodies in ``workers`` processes; at most one request per worker at a time."""

    def __init__(self, workers: int, buffer_bytes: int = BUFFER_BYTES) -> None:
        self._workers = [_Worker(buffer_bytes) for _ in range(workers)]
        self._idle: asyncio.Queue[_Worker] | None = None  # made in the event loop at first use
        # One thread per worker waits for its answer, so the event loop never blocks on a pipe.
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmtrace-decode")
        self._broken = False

    async def decode(
        self,
        body: bytes,
        media: str,
        encoding: str | None,
        project: str,
        max_bytes: int,
        limits: SpanLimits | None,
    ) -> PreparedBatch | DecodeFailure:
        """:func:`llmtrace_server.ingest.decode_batch` of these arguments, run by an idle worker."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._workers:
                self._idle.put_nowait(worker)
        worker = await self._idle.get()
        idle = self._idle
        if self._broken:  # (checked after the wait too: a request waiting then must not wait forever)
            idle.put_nowait(worker)
            raise BrokenProcessPool("a decode worker process died")
        call = asyncio.get_running_loop().run_in_executor(
            self._threads, worker.call, body, (media, encoding, project, max_bytes, limits)
        )

        def release(done: asyncio.Future[Any]) -> None:
            # Once the worker has answered, even to a request that stopped waiting (its answer must
            # not be read as the next request's). A dead one goes back too: whoever takes it next
            # is told the pool is broken instead of waiting for a worker that never comes.
            if not done.cancelled() and isinstance(done.exception(), BrokenProcessPool):
                self._broken = True
            idle.put_nowait(worker)

        call.add_done_callback(release)
        return await asyncio.shield(call)

    def shutdown(self) -> None:
        """Stop every worker (each exits when its pipe closes) and free the shared buffers."""
        self._threads.shutdown(wait=True)
        for worker in self._workers:
            worker.stop()


class _Worker:
    """One decode process, its pipe and its two shared buffers; used by one thread at a time."""

    def __init__(self, buffer_bytes: int) -> None:
        self._size = buffer_bytes
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._inbox: mmap.mmap | None = None
        self._outbox: mmap.mmap | None = None

    def call(self, body: bytes, args: tuple[Any, ...]) -> PreparedBatch | DecodeFailure:
        """Send ``body`` and ``args`` to the process (started at the first call); return its answer."""
        try:
            if self._conn is None:
                self._start()
            conn, inbox, outbox = self._conn, self._inbox, self._outbox
            assert conn is not None and inbox is not None and outbox is not None
            if len(body) <= self._size:
                inbox[: len(body)] = body
                conn.send((len(body), None, args))
            else:
                conn.send((_INLINE, body, args))
            answer = conn.recv()
        except (EOFError, OSError) as exc:
            raise BrokenProcessPool("a decode worker process died") from exc
        kind, payload = answer
        if kind == "failure":
            status, message = payload
            return DecodeFailure(status, message)
        if kind == "raised":
            raise payload
        size, inline, rejected, duplicates = payload
        ipc = inline if size == _INLINE else outbox[:size]
        return PreparedBatch(table_from_ipc(ipc), rejected, duplicates, ipc)

    def _start(self) -> None:
        buffers = [_shared_buffer(self._size) for _ in range(2)]
        paths = [str(path) for path, _ in buffers]
        self._inbox, self._outbox = buffers[0][1], buffers[1][1]
        ours, theirs = multiprocessing.Pipe()
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_serve, args=(theirs, paths, self._size), name="llmtrace-decode", daemon=True
        )
        try:
            process.start()
        finally:
            theirs.close()  # the worker's end lives in the worker only: EOF when either side dies
        self._conn, self._process = ours, process
        try:
            ours.recv()  # "ready": the worker has mapped (and removed) both files
        finally:
            for path in paths:  # left only by a worker that died starting
                Path(path).unlink(missing_ok=True)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        for buffer in (self._inbox, self._outbox):
            if buffer is not None:
                buffer.close()


def _shared_buffer(size: int) -> tuple[Path, mmap.mmap]:
    """A file of ``size`` reserved bytes mapped shared, in /dev/shm when it has the room, else in
    the temporary directory; the worker removes the file."""
    if os.path.isdir(_SHM_DIR):
        try:
            return _reserved_file(size, _SHM_DIR)
        except OSError:  # e.g. a container's /dev/shm is too small
            pass
    return _reserved_file(size, None)


def _reserved_file(size: int, directory: str | None) -> tuple[Path, mmap.mmap]:
    fd, path = tempfile.mkstemp(prefix="llmtrace-decode-", dir=directory)
    try:
        if hasattr(os, "posix_fallocate"):  # Linux; elsewhere the file stays sparse
            os.posix_fallocate(fd, 0, size)
        else:
            os.ftruncate(fd, size)
        return Path(path), mmap.mmap(fd, size)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)


def _serve(conn: Connection, paths: list[str], size: int) -> None:
    """The worker process: answer requests until the server closes the pipe (or is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes the pipe
    inbox, outbox = (_map(path, size) for path in paths)
    use_system_pool()
    tune_gc()
    conn.send("ready")
    results = pa.py_buffer(outbox)
    while True:
        try:
            length, inline, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = _answer(inline if length == _INLINE else inbox[:length], args, results)
        except Exception as exc:  # e.g. an unpicklable value: the server raises it, as an executor would
            answer = ("raised", exc)
        try:
            conn.send(answer)
        except OSError:
            return


def _map(path: str, size: int) -> mmap.mmap:
    with open(path, "r+b") as file:
        mapped = mmap.mmap(file.fileno(), size)
    os.unlink(path)  # mapped by both processes now: nothing is left behind, however they end
    return mapped


def _answer(body: bytes, args: tuple[Any, ...], results: pa.Buffer) -> tuple[str, Any]:
    prepared = decode_batch(body, *args)
    if isinstance(prepared, DecodeFailure):
        return "failure", (prepared.status, prepared.message)
    sink = pa.FixedSizeBufferWriter(results)
    try:
        with pa.ipc.new_stream(sink, prepared.spans.schema) as writer:
            writer.write_table(prepared.spans)
        size, inline = sink.tell(), None
    except OSError:  # larger than the buffer: through the pipe
        size, inline = _INLINE, table_to_ipc(prepared.spans)
    return "prepared", (size, inline, prepared.rejected, prepared.duplicates)
