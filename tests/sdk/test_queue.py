"""The export queue: bounded, drop-and-count, flush deadlines, sampling ratio."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace


class GateExporter(SpanExporter):
    """Blocks inside export() until released, so the queue behind it fills up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


@pytest.fixture
def gate() -> Iterator[GateExporter]:
    exporter = GateExporter()
    yield exporter
    exporter.release.set()
    llmtrace.shutdown(timeout_s=5.0)


def test_full_queue_drops_and_counts_without_blocking(gate: GateExporter) -> None:
    llmtrace.instrument(exporter=gate, queue_size=10)
    with llmtrace.span("first"):
        pass
    llmtrace.flush(0.0)  # wake the worker; it blocks inside export() with "first"
    assert gate.entered.wait(5)
    started = time.perf_counter()
    for i in range(25):
        with llmtrace.span(f"s{i}"):
            pass
    assert time.perf_counter() - started < 0.5
    stats = llmtrace.stats()
    assert (stats.queued, stats.dropped) == (10, 15)
    gate.release.set()
    assert llmtrace.flush(5.0) is True
    assert [s.name for s in gate.spans] == ["first"] + [f"s{i}" for i in range(10)]
    assert llmtrace.stats().exported == 11 and llmtrace.stats().dropped == 15


def test_flush_returns_within_its_deadline(gate: GateExporter) -> None:
    llmtrace.instrument(exporter=gate)
    with llmtrace.span("stuck"):
        pass
    started = time.monotonic()
    assert llmtrace.flush(0.3) is False
    assert 0.25 <= time.monotonic() - started < 1.0
    gate.release.set()
    assert llmtrace.flush(5.0) is True


def test_drop_warning_is_rate_limited(gate: GateExporter, caplog: pytest.LogCaptureFixture) -> None:
    llmtrace.instrument(exporter=gate, queue_size=1)
    with llmtrace.span("first"):
        pass
    llmtrace.flush(0.0)
    assert gate.entered.wait(5)
    with caplog.at_level("WARNING", logger="llmtrace"):
        for _ in range(50):
            with llmtrace.span("x"):
                pass
    assert llmtrace.stats().dropped == 49
    assert caplog.text.count("export queue full") == 1


def test_sampling_ratio_within_binomial_bounds(capture_spans) -> None:
    llmtrace.instrument(exporter=capture_spans.exporter, sample_rate=0.25, queue_size=20_000)
    n, p = 2000, 0.25
    for _ in range(n):
        with llmtrace.span("root"), llmtrace.span("child"):
            pass
    spans = capture_spans.spans()
    roots = [s for s in spans if s.name == "root"]
    children = [s for s in spans if s.name == "child"]
    # 5 standard deviations: a false failure has probability below 1e-6.
    sd = math.sqrt(n * p * (1 - p))
    assert abs(len(roots) - n * p) < 5 * sd, len(roots)
    # Parent-based: a trace is kept or dropped whole.
    assert sorted(c.parent.span_id for c in children) == sorted(r.context.span_id for r in roots)


def test_sample_rate_zero_and_one(capture_spans) -> None:
    llmtrace.instrument(exporter=capture_spans.exporter, sample_rate=0.0)
    for _ in range(50):
        with llmtrace.span("dropped"):
            pass
    assert capture_spans.spans() == []
    llmtrace.instrument(exporter=capture_spans.exporter, sample_rate=1.0)
    for _ in range(50):
        with llmtrace.span("kept"):
            pass
    assert len(capture_spans.spans()) == 50


def test_rate_one_follows_the_parent_decision_and_keeps_its_trace_state(capture_spans) -> None:
    """At rate 1 every root is kept, an unsampled (remote) parent's trace is dropped whole, and a
    sampled parent's trace state is carried into the child's context, as ``ParentBased`` does."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace as trace_api

    llmtrace.instrument(exporter=capture_spans.exporter, sample_rate=1.0)

    def remote_parent(sampled: bool) -> otel_context.Context:
        parent = trace_api.SpanContext(
            trace_id=0x1234,
            span_id=0x99,
            is_remote=True,
            trace_flags=trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED if sampled else 0),
            trace_state=trace_api.TraceState([("vendor", "v1")]),
        )
        return trace_api.set_span_in_context(trace_api.NonRecordingSpan(parent))

    for sampled in (False, True):
        token = otel_context.attach(remote_parent(sampled))
        try:
            with (
                llmtrace.span(f"child-of-{'sampled' if sampled else 'unsampled'}"),
                llmtrace.span("grandchild"),
            ):
                pass
        finally:
            otel_context.detach(token)
    with llmtrace.span("root"):
        pass
    spans = {s.name: s for s in capture_spans.spans()}
    assert set(spans) == {"child-of-sampled", "grandchild", "root"}
    child = spans["child-of-sampled"]
    assert child.context.trace_id == 0x1234 and child.parent is not None and child.parent.span_id == 0x99
    assert child.context.trace_state.get("vendor") == "v1"
    assert spans["grandchild"].context.trace_state.get("vendor") == "v1"
    assert spans["root"].parent is None and spans["root"].context.trace_flags.sampled


def test_export_runs_with_instrumentation_suppressed() -> None:
    """Instrumentations (ours and OTel's) skip work under this key, so exporter HTTP is never traced."""
    from opentelemetry import context as otel_context
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled

    seen: list[bool] = []

    class Probe(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            seen.append(is_instrumentation_enabled())
            seen.append(bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY)))
            return SpanExportResult.SUCCESS

    llmtrace.instrument(exporter=Probe())
    try:
        with llmtrace.span("x"):
            pass
        assert llmtrace.flush(5.0)
    finally:
        llmtrace.shutdown(1.0)
    assert seen == [False, True]
