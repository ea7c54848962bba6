"""Worker processes that decode OTLP bodies, so ingest is not bound to one core by the GIL.

"spawn", not fork: the server runs chDB's threads, and forking a threaded process is unsafe.
Each worker imports the decoder and tunes its garbage collector once, at start, and exits as soon
as the server process is gone: a pool worker otherwise outlives a server killed with SIGKILL (or by
the OOM killer), idle but holding its memory, because it keeps both ends of its task queue open.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait

from llmtrace_server.gc_tuning import tune_gc


def decode_pool(workers: int) -> ProcessPoolExecutor | None:
    """``workers`` decode processes (started on demand), or None to decode in threads."""
    if workers <= 0:
        return None
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker
    )


def _start_worker() -> None:
    import llmtrace_server.ingest  # noqa: F401  (what every task runs: loaded once, then frozen)

    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent.sentinel,), name="llmtrace-parent-watch", daemon=True
        ).start()
    tune_gc()


def _exit_with(parent_sentinel: int) -> None:
    """Block until the server process ends, then end this worker at once."""
    wait([parent_sentinel])
    os._exit(0)
