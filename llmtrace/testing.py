"""A test kit for code traced with llmtrace: assert on the spans and scores your code produced.

Use the pytest fixture (installing llmtrace registers it as a pytest plugin; nothing to add)::

    def test_answer_is_traced(capture_spans):
        answer("hi")
        (span,) = capture_spans.spans()
        assert span.name == "answer"
        assert span.attributes["user.id"] == "u1"

or the context manager anywhere else::

    with llmtrace.testing.capture() as captured:
        answer("hi")
    assert [s.name for s in captured.spans()] == ["answer"]

Spans go through the real export pipeline (queue and worker) into an in-memory exporter;
``spans()`` flushes first, so what you see is exactly what would have been exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
from llmtrace._internal import runtime
from llmtrace._internal.backends import ExporterBackend
from llmtrace._internal.export import Score
from llmtrace._internal.guard import allow_internal_errors

__all__ = [
    "CapturedSpans",
    "InMemorySpanExporter",
    "Score",
    "allow_internal_errors",
    "capture",
    "capture_spans",
]


class CapturedSpans:
    """The spans and scores exported while capturing."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def spans(self, timeout_s: float = 5.0) -> list[ReadableSpan]:
        """Every finished span so far, in end order (flushes the export queue first)."""
        if not llmtrace.flush(timeout_s):
            raise AssertionError(
                f"llmtrace did not deliver queued spans within {timeout_s}s: {llmtrace.stats()}"
            )
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name`` (fails if there are none or several)."""
        found = [s for s in self.spans() if s.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(found)}: {self.names()}")
        return found[0]

    def names(self) -> list[str]:
        return [s.name for s in self.spans()]

    def scores(self) -> list[Score]:
        """Scores recorded with ``llmtrace.score`` (flushes first)."""
        llmtrace.flush()
        active = runtime.active()
        if active is None or not isinstance(active.backend, ExporterBackend):
            return []
        return list(active.backend.scores)

    def clear(self) -> None:
        llmtrace.flush()
        self.exporter.clear()
        active = runtime.active()
        if active is not None and isinstance(active.backend, ExporterBackend):
            active.backend.scores.clear()


@contextmanager
def capture(**instrument_kwargs: Any) -> Iterator[CapturedSpans]:
    """Instrument with an in-memory exporter for the duration of the block, then uninstrument.

    Keyword arguments go to ``llmtrace.instrument`` (e.g. ``capture_content=False``,
    ``providers=["openai"]``); ``service_name`` defaults to ``"test"``.
    """
    exporter = InMemorySpanExporter()
    instrument_kwargs.setdefault("service_name", "test")
    llmtrace.instrument(exporter=exporter, **instrument_kwargs)
    try:
        yield CapturedSpans(exporter)
    finally:
        llmtrace.shutdown(timeout_s=5.0)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture
    def capture_spans() -> Iterator[CapturedSpans]:
        """Instrument with an in-memory exporter for one test (content captured, every trace kept)."""
        with capture() as captured:
            yield captured
