"""``ingest.prepare`` and ``decode_batch`` on decoded spans: the mapping loop (``rows.span_rows``),
rejections kept per span, and the garbage collector paused only while a batch decodes."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import otlp_build as ob
import pytest

from llmtrace._internal import semconv as sc
from llmtrace.store.rows import SpanRecord, span_rows
from llmtrace_server import otlp
from llmtrace_server.ingest import DecodeFailure, decode_batch, gc_paused, prepare

_NOW = time.time_ns()
_CHAT = {sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", sc.GEN_AI_USAGE_INPUT_TOKENS: 10}


class _Exploding(Mapping[str, Any]):
    """Attributes that fail as no attribute should: what a bug in the mapping would look like."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("broken attributes")

    def __len__(self) -> int:
        return 1


def _record(span_id: str, **fields: Any) -> SpanRecord:
    return SpanRecord("ab" * 16, span_id, "chat", _NOW - 10**9, _NOW, **fields)


def test_span_record_defaults_and_keywords() -> None:
    record = SpanRecord(trace_id="ab" * 16, span_id="cd" * 8, name="n", start_ns=1, end_ns=2)
    assert (record.attributes, record.resource, record.events, record.event_times) == ({}, {}, (), ())
    assert record.parent_span_id == "" and record.status_code == "unset" and record.status_message == ""
    assert record.attributes is not SpanRecord("ab" * 16, "cd" * 8, "n", 1, 2).attributes  # not shared
    assert record == SpanRecord("ab" * 16, "cd" * 8, "n", 1, 2, "", "unset", "", {}, {}, (), ())
    assert record != SpanRecord("ab" * 16, "cd" * 8, "n", 1, 3)


def test_span_rows_keeps_order_and_returns_each_failure_with_its_index() -> None:
    records = [
        (0, _record("01" * 8, attributes=_CHAT)),
        (1, _record("0" * 16)),  # invalid: a zero span id
        (2, _record("02" * 8, attributes=_Exploding())),
        (3, _record("03" * 8)),
    ]
    rows, positions, failed = span_rows(records, "p", None, _NOW, 0, 10**9)
    assert positions == [0, 3]
    assert [row[2] for row in rows] == ["01" * 8, "03" * 8]
    assert [(index, type(exc).__name__) for index, exc in failed] == [(1, "InvalidSpan"), (2, "RuntimeError")]


def test_prepare_rejects_invalid_spans_and_mapping_bugs_alone(caplog: pytest.LogCaptureFixture) -> None:
    batch = otlp.DecodedBatch(
        [
            (0, _record("01" * 8, attributes=_CHAT)),
            (1, _record("02" * 8, attributes={sc.GEN_AI_USAGE_INPUT_TOKENS: -1})),
            (2, _record("03" * 8, attributes=_Exploding())),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="llmtrace_server.ingest"):
        prepared = prepare(batch, "p")
    assert prepared.spans.column("span_id").to_pylist() == ["01" * 8]
    assert [(r.index, r.span_id) for r in prepared.rejected] == [(1, "02" * 8), (2, "03" * 8)]
    assert "non-negative" in prepared.rejected[0].reason
    assert prepared.rejected[1].reason == "RuntimeError: broken attributes"
    assert [r.exc_info is not None for r in caplog.records] == [True]  # the bug is logged, with its traceback


def test_gc_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), gc_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()  # someone else turned collection off: it stays off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_pauses_leave_collection_enabled() -> None:
    """Two threads decoding at once, the first to start finishing first (or last)."""
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert gc.isenabled()
    first, second = gc_paused(), gc_paused()
    first.__enter__()
    second.__enter__()
    second.__exit__(None, None, None)
    first.__exit__(None, None, None)
    assert gc.isenabled()


def test_decode_batch_leaves_collection_enabled_whatever_the_outcome() -> None:
    good = ob.request([ob.span(_CHAT)]).SerializeToString()
    assert not isinstance(decode_batch(good, otlp.PROTOBUF, None, "p", 1 << 20), DecodeFailure)
    assert gc.isenabled()
    failure = decode_batch(b"\xff\xff", otlp.PROTOBUF, None, "p", 1 << 20)
    assert isinstance(failure, DecodeFailure) and failure.status == 400
    assert gc.isenabled()
