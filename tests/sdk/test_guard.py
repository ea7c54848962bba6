"""Failures inside llmtrace never change what the host call returns or raises."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace
from llmtrace._internal.guard import guarded
from llmtrace.testing import allow_internal_errors


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise RuntimeError("exporter exploded")

    def shutdown(self) -> None:
        return None


@llmtrace.trace
def compute(x: int) -> int:
    return x + 1


@llmtrace.trace
def explode() -> None:
    raise KeyError("user error")


def test_exporter_that_raises_does_not_touch_the_host() -> None:
    exporter = RaisingExporter()
    llmtrace.instrument(exporter=exporter)
    try:
        assert compute(1) == 2
        with pytest.raises(KeyError, match="user error"):
            explode()
        assert llmtrace.flush(5.0) is False
        assert exporter.calls >= 1
        assert llmtrace.stats().failed == 2
    finally:
        llmtrace.shutdown(1.0)


def test_redactor_that_raises_leaves_result_and_span_intact() -> None:
    def bad_redact(text: str) -> str:
        raise RuntimeError("redactor bug")

    with llmtrace.testing.capture(redact=bad_redact) as captured:
        before = llmtrace.stats().internal_errors
        with allow_internal_errors():
            assert compute(41) == 42
        (span,) = captured.spans()
        # The span still exists and ended; only the captured text is missing.
        assert span.name == "compute" and span.end_time is not None
        assert "llmtrace.input" not in span.attributes and "llmtrace.output" not in span.attributes
        assert llmtrace.stats().internal_errors == before + 2


def test_context_value_whose_str_raises_does_not_break_span_start() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    with llmtrace.testing.capture() as captured, allow_internal_errors():
        with llmtrace.context(metadata={"bad": Hostile()}):
            assert compute(1) == 2
        assert captured.names() == ["compute"]


def test_guard_reraises_under_pytest_so_our_bugs_are_loud() -> None:
    with pytest.raises(ZeroDivisionError), guarded("test"):
        1 / 0  # noqa: B018
    with allow_internal_errors(), guarded("test"):
        1 / 0  # noqa: B018


def test_allow_internal_errors_covers_other_threads() -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with guarded("thread test"):
                raise ValueError("x")
        except BaseException as exc:
            errors.append(exc)

    with allow_internal_errors():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert errors == []
