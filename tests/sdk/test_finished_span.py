"""A provider call's span built once at its end exports exactly what the SDK's span would have.

Each test records the same things on a `RecordingSpan` and on the SDK's own span of the same
tracer, and compares what the processor received.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from llmtrace._internal.finished_span import (
    RecordingSpan,
    attach_span,
    current_span_context,
    detach,
    start_client_span,
)


class _Setup:
    def __init__(self, limits: SpanLimits | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.processor = SimpleSpanProcessor(self.exporter)
        provider = TracerProvider(sampler=ParentBased(ALWAYS_ON), span_limits=limits or SpanLimits())
        provider.add_span_processor(self.processor)
        self.tracer: Any = provider.get_tracer("scope", "1.0")

    def both(self, record: Callable[[trace.Span], None]) -> tuple[ReadableSpan, ReadableSpan]:
        """(built at the end, the SDK's) after ``record`` on each, under one parent span."""
        with self.tracer.start_as_current_span("parent"):
            fast = start_client_span(self.tracer, self.processor, "generate_content m", None)
            assert isinstance(fast, RecordingSpan)
            sdk = self.tracer.start_span("generate_content m", kind=SpanKind.CLIENT)
            for span in (fast, sdk):
                record(span)
                span.end()
        ours, theirs, parent = self.exporter.get_finished_spans()
        assert ours.parent == theirs.parent == parent.context
        assert ours.context.trace_id == parent.context.trace_id
        assert ours.context.trace_flags == theirs.context.trace_flags
        return ours, theirs


def _same(ours: ReadableSpan, theirs: ReadableSpan) -> None:
    assert ours.name == theirs.name
    assert ours.kind == theirs.kind == SpanKind.CLIENT
    assert dict(ours.attributes or {}) == dict(theirs.attributes or {})
    assert ours.dropped_attributes == theirs.dropped_attributes
    assert (ours.status.status_code, ours.status.description) == (
        theirs.status.status_code,
        theirs.status.description,
    )
    assert [(e.name, dict(e.attributes or {})) for e in ours.events] == [
        (e.name, dict(e.attributes or {})) for e in theirs.events
    ]
    assert ours.resource == theirs.resource
    assert ours.instrumentation_scope == theirs.instrumentation_scope
    assert ours.start_time is not None and ours.end_time is not None and ours.start_time <= ours.end_time


def test_recorded_span_exports_what_the_sdk_span_exports() -> None:
    error = ValueError("boom")

    def record(span: trace.Span) -> None:
        span.set_attributes({"s": "text", "i": 1, "f": 0.5, "b": True, "l": ["stop", "length"]})
        span.set_attribute("t", ("a", "b"))
        span.update_name("generate_content gemini-2.5-flash")
        span.add_event("retry", {"attempt": 2})
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, "boom"))
        span.set_attribute("error.type", "ValueError")

    ours, theirs = _Setup().both(record)
    _same(ours, theirs)
    assert ours.name == "generate_content gemini-2.5-flash"
    assert ours.attributes["l"] == ("stop", "length")
    assert ours.events[1].attributes["exception.type"] == "ValueError"


def test_values_the_sdk_cleans_and_limits_are_cleaned_the_same_way() -> None:
    def record(span: trace.Span) -> None:
        span.set_attributes({"mixed": ["a", 1], "long": "truncate me", "n": 7})
        span.add_event("first", {"long": "truncate me"})
        span.add_event("second")

    _same(*_Setup(SpanLimits(max_span_attribute_length=3, max_attribute_length=4)).both(record))
    _same(*_Setup(SpanLimits(max_events=1, max_event_attributes=0)).both(record))
    _same(*_Setup(SpanLimits(max_span_attributes=2)).both(record))
    _same(*_Setup().both(record))


def test_an_ended_span_records_nothing_more_and_an_ok_status_is_final() -> None:
    setup = _Setup()
    span = start_client_span(setup.tracer, setup.processor, "s", None)
    assert span is not None
    span.set_status(StatusCode.OK)
    span.set_status(Status(StatusCode.ERROR, "late"))
    span.end()
    span.set_attribute("late", "x")
    span.end()
    (exported,) = setup.exporter.get_finished_spans()
    assert exported.status.status_code == StatusCode.OK
    assert "late" not in (exported.attributes or {})


def test_spans_started_while_it_is_current_are_its_children() -> None:
    setup = _Setup()
    span = start_client_span(setup.tracer, setup.processor, "call", None)
    assert span is not None
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        assert trace.get_current_span() is span
        setup.tracer.start_span("http request").end()
    finally:
        otel_context.detach(token)
    span.end()
    child, call = setup.exporter.get_finished_spans()
    assert child.parent == call.context
    assert call.parent is None  # a root span: a fresh trace id
    assert call.context.trace_id == child.context.trace_id != 0


def test_another_processor_on_the_provider_gets_the_sdk_span() -> None:
    setup = _Setup()
    setup.tracer.span_processor.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert start_client_span(setup.tracer, setup.processor, "s", None) is None


