"""A provider call's span, recorded while the call runs and finished, without a copy, when it ends.

An OpenTelemetry SDK span costs a provider call a third of llmtrace's overhead: a lock, bounded
containers and a processor round at start, a lock per attribute store, and at ``end()`` a
``ReadableSpan`` copied out of it. When llmtrace's own span processor is the provider's only one
and llmtrace's sampler decides (the setup ``instrument()`` makes by itself), none of that is
needed: `RecordingSpan` has the span's identity from the start (so it can be current, and spans
created during the call — an HTTP client's, a nested framework's — are its children, and the
call's trace context propagates), keeps what is recorded in a plain dict, and at ``end()`` hands
itself to the processor as the finished ``ReadableSpan`` (it is one, as the SDK's span is). What
reaches the exporter is what the SDK span would have produced: same ids, parent, times, resource,
scope, attributes (values the SDK would clean are cleaned the SDK's way), events and status. With any other processor on the provider (an
application's own exporter), spans take the SDK's path, so every processor sees ``on_start``.

The current span is read and set in one step each (`current_span_context`, `attach_span`): the
OTel API gets there through three functions and an ABC ``isinstance`` (``get_current_span``) and
builds a context and a token through four (``attach(set_span_in_context(span))``), on every call.
With the SDK's default runtime context (a ``ContextVar`` holding the ``Context``), which is what
nearly every process runs, the variable is read and set directly: same values, same tokens, same
behaviour for every other reader. With any other runtime context the API is used.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from itertools import compress, repeat
from time import time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import DEFAULT_TRACE_STATE, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace import propagation as _propagation
from opentelemetry.util.types import Attributes, AttributeValue

_PRIMITIVES = frozenset({str, bool, int, float})
_SEQUENCES = (list, tuple)
_STORABLE = _PRIMITIVES.union(_SEQUENCES)  # sequences: of strings only (see `stored_as_is`)
_STRING = frozenset({str})
# (sampled, random trace id) -> the span's flags, made once.
_FLAGS = {
    (sampled, random_id): TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        | (TraceFlags.RANDOM_TRACE_ID if random_id else 0)
    )
    for sampled in (False, True)
    for random_id in (False, True)
}


logger = logging.getLogger("llmtrace")

_UNSET = Status(StatusCode.UNSET)  # every span's status until one is set, shared
_new_tuple = tuple.__new__  # (``SpanContext`` is a tuple subclass)

# The key ``set_span_in_context`` stores the span under (``create_key`` makes it unique per process).
_SPAN_KEY: str = getattr(_propagation, "_SPAN_KEY", "")


def _runtime_var() -> ContextVar[Context] | None:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext or not _SPAN_KEY:
        return None
    var = getattr(runtime, "_current_context", None)
    return var if isinstance(var, ContextVar) else None


_CURRENT: ContextVar[Context] | None = _runtime_var()
_SPAN_TYPES: set[type] = set()  # types seen under the span key that are ``Span`` subclasses


def current_span_context(context: Context | None = None) -> SpanContext | None:
    """The span context of the span current in ``context`` (the current context if None), if valid."""
    if context is None and _CURRENT is not None:
        span: Any = _CURRENT.get().get(_SPAN_KEY)
        if span is None:
            return None
        kind = type(span)
        if kind not in _SPAN_TYPES:  # ``Span`` is an ABC: its ``isinstance`` is a Python call
            if not isinstance(span, trace_api.Span):
                return None
            _SPAN_TYPES.add(kind)
    else:
        span = trace_api.get_current_span(context)
    span_context: SpanContext = span.get_span_context()
    return span_context if span_context is not None and span_context.is_valid else None


def attach_span(span: trace_api.Span) -> Token[Context]:
    """Make ``span`` the current span; the token undoes it (`detach`)."""
    if _CURRENT is None:
        return otel_context.attach(trace_api.set_span_in_context(span))
    current = _CURRENT.get()
    values = dict(current)
    values[_SPAN_KEY] = span
    return _CURRENT.set(Context(values))


def detach(token: Token[Context]) -> None:
    """Restore the context current before `attach_span` (as ``opentelemetry.context.detach``)."""
    if _CURRENT is None:
        otel_context.detach(token)
        return
    try:
        _CURRENT.reset(token)
    except Exception:  # a token from another context: log as the OTel API does, never raise
        logger.exception("Failed to detach context")


class RecordingSpan(trace_api.Span, ReadableSpan):
    """A recording span that is its own ``ReadableSpan`` once it ends (see the module docstring).

    As the SDK's span, it is both: what a reader of a live span sees (name, context, parent,
    attributes, ...) is ``ReadableSpan``'s, and at ``end()`` it hands itself, finished, to the
    processor, with no copy made.
    """

    __slots__ = (
        "_attributes",
        "_context",
        "_end_time",
        "_events",
        "_instrumentation_info",
        "_instrumentation_scope",
        "_kind",
        "_later",
        "_links",
        "_name",
        "_parent",
        "_processor",
        "_resource",
        "_start_time",
        "_status",
        "_tracer",
    )

    def __init__(
        self,
        tracer: Any,
        processor: SpanProcessor,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        start: int,
    ) -> None:
        self._tracer = tracer
        self._processor = processor  # the one that saw it start
        self._name = name
        self._context = context
        self._parent = parent
        self._start_time = start
        self._end_time: int | None = None
        self._attributes: Any = {}  # a plain dict while recording (see `end`)
        self._events: Any = []
        self._status = _UNSET  # (immutable: `set_status` replaces it)
        self._kind = SpanKind.CLIENT
        self._links: tuple[trace_api.Link, ...] = ()
        self._later: Callable[[], Mapping[str, Any] | None] | None = None  # see `end_with`
        self._resource = tracer.resource
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = tracer._instrumentation_scope

    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]  # set in __init__, never None

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self._end_time is None:
            self._attributes.update(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._end_time is None:
            self._attributes[key] = value

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        if self._end_time is not None:
            return
        limits = self._tracer._span_limits
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
        )
        self._events.append(Event(name, bounded, timestamp))
        if limits.max_events is not None and len(self._events) > limits.max_events:
            del self._events[0]  # as the SDK's bounded list: the newest are kept

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return  # as the SDK: an OK status is final
        if isinstance(status, Status):
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module, qualname = type(exception).__module__, type(exception).__qualname__
        values: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            values.update(attributes)
        self.add_event("exception", values, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        self._attributes = _exportable(self._attributes, self._tracer._span_limits)
        self._events = tuple(self._events)
        self._processor.on_end(self)

    def end_with(self, later: Callable[[], Mapping[str, Any] | None]) -> None:
        """End the span now, leaving part of its attributes to ``later()``, which `settle` runs on
        the export thread just before the span is exported.

        Only for a span no one else reads before export (llmtrace's processor is the only one
        that sees it): the caller's thread does what must happen during the call (identity,
        timing, being current) and the export thread builds the record, batch after batch with
        its code hot in the caches, where the caller's thread would run it once per call, cold.
        """
        if self._end_time is not None:
            return
        self._end_time = time_ns()
        self._later = later
        self._events = tuple(self._events)
        self._processor.on_end(self)

    def settle(self) -> None:
        """Store what `end_with` left for later, then hold the attributes as the SDK would."""
        later, self._later = self._later, None
        if later is None:
            return
        try:
            attributes = later()
            if attributes:
                self._attributes.update(attributes)
        finally:
            self._attributes = _exportable(self._attributes, self._tracer._span_limits)


def settle(spans: Iterable[ReadableSpan]) -> None:
    """`RecordingSpan.settle` each span ended with `RecordingSpan.end_with` (the export thread,
    before a batch is exported)."""
    for span in spans:
        if type(span) is RecordingSpan and span._later is not None:
            span.settle()


def _exportable(attributes: dict[str, Any], limits: Any) -> Mapping[str, Any]:
    """``attributes`` as the SDK span would hold them: as they are when every value is already
    valid and within the limits (lists stored as tuples), else cleaned by ``BoundedAttributes``."""
    if (
        limits.max_span_attribute_length is None
        and (limits.max_span_attributes is None or len(attributes) <= limits.max_span_attributes)
        and stored_as_is(attributes)
    ):
        return attributes
    return BoundedAttributes(
        limits.max_span_attributes, attributes, immutable=True, max_value_len=limits.max_span_attribute_length
    )


def stored_as_is(attributes: dict[str, Any]) -> bool:
    """True if the SDK would store every value unchanged: strings, numbers, booleans, and lists
    of strings (turned into tuples here, in place, as the SDK stores them).

    Written as C-level passes (``map``, ``compress``) over the values: it runs on every span's end.
    """
    values = attributes.values()
    kinds = set(map(type, values))
    if kinds <= _PRIMITIVES:
        return True
    if not kinds <= _STORABLE:
        return False
    for key, value in list(compress(attributes.items(), map(isinstance, values, repeat(_SEQUENCES)))):
        if not set(map(type, value)) <= _STRING:
            return False
        if type(value) is list:
            attributes[key] = tuple(value)  # same key: no resize
    return True


def start_client_span(
    tracer: Any, processor: SpanProcessor, name: str, context: Context | None, sample_all: bool = False
) -> trace_api.Span | None:
    """A CLIENT span named ``name`` under ``context`` (the current one if None), or None when
    ``processor`` is not the only processor of ``tracer`` (the caller then takes the SDK's path).

    ``tracer`` is the SDK tracer whose sampler is llmtrace's (it never reads attributes);
    ``sample_all``: that sampler samples every root span and follows its parent's decision
    otherwise, so the decision is taken here from the parent's flags, without calling it.
    """
    processors: Sequence[SpanProcessor] = tracer.span_processor._span_processors
    if len(processors) != 1 or processors[0] is not processor or not tracer._tracer_config.is_enabled:
        return None
    parent = current_span_context(context)
    ids = tracer.id_generator
    # The SDK's default generator's ids drawn here as it draws them (``random.getrandbits``, again
    # while zero, the invalid id): three calls fewer per span. Any other generator is asked.
    default_ids = type(ids) is RandomIdGenerator
    if parent is None:
        if default_ids:
            trace_id = random.getrandbits(128)
            while not trace_id:
                trace_id = random.getrandbits(128)
            random_trace_id = True
        else:
            trace_id = ids.generate_trace_id()
            random_trace_id = ids.is_trace_id_random()
    else:
        trace_id = parent.trace_id
        random_trace_id = parent.trace_flags.random_trace_id
    if default_ids:
        span_id = random.getrandbits(64)
        while not span_id:
            span_id = random.getrandbits(64)
    else:
        span_id = ids.generate_span_id()
    if sample_all:
        recording = sampled = parent is None or parent.trace_flags.sampled
        trace_state = None if parent is None else parent.trace_state
        sampling_attributes = None
    else:
        sampling = tracer.sampler.should_sample(context, trace_id, name, SpanKind.CLIENT, None, ())
        recording, sampled = sampling.decision.is_recording(), sampling.decision.is_sampled()
        trace_state, sampling_attributes = sampling.trace_state, sampling.attributes
    flags = _FLAGS[sampled, bool(random_trace_id)]
    if default_ids:
        # What ``SpanContext(...)`` makes (its ``__new__`` is Python code), built directly: ids
        # drawn above are valid (non-zero, in range), as is the trace id of a valid parent.
        state = DEFAULT_TRACE_STATE if trace_state is None else trace_state
        span_context = _new_tuple(SpanContext, (trace_id, span_id, False, flags, state, True))
    else:  # a custom generator's ids: the constructor judges their validity
        span_context = SpanContext(
            trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=trace_state
        )
    if not recording:
        return trace_api.NonRecordingSpan(span_context)
    span = RecordingSpan(tracer, processor, name, span_context, parent, time_ns())
    if sampling_attributes:
        span.set_attributes(sampling_attributes)
    processor.on_start(span, context)  # type: ignore[arg-type]  # it only sets attributes
    return span
