"""Turn a decoded OTLP batch into `spans` rows: map, reject invalid spans alone, de-duplicate.

Retries across requests are filtered by :mod:`llmtrace_server.writer`; this module only collapses
a span repeated inside one batch.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa

from llmtrace._internal.pricing import PriceBook
from llmtrace.store.arrow import span_table
from llmtrace.store.rows import MAX_FUTURE_SKEW_NS, SPAN_COLUMNS, InvalidSpan, span_rows
from llmtrace_server import cwire, otlp
from llmtrace_server.otlp import DecodedBatch, Rejected

log = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 5  # the partial-success message names the first few problems
_SPAN_ID = itemgetter(SPAN_COLUMNS.index("span_id"))
_TRACE_AND_SPAN_ID = itemgetter(SPAN_COLUMNS.index("trace_id"), SPAN_COLUMNS.index("span_id"))


@dataclass(slots=True)
class PreparedBatch:
    spans: pa.Table  # the rows to store (:func:`llmtrace.store.arrow.span_table`)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0  # spans repeated inside the batch (stored once, not an error)
    ipc: bytes | None = None  # ``spans`` as Arrow IPC, when it came so from a worker (for the spool)

    def error_message(self) -> str:
        """One line naming the first problems, for ``partial_success.error_message``."""
        if not self.rejected:
            return ""
        shown = [
            f"span #{r.index} (trace_id={r.trace_id or '?'}, span_id={r.span_id or '?'}): {r.reason}"
            for r in self.rejected[:MAX_REPORTED_ERRORS]
        ]
        more = len(self.rejected) - len(shown)
        suffix = f"; and {more} more" if more else ""
        return f"{len(self.rejected)} span(s) rejected: " + "; ".join(shown) + suffix


@dataclass(frozen=True, slots=True)
class SpanLimits:
    """Which start times ingest accepts: within [now - ``max_age_days``, now + ``max_future_skew_s``].

    ``max_age_days`` is the store's span retention (0: none), so a span the TTL would delete at
    once is rejected in partial success instead of being acknowledged and silently dropped.
    """

    max_age_days: int = 0
    max_future_skew_s: int = MAX_FUTURE_SKEW_NS // 10**9


def prepare(
    batch: DecodedBatch, project: str, prices: PriceBook | None = None, limits: SpanLimits | None = None
) -> PreparedBatch:
    """Map every decodable span into an Arrow table; a span that cannot be stored is rejected alone.

    Every value is checked here, per span, before it can reach the INSERT that concurrent requests
    of every project share: one poison value must not fail the others' write.
    """
    limits = limits or SpanLimits()
    rejected = list(batch.rejected)
    now_ns = time.time_ns()  # one clock read per batch
    skew_ns = limits.max_future_skew_s * 10**9
    rows, positions, failed = span_rows(batch.records, project, prices, now_ns, limits.max_age_days, skew_ns)
    if failed:
        records = dict(batch.records)
        for index, exc in failed:
            record = records[index]
            if isinstance(exc, InvalidSpan):
                reason = str(exc)
            else:  # a mapping bug rejects this span, never the whole batch
                log.warning("unexpected error mapping a span", exc_info=exc)
                reason = f"{type(exc).__name__}: {exc}"
            rejected.append(Rejected(index, record.trace_id, record.span_id, reason))
    duplicates = 0
    if len(set(map(_SPAN_ID, rows))) < len(rows):  # a span sent twice in the batch (rare)
        # The last copy wins, as a re-send would.
        by_id = {_TRACE_AND_SPAN_ID(row): (row, at) for row, at in zip(rows, positions, strict=True)}
        duplicates = len(rows) - len(by_id)
        rows = [row for row, _ in by_id.values()]
        positions = [at for _, at in by_id.values()]
    try:
        table = span_table(rows)
    except (pa.ArrowException, ValueError) as exc:  # e.g. a lone surrogate: not encodable as UTF-8
        log.info("a batch holds spans Arrow cannot encode (%s); checking them one by one", exc)
        table = _table_without_unencodable(rows, positions, rejected)
    rejected.sort(key=lambda r: r.index)
    return PreparedBatch(table, rejected, duplicates)


def _table_without_unencodable(
    rows: list[tuple[Any, ...]], positions: list[int], rejected: list[Rejected]
) -> pa.Table:
    """The table of the rows that convert on their own; the others are added to ``rejected``.

    The slow path of :func:`prepare`, taken only when converting the whole batch failed: a string
    with a lone surrogate (OTLP/JSON can carry ``"\\ud800"``) has no UTF-8 form.
    """
    kept = []
    for row, index in zip(rows, positions, strict=True):
        trace_id, span_id = _TRACE_AND_SPAN_ID(row)
        try:
            span_table([row])
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            reason = f"a string holds a lone surrogate ({bad!r}), not valid UTF-8"
            rejected.append(Rejected(index, trace_id, span_id, reason))
        except (pa.ArrowException, ValueError) as exc:
            rejected.append(Rejected(index, trace_id, span_id, f"a value cannot be stored: {exc}"[:300]))
        else:
            kept.append(row)
    return span_table(kept)


def _limit_values(limits: SpanLimits | None) -> tuple[int, int]:
    """(max_age_days, max_future_skew_ns) as :func:`prepare` reads ``limits``."""
    limits = limits or SpanLimits()
    return limits.max_age_days, limits.max_future_skew_s * 10**9


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why a body was refused as a whole: the HTTP status and the message for the client."""

    status: int
    message: str


def decode_batch(
    body: bytes,
    media: str,
    encoding: str | None,
    project: str,
    max_bytes: int,
    limits: SpanLimits | None = None,
) -> PreparedBatch | DecodeFailure:
    """Inflate, decode and map one request body (CPU-bound; runs in a thread or a worker process).

    The cyclic garbage collector is paused meanwhile (:func:`gc_paused`).
    """
    with gc_paused():
        return _decode_batch(body, media, encoding, project, max_bytes, limits)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; collection resumes, as before, after it.

    Why: decoding a batch allocates tens of thousands of containers that stay alive until its
    table is built, so each collection that falls inside it walks them all, and finds nothing to
    free (they hold no cycles: reference counting frees them). Even with
    :func:`llmtrace_server.gc_tuning.tune_gc`'s higher threshold that was ~3% of a decode worker's
    CPU. Anything cyclic made meanwhile is collected by the next collection after the block.
    Threads decoding at once (no decode workers) may overlap: the one that found collection enabled
    enables it again when it leaves, so it never stays off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode_batch(
    body: bytes, media: str, encoding: str | None, project: str, max_bytes: int, limits: SpanLimits | None
) -> PreparedBatch | DecodeFailure:
    try:
        data = otlp.decompress(body, encoding, max_bytes)
        if media == otlp.PROTOBUF and cwire.READER is not None:  # the compiled build's C reader
            table = cwire.READER.span_table(data, project, *_limit_values(limits))
            if table is not None:  # else it declined the body: the Python path below decides
                return PreparedBatch(table, [], 0)
        return prepare(otlp.decode(data, media), project, None, limits)
    except otlp.UnsupportedMedia as exc:
        return DecodeFailure(415, str(exc))
    except otlp.BodyTooLarge as exc:
        return DecodeFailure(413, str(exc))
    except otlp.MalformedBody as exc:
        return DecodeFailure(400, str(exc))
    except Exception as exc:  # a decoder bug must still be the client's 400, never a 500
        log.warning("unexpected error decoding an OTLP body", exc_info=True)
        return DecodeFailure(400, f"cannot decode body: {type(exc).__name__}: {exc}")
