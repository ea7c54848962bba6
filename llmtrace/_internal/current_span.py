"""The current OpenTelemetry span, read and set in one step each on a provider call's hot path.

The OTel API gets there through three functions and an ABC ``isinstance`` (``get_current_span``)
and builds a context and a token through four (``attach(set_span_in_context(span))``), on every
call. With the SDK's default runtime context (a ``ContextVar`` holding the ``Context``), which is
what nearly every process runs, this reads and sets that variable directly: same values, same
tokens, same behaviour for every other reader. With any other runtime context the API is used.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import SpanContext
from opentelemetry.trace import propagation as _propagation

logger = logging.getLogger("llmtrace")

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
