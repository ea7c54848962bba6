"""What instrumentation may read of the running llmtrace: the active settings and the tracer.

This is the whole contract between an integration (or ``@trace``) and the runtime. The runtime
(``runtime.start`` / ``runtime.stop``) is the only writer; everything else only reads, through
:func:`settings`, :func:`tracer` and :func:`start_client_span`. The module imports
nothing of llmtrace at run time, so configuration, the runtime, the span processor and the
integrations all depend on it and never on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor

from llmtrace._internal import finished_span
from llmtrace._internal import semconv as sc

if TYPE_CHECKING:
    from llmtrace._internal.config import Settings

VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class Active:
    """One ``instrument()`` call as instrumentation sees it."""

    settings: Settings
    tracer: trace_api.Tracer
    # True when the tracer's sampler is llmtrace's own, which never reads span attributes (so a
    # hot path may skip passing them to ``start_span`` and store them right after).
    attribute_free_sampling: bool
    # llmtrace's span processor on the tracer's provider (see `start_client_span`).
    processor: SpanProcessor | None = None
    # True when that sampler samples every root span and follows the parent's decision otherwise
    # (llmtrace's at rate 1), so a provider span's decision needs no sampler call.
    sample_all: bool = False


_current: Active | None = None


def publish(active: Active | None) -> None:
    """Make ``active`` what instrumentation reads (None: not instrumented). Runtime only."""
    global _current
    _current = active


def current() -> Active | None:
    return _current


def active_settings() -> Settings | None:
    """The settings of the running ``instrument()``, or None when not instrumented."""
    active = _current
    return None if active is None else active.settings


def tracer() -> trace_api.Tracer:
    """llmtrace's tracer (the global provider's, a no-op one when nothing is set up)."""
    active = _current
    if active is not None:
        return active.tracer
    return trace_api.get_tracer(sc.INSTRUMENTATION_SCOPE, VERSION, schema_url=sc.SCHEMA_URL)


def start_client_span(
    name: str,
    context: Context | None = None,
    attributes: dict[str, Any] | None = None,
    sampling_keys: tuple[str, ...] = (),
) -> trace_api.Span:
    """Start a provider call's CLIENT span on llmtrace's tracer, in one call (it runs on every
    provider call).

    When llmtrace's sampler decides and its processor is the provider's only one, the span is a
    `finished_span.RecordingSpan` (built once when it ends); otherwise the SDK's own span. A
    sampler that may read attributes (someone else's) is given those of ``attributes`` named in
    ``sampling_keys``, taken out of ``attributes``; llmtrace's own never reads them, so they stay
    for the caller to store later.
    """
    active = _current
    if active is None or not active.attribute_free_sampling:
        sampling = None
        if attributes is not None:
            sampling = {key: attributes.pop(key) for key in sampling_keys if key in attributes}
        return tracer().start_span(name, context, kind=trace_api.SpanKind.CLIENT, attributes=sampling)
    if active.processor is not None:
        span = finished_span.start_client_span(
            active.tracer, active.processor, name, context, active.sample_all
        )
        if span is not None:
            return span
    return active.tracer.start_span(name, context, kind=trace_api.SpanKind.CLIENT)