def test_under_an_unsampled_parent_nothing_is_recorded() -> None:
    setup = _Setup()
    unsampled = NonRecordingSpan(SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(0)))
    span = start_client_span(setup.tracer, setup.processor, "s", trace.set_span_in_context(unsampled))
    assert span is not None and not span.is_recording()
    assert span.get_span_context().trace_id == 1
    span.end()
    assert setup.exporter.get_finished_spans() == ()


def _ids(span: trace.Span) -> tuple[bool, int, int, Any]:
    context = span.get_span_context()
    return span.is_recording(), context.trace_id, int(context.trace_flags), context.trace_state


def test_the_sample_all_decision_is_the_samplers() -> None:
    """``sample_all`` (llmtrace's sampler at rate 1) decides from the parent's flags as
    ``ParentBased(ALWAYS_ON)`` does: roots and sampled parents record, unsampled ones do not, and
    the parent's trace state and random-trace-id flag carry over."""
    setup = _Setup()
    state = TraceState([("k", "v")])
    parents = [
        None,
        NonRecordingSpan(SpanContext(7, 2, True, TraceFlags(TraceFlags.SAMPLED | 2), state)),
        NonRecordingSpan(SpanContext(8, 3, True, TraceFlags(0), state)),
    ]
    for parent in parents:
        context = trace.set_span_in_context(parent) if parent is not None else None
        fast = start_client_span(setup.tracer, setup.processor, "s", context, sample_all=True)
        asked = start_client_span(setup.tracer, setup.processor, "s", context)
        assert fast is not None and asked is not None
        if parent is None:
            assert fast.is_recording() and asked.is_recording()
            assert fast.get_span_context().trace_flags == asked.get_span_context().trace_flags
        else:
            assert _ids(fast) == _ids(asked)
            assert fast.get_span_context().trace_state == state
        for span in (fast, asked):
            span.end()
    assert len(setup.exporter.get_finished_spans()) == 4  # two roots, two under the sampled parent


def test_ids_are_drawn_as_the_sdk_span_draws_them() -> None:
    """With the SDK's default generator the ids are the ones its span would get from the same
    random state (a root: trace id, then span id); any other generator is asked for them."""
    setup = _Setup()
    random.seed(1234)
    fast = start_client_span(setup.tracer, setup.processor, "s", None)
    random.seed(1234)
    sdk = setup.tracer.start_span("s", context=otel_context.Context(), kind=SpanKind.CLIENT)
    assert fast is not None
    ours, theirs = fast.get_span_context(), sdk.get_span_context()
    assert (ours.trace_id, ours.span_id, ours.trace_flags) == (
        theirs.trace_id,
        theirs.span_id,
        theirs.trace_flags,
    )

    class Counting(IdGenerator):
        def __init__(self) -> None:
            self.next = 0

        def generate_span_id(self) -> int:
            self.next += 1
            return self.next

        def generate_trace_id(self) -> int:
            return 99

    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON), id_generator=Counting())
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)
    tracer: Any = provider.get_tracer("scope")
    span = start_client_span(tracer, processor, "s", None)
    assert span is not None
    context = span.get_span_context()
    assert (context.trace_id, context.span_id, context.trace_flags.random_trace_id) == (99, 1, False)


def test_span_context_is_the_one_the_sdk_span_gets() -> None:
    """Every field of the span context (built without ``SpanContext.__new__``) equals the SDK
    span's from the same random state: a root, and a child of a remote parent with a trace
    state; a custom generator's invalid id still makes an invalid context."""
    setup = _Setup()
    state = TraceState([("vendor", "value")])
    remote = SpanContext(7, 8, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=state)
    for context in (otel_context.Context(), trace.set_span_in_context(NonRecordingSpan(remote))):
        random.seed(99)
        fast = start_client_span(setup.tracer, setup.processor, "s", context)
        random.seed(99)
        sdk = setup.tracer.start_span("s", context=context, kind=SpanKind.CLIENT)
        assert fast is not None
        ours, theirs = fast.get_span_context(), sdk.get_span_context()
        assert type(ours) is SpanContext and tuple(ours) == tuple(theirs)
        assert ours.is_valid and not ours.is_remote
        assert ours.trace_state is theirs.trace_state or ours.trace_state == theirs.trace_state

    class Invalid(IdGenerator):
        def generate_span_id(self) -> int:
            return 0

        def generate_trace_id(self) -> int:
            return 5

    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON), id_generator=Invalid())
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)
    span = start_client_span(provider.get_tracer("scope"), processor, "s", None)
    assert span is not None and not span.get_span_context().is_valid


def test_attach_span_is_what_the_otel_api_sees() -> None:
    setup = _Setup()
    outer = setup.tracer.start_span("outer")
    outer_token = otel_context.attach(trace.set_span_in_context(outer))
    span = start_client_span(setup.tracer, setup.processor, "call", None)
    assert span is not None and span.get_span_context() is not None
    assert current_span_context() == outer.get_span_context()
    token = attach_span(span)
    try:
        assert trace.get_current_span() is span
        assert current_span_context() == span.get_span_context()
    finally:
        detach(token)
    assert trace.get_current_span() is outer
    otel_context.detach(outer_token)
    assert current_span_context() is None
    detach(token)  # a token used twice: logged and ignored, as by ``opentelemetry.context.detach``
    span.end()
    outer.end()
