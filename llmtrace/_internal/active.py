"""What instrumentation may read of the running llmtrace: the active settings and the tracer.

This is the whole contract between an integration (or ``@trace``) and the runtime. The runtime
(``runtime.start`` / ``runtime.stop``) is the only writer; everything else only reads, through
:func:`settings`, :func:`tracer` and :func:`samples_without_attributes`. The module imports
nothing of llmtrace at run time, so configuration, the runtime, the span processor and the
integrations all depend on it and never on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import trace as trace_api

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


def samples_without_attributes(tracer: trace_api.Tracer) -> bool:
    """True if ``tracer`` is the active one and its sampler never reads span attributes."""
    active = _current
    return active is not None and active.tracer is tracer and active.attribute_free_sampling
