"""The process-wide llmtrace state behind ``instrument()`` / ``uninstrument()`` / ``flush()``.

llmtrace owns one SDK ``TracerProvider`` (created on first use and set as the global provider
when none is set) — unless the application already set an SDK provider, in which case llmtrace
adds its processor to that one and leaves sampling and the resource to the application. The
provider's processor and sampler are delegates, so re-instrumenting swaps configuration without
replacing the provider (the OTel API allows setting the global provider only once).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from llmtrace._internal import active as active_view
from llmtrace._internal import semconv as sc
from llmtrace._internal import thread_pools
from llmtrace._internal.active import VERSION
from llmtrace._internal.backends import EndpointBackend, ExporterBackend, StoreBackend
from llmtrace._internal.config import Settings
from llmtrace._internal.export import Backend, Pipeline, Score, Stats
from llmtrace._internal.processor import LlmtraceSpanProcessor

logger = logging.getLogger("llmtrace")

# What a sampled root span without sampler attributes gets: one shared, read-only result.
_SAMPLED_ROOT = SamplingResult(Decision.RECORD_AND_SAMPLE)


class _DelegatingSampler(Sampler):
    """Parent-based trace-id ratio whose rate ``instrument()`` can change later.

    At rate 1 (the default) the decision is made here, without going through ``ParentBased`` and
    ``TraceIdRatioBased``: the same result (sample unless the parent is not sampled, keep the
    parent's trace state), in one frame instead of four on every span's start.
    """

    def __init__(self) -> None:
        self.delegate: Sampler = ParentBased(ALWAYS_ON)
        self.sample_all = True  # the delegate samples every root span

    def set_rate(self, rate: float) -> None:
        self.delegate = ParentBased(TraceIdRatioBased(rate))
        self.sample_all = rate >= 1.0

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if not self.sample_all:
            return self.delegate.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        parent = trace_api.get_current_span(parent_context).get_span_context()
        if parent is None or not parent.is_valid:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes) if attributes else _SAMPLED_ROOT
        if parent.trace_flags.sampled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, parent.trace_state)
        return SamplingResult(Decision.DROP, None, parent.trace_state)

    def get_description(self) -> str:
        return f"llmtrace({self.delegate.get_description()})"


@dataclass(slots=True)
class Runtime:
    """One ``instrument()`` call's live state."""

    settings: Settings
    pipeline: Pipeline
    backend: Backend
    provider: TracerProvider
    tracer: trace_api.Tracer
    integrations: list[str]


_lock = threading.RLock()
_runtime: Runtime | None = None
_processor = LlmtraceSpanProcessor()
_sampler = _DelegatingSampler()
_own_provider: TracerProvider | None = None
_retired: list[Pipeline] = []  # replaced pipelines still delivering their queue
_last_stats = Stats()
_atexit_registered = False


def active() -> Runtime | None:
    return _runtime


def _resource(settings: Settings) -> Resource:
    attributes: dict[str, str] = {sc.SERVICE_NAME: settings.service_name}
    if settings.environment:
        attributes[sc.DEPLOYMENT_ENVIRONMENT] = settings.environment
    if settings.project:
        attributes[sc.LLMTRACE_PROJECT] = settings.project
    return Resource.create(attributes)


def _provider(settings: Settings) -> TracerProvider:
    """The application's SDK provider if it set one, else llmtrace's own (created once)."""
    global _own_provider
    current = trace_api.get_tracer_provider()
    if isinstance(current, TracerProvider) and current is not _own_provider:
        return current
    if _own_provider is None:
        _own_provider = TracerProvider(sampler=_sampler, resource=_resource(settings), shutdown_on_exit=False)
        if not isinstance(current, TracerProvider):
            trace_api.set_tracer_provider(_own_provider)
    else:
        # A private SDK method (merges and updates existing tracers); without it the first
        # instrument()'s resource stays, which only matters for re-instrumenting with a new name.
        update = getattr(_own_provider, "_update_resource", None)
        if update is not None:
            update(_resource(settings))
    return _own_provider


def _backend(settings: Settings) -> Backend:
    if settings.exporter is not None:
        return ExporterBackend(settings.exporter)
    if settings.store is not None:
        return StoreBackend(settings.store, settings.database, settings.project, settings.price_book)
    return EndpointBackend(settings.endpoint, settings.api_key)


def _same_delivery(a: Settings, b: Settings) -> bool:
    keys = ("backend", "endpoint", "api_key", "store", "database", "queue_size", "batch_size")
    return a.exporter is b.exporter and all(getattr(a, k) == getattr(b, k) for k in keys)


def start(settings: Settings) -> Runtime:
    """Make ``settings`` active: provider, processor, sampler, pipeline, integrations, and
    thread pools that carry their submitter's context."""
    global _runtime, _atexit_registered
    with _lock:
        previous = _runtime
        if previous is not None and _same_delivery(previous.settings, settings):
            pipeline, backend = previous.pipeline, previous.backend
            pipeline.interval_s = settings.export_interval_s
            pipeline.retry_window_s = settings.retry_window_s
            pipeline.request_timeout_s = settings.export_timeout_s
        else:
            backend = _backend(settings)
            pipeline = Pipeline(
                backend,
                queue_size=settings.queue_size,
                batch_size=settings.batch_size,
                interval_s=settings.export_interval_s,
                retry_window_s=settings.retry_window_s,
                request_timeout_s=settings.export_timeout_s,
            )
            if previous is not None:
                _retire(previous.pipeline, settings.exit_timeout_s)
        provider = _provider(settings)
        if not getattr(provider, "_llmtrace_processor", False):
            provider.add_span_processor(_processor)
            provider._llmtrace_processor = True  # type: ignore[attr-defined]
        _sampler.set_rate(settings.sample_rate)
        runtime = Runtime(
            settings=settings,
            pipeline=pipeline,
            backend=backend,
            provider=provider,
            tracer=provider.get_tracer(sc.INSTRUMENTATION_SCOPE, VERSION, schema_url=sc.SCHEMA_URL),
            integrations=previous.integrations if previous is not None else [],
        )
        _runtime = runtime
        _processor.runtime = runtime
        own_sampler = getattr(runtime.tracer, "sampler", None) is _sampler
        active_view.publish(
            active_view.Active(
                settings=settings,
                tracer=runtime.tracer,
                attribute_free_sampling=own_sampler,
                processor=_processor,
                sample_all=own_sampler and _sampler.sample_all,
            )
        )
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        thread_pools.carry_context()
    try:
        runtime.integrations = _enable_integrations(
            settings.providers, strict=not settings.providers_from_env
        )
    except (ImportError, ValueError):  # a provider not installed, or not known: nothing stays on
        stop(timeout_s=0.0)
        raise
    return runtime


def _enable_integrations(providers: Sequence[str] | None, *, strict: bool = True) -> list[str]:
    try:
        from llmtrace import integrations
    except ModuleNotFoundError as exc:
        if exc.name != "llmtrace.integrations":
            raise
        if providers and strict:
            raise ImportError(
                f"llmtrace has no provider integrations installed; cannot enable {list(providers)}"
            ) from exc
        return []
    enabled: list[str] = integrations.enable(
        list(providers) if providers is not None else None, strict=strict
    )
    return enabled


def _disable_integrations() -> None:
    try:
        from llmtrace import integrations
    except ModuleNotFoundError as exc:
        if exc.name != "llmtrace.integrations":
            raise
        return
    integrations.disable_all()


def _retire(pipeline: Pipeline, timeout_s: float) -> None:
    """Stop ``pipeline`` without waiting: its worker keeps delivering until the deadline."""
    _retired[:] = [p for p in _retired if p.stats().queued]
    _retired.append(pipeline)
    pipeline.close(timeout_s)


def stop(timeout_s: float | None = None) -> bool:
    """Deactivate; with ``timeout_s`` wait that long for queued data, else deliver in the background."""
    global _runtime, _last_stats
    with _lock:
        runtime = _runtime
        if runtime is None:
            return True
        _runtime = None
        _processor.runtime = None
        active_view.publish(None)
        _sampler.set_rate(1.0)
        thread_pools.stop_carrying()
    _disable_integrations()
    if timeout_s is None:
        _retire(runtime.pipeline, runtime.settings.exit_timeout_s)
        ok = True
    else:
        ok = runtime.pipeline.shutdown(timeout_s)
    _last_stats = runtime.pipeline.stats()
    return ok


def flush(timeout_s: float) -> bool:
    runtime = _runtime
    return True if runtime is None else runtime.pipeline.flush(timeout_s)


def stats() -> Stats:
    runtime = _runtime
    if runtime is not None:
        return runtime.pipeline.stats()
    return _last_stats


def put_score(score: Score) -> bool:
    runtime = _runtime
    return False if runtime is None else runtime.pipeline.put(score)


def _at_exit() -> None:
    """Deliver what is queued within ``exit_timeout_s`` so short scripts lose nothing."""
    runtime = _runtime
    timeout = runtime.settings.exit_timeout_s if runtime is not None else 5.0
    deadline = time.monotonic() + timeout
    if runtime is not None:
        stop(timeout_s=timeout)
    for pipeline in list(_retired):
        pipeline.shutdown(max(deadline - time.monotonic(), 0.0))
