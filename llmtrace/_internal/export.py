"""The export pipeline: a bounded queue in front of one worker thread.

Ending a span (or recording a score) appends to a deque under an uncontended lock: O(1), no I/O.
When the queue is full the item is dropped and counted, and a warning is logged at most once a
minute. The worker sends batches through a :class:`Backend` with instrumentation suppressed (so
the exporter's own HTTP calls are not traced), retrying :class:`RetryableError` with exponential
backoff (at least the server's Retry-After) for ``retry_window_s``; a server restart inside the
window loses nothing. The worker starts lazily on the first item and again in a forked child
(``os.register_at_fork``), whose queue starts empty: the parent delivers what it queued.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan

from llmtrace._internal.finished_span import settle

logger = logging.getLogger("llmtrace")

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY  # the key every OTel instrumentation honours
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 15.0
_SLICE_S = 0.05  # granularity of backoff sleeps, so shutdown deadlines are honoured promptly
_WARN_EVERY_S = 60.0


class RetryableError(Exception):
    """A delivery that may succeed later (connection refused, timeout, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A delivery that will never succeed as is (400, 401, 404, invalid data).

    ``undelivered``: how many of the items failed, when the backend delivered the others (None: all).
    """

    def __init__(self, message: str, undelivered: int | None = None) -> None:
        super().__init__(message)
        self.undelivered = undelivered


@dataclass(frozen=True, slots=True)
class Score:
    """A score waiting for delivery (one row of the `scores` table)."""

    trace_id: str
    span_id: str
    name: str
    value: float
    label: str
    comment: str
    source: str
    timestamp_ns: int
    project: str | None


class Backend(Protocol):
    """Where batches go. ``timeout_s`` bounds one attempt; raise the errors above on failure."""

    def export_spans(self, spans: Sequence[ReadableSpan], timeout_s: float) -> None: ...

    def export_scores(self, scores: Sequence[Score], timeout_s: float) -> None: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters of the active export pipeline (``llmtrace.stats()``)."""

    queued: int = 0  # waiting in the queue now
    dropped: int = 0  # refused because the queue was full
    exported: int = 0  # spans delivered
    failed: int = 0  # spans given up after retries or a permanent error
    scores_exported: int = 0
    scores_failed: int = 0
    retries: int = 0  # delivery attempts that were retried
    internal_errors: int = 0  # llmtrace bugs swallowed by the guard


class _RateLimitedWarning:
    """Log a message at most once per ``every_s`` seconds, with how many were suppressed."""

    def __init__(self, every_s: float = _WARN_EVERY_S) -> None:
        self.every_s = every_s
        self._last = -1e18
        self._suppressed = 0

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            logger.warning(message + " (%d similar messages suppressed)", *args, suppressed)
        else:
            logger.warning(message, *args)


_pipelines: weakref.WeakSet[Pipeline] = weakref.WeakSet()


class Pipeline:
    """Bounded queue + worker thread delivering spans and scores through one backend."""

    def __init__(
        self,
        backend: Backend,
        *,
        queue_size: int = 2048,
        batch_size: int = 512,
        interval_s: float = 1.0,
        retry_window_s: float = 60.0,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.backend = backend
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.retry_window_s = retry_window_s
        self.request_timeout_s = request_timeout_s
        self._warn_drop = _RateLimitedWarning()
        self._warn_fail = _RateLimitedWarning()
        self._reset()
        _pipelines.add(self)

    def _reset(self) -> None:
        """Fresh state: at construction and in a forked child (the parent's locks may be held)."""
        self._lock = threading.Lock()
        self._settled_cond = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._items: deque[ReadableSpan | Score] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deadline: float | None = None
        self._enqueued = 0
        self._settled = 0
        self._dropped = 0
        self._exported = 0
        self._failed = 0
        self._scores_exported = 0
        self._scores_failed = 0
        self._retries = 0
        self._in_flight: tuple[int, int] = (0, 0)  # (spans, scores) of the batch being delivered
        self._abandoned = False  # shutdown counted the in-flight batch as failed
        self._last_failure = ""
        self._fail_warnings = 0  # give-ups, warned or rate-limited

    # --- hot path -------------------------------------------------------------------------------
    def put(self, item: ReadableSpan | Score) -> bool:
        """Queue ``item`` without blocking; ``False`` when it was dropped (queue full or stopped)."""
        with self._lock:
            if self._stopping or len(self._items) >= self.queue_size:
                self._dropped += 1
                dropped = True
            else:
                self._items.append(item)
                self._enqueued += 1
                dropped = False
                if self._thread is None:
                    self._start_worker()
                full_batch = len(self._items) >= self.batch_size
        if dropped:
            self._warn_drop(
                "llmtrace: export queue full (%d items); dropping spans and scores (llmtrace.stats() counts them)",
                self.queue_size,
            )
            return False
        if full_batch:
            self._wake.set()
        return True

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmtrace-export", daemon=True)
        self._thread.start()

    # --- control --------------------------------------------------------------------------------
    def flush(self, timeout_s: float) -> bool:
        """Deliver everything queued before this call; ``True`` if all of it was delivered in time."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._lock:
            target, failed_before = self._enqueued, self._failed + self._scores_failed
            worker = self._thread
        if worker is None or not worker.is_alive():
            self._drain(deadline)  # no worker (e.g. at interpreter exit): deliver in this thread
        else:
            self._wake.set()
        with self._settled_cond:
            done = self._settled_cond.wait_for(
                lambda: self._settled >= target, timeout=max(deadline - time.monotonic(), 0.0)
            )
        return done and self._failed + self._scores_failed == failed_before

    def shutdown(self, timeout_s: float) -> bool:
        """Deliver what is queued within ``timeout_s``, stop the worker and the backend."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._lock:
            self._deadline = deadline
            self._stopping = True
            worker = self._thread
        ok = self.flush(timeout_s)
        self._wake.set()
        if worker is not None and worker is not threading.current_thread():
            worker.join(max(deadline - time.monotonic(), 0.0) + 0.1)
        self._abandon_undelivered(timeout_s)
        if worker is None or not worker.is_alive():
            self._shutdown_backend()
        if self._fail_warnings > 1 or (self._fail_warnings and self._dropped):
            # One total that matches llmtrace.stats(): per-batch warnings are rate-limited.
            logger.warning(
                "llmtrace: in all, %d spans and %d scores were not delivered and %d items were dropped "
                "when the queue was full (llmtrace.stats() failed, scores_failed, dropped)",
                self._failed,
                self._scores_failed,
                self._dropped,
            )
        return ok

    def _abandon_undelivered(self, timeout_s: float) -> None:
        """Past the shutdown deadline: what is still queued or being sent will not be delivered
        (the process is exiting), so it counts as failed, and one warning says so."""
        with self._lock:
            leftover = list(self._items)
            self._items.clear()
            spans = sum(isinstance(i, ReadableSpan) for i in leftover) + self._in_flight[0]
            scores = len(leftover) - sum(isinstance(i, ReadableSpan) for i in leftover) + self._in_flight[1]
            self._abandoned = self._in_flight != (0, 0)
            self._failed += spans
            self._scores_failed += scores
        if leftover:
            with self._settled_cond:
                self._settled += len(leftover)
                self._settled_cond.notify_all()
        if spans or scores:
            self._fail_warnings += 1
            logger.warning(
                "llmtrace: could not deliver %d spans and %d scores within the shutdown deadline of %.1fs "
                "(LLMTRACE_EXIT_TIMEOUT_S at exit)%s",
                spans,
                scores,
                timeout_s,
                f": {self._last_failure}" if self._last_failure else ": no answer from the backend",
            )

    def close(self, timeout_s: float) -> None:
        """Stop accepting items; the worker keeps delivering the queue until ``timeout_s`` passes."""
        with self._lock:
            self._deadline = time.monotonic() + max(timeout_s, 0.0)
            self._stopping = True
            idle = self._thread is None
        self._wake.set()
        if idle:
            self._shutdown_backend()

    def _shutdown_backend(self) -> None:
        try:
            self.backend.shutdown()
        except Exception as exc:
            logger.debug("llmtrace: backend shutdown failed: %r", exc)

    def stats(self) -> Stats:
        from llmtrace._internal.guard import error_count

        return Stats(
            queued=len(self._items),
            dropped=self._dropped,
            exported=self._exported,
            failed=self._failed,
            scores_exported=self._scores_exported,
            scores_failed=self._scores_failed,
            retries=self._retries,
            internal_errors=error_count(),
        )

    # --- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        otel_context.attach(otel_context.set_value(_SUPPRESS_KEY, True))
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._drain(None)
            if self._stopping and not self._items:
                self._shutdown_backend()
                return

    def _drain(self, deadline: float | None) -> None:
        while True:
            with self._lock:
                batch = [self._items.popleft() for _ in range(min(self.batch_size, len(self._items)))]
                spans = [i for i in batch if isinstance(i, ReadableSpan)]
                scores = [i for i in batch if isinstance(i, Score)]
                self._in_flight = (len(spans), len(scores))
            if not batch:
                return
            try:
                if spans:
                    settle(spans)  # attributes left to this thread (`RecordingSpan.end_with`)
                    self._deliver("spans", self.backend.export_spans, spans, deadline)
                if scores:
                    self._deliver("scores", self.backend.export_scores, scores, deadline)
            finally:
                with self._lock:
                    self._in_flight = (0, 0)
                with self._settled_cond:
                    self._settled += len(batch)
                    self._settled_cond.notify_all()

    def _deliver(
        self, kind: str, send: Callable[[Any, float], None], items: Sequence[Any], deadline: float | None
    ) -> None:
        started = time.monotonic()
        backoff = _FIRST_BACKOFF_S
        while True:
            limit = self._limit(started, deadline)
            remaining = limit - time.monotonic()
            if remaining <= 0:
                self._give_up(kind, len(items), "retry window or shutdown deadline passed")
                return
            try:
                send(items, min(self.request_timeout_s, remaining))
            except RetryableError as exc:
                wait = max(backoff, exc.retry_after or 0.0)
                if time.monotonic() + wait > self._limit(started, deadline):
                    self._give_up(kind, len(items), f"{exc} (retried for {time.monotonic() - started:.1f}s)")
                    return
                self._retries += 1
                self._pause(wait, started, deadline)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            except PermanentError as exc:
                failed = len(items) if exc.undelivered is None else exc.undelivered
                self._delivered(kind, len(items) - failed)
                self._give_up(kind, failed, str(exc))
                return
            except Exception as exc:  # a custom exporter's bug: not ours to re-raise, but never silent
                self._give_up(kind, len(items), f"exporter raised {exc!r}")
                return
            self._delivered(kind, len(items))
            return

    def _delivered(self, kind: str, count: int) -> None:
        with self._lock:
            if self._abandoned:  # already counted as failed by shutdown
                return
            if kind == "spans":
                self._exported += count
            else:
                self._scores_exported += count

    def _limit(self, started: float, deadline: float | None) -> float:
        limit = started + self.retry_window_s
        for d in (deadline, self._deadline):
            if d is not None:
                limit = min(limit, d)
        return limit

    def _pause(self, seconds: float, started: float, deadline: float | None) -> None:
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end and now < self._limit(started, deadline):
            time.sleep(min(_SLICE_S, end - now))

    def _give_up(self, kind: str, count: int, reason: str) -> None:
        with self._lock:
            self._last_failure = reason
            if self._abandoned:  # already counted as failed by shutdown
                return
            if kind == "spans":
                self._failed += count
            else:
                self._scores_failed += count
            self._fail_warnings += 1
        self._warn_fail("llmtrace: could not deliver %d %s: %s", count, kind, reason)


def _after_fork_in_child() -> None:
    for pipeline in list(_pipelines):
        pipeline._reset()
        after_fork = getattr(pipeline.backend, "after_fork", None)
        if after_fork is not None:
            after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
