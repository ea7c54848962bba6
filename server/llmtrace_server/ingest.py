"""Turn a decoded OTLP batch into `spans` rows: map, reject invalid spans alone, de-duplicate.

Retries across requests are filtered by :mod:`llmtrace_server.writer`; this module only collapses
a span repeated inside one batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa

from llmtrace._internal.pricing import PriceBook
from llmtrace.store.arrow import span_table, table_from_ipc, table_to_ipc
from llmtrace.store.rows import SPAN_COLUMNS, InvalidSpan, span_values
from llmtrace_server import otlp
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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with the table as Arrow IPC: the batch crosses from a decode worker process."""
        return _unpickle_prepared, (table_to_ipc(self.spans), self.rejected, self.duplicates)

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


def _unpickle_prepared(spans: bytes, rejected: list[Rejected], duplicates: int) -> PreparedBatch:
    return PreparedBatch(table_from_ipc(spans), rejected, duplicates)


def prepare(batch: DecodedBatch, project: str, prices: PriceBook | None = None) -> PreparedBatch:
    """Map every decodable span into an Arrow table; an :class:`InvalidSpan` rejects that span only."""
    rejected = list(batch.rejected)
    rows: list[tuple[Any, ...]] = []
    now_ns = time.time_ns()  # one clock read per batch: the future-skew check allows a day
    for index, record in batch.records:
        try:
            rows.append(span_values(record, project=project, prices=prices, now_ns=now_ns))
        except InvalidSpan as exc:
            rejected.append(Rejected(index, record.trace_id, record.span_id, str(exc)))
    duplicates = 0
    if len(set(map(_SPAN_ID, rows))) < len(rows):  # a span sent twice in the batch (rare)
        by_id = {_TRACE_AND_SPAN_ID(row): row for row in rows}  # the last copy wins, as a re-send would
        duplicates = len(rows) - len(by_id)
        rows = list(by_id.values())
    rejected.sort(key=lambda r: r.index)
    return PreparedBatch(span_table(rows), rejected, duplicates)


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Why a body was refused as a whole: the HTTP status and the message for the client."""

    status: int
    message: str


def decode_batch(
    body: bytes, media: str, encoding: str | None, project: str, max_bytes: int
) -> PreparedBatch | DecodeFailure:
    """Inflate, decode and map one request body (CPU-bound; runs in a thread or a worker process)."""
    try:
        return prepare(otlp.decode(otlp.decompress(body, encoding, max_bytes), media), project)
    except otlp.UnsupportedMedia as exc:
        return DecodeFailure(415, str(exc))
    except otlp.BodyTooLarge as exc:
        return DecodeFailure(413, str(exc))
    except otlp.MalformedBody as exc:
        return DecodeFailure(400, str(exc))
    except Exception as exc:  # a decoder bug must still be the client's 400, never a 500
        log.warning("unexpected error decoding an OTLP body", exc_info=True)
        return DecodeFailure(400, f"cannot decode body: {type(exc).__name__}: {exc}")
