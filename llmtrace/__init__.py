"""llmtrace: observability for LLM applications.

One line instruments every installed provider SDK and sends spans to an llmtrace server (or
straight into ClickHouse); decorators and context managers trace your own code::

    import llmtrace

    llmtrace.instrument(service_name="support-bot")

    @llmtrace.trace
    def answer(question: str) -> str: ...

    with llmtrace.context(user_id="u1", session_id="s1"):
        answer("How do I reset my password?")

Importing llmtrace imports no provider SDK and starts no thread; ``instrument()`` does the work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmtrace import redact
from llmtrace._internal import runtime as _runtime
from llmtrace._internal.config import resolve as _resolve
from llmtrace._internal.context import context, wrap_context
from llmtrace._internal.export import Stats
from llmtrace._internal.scores import score
from llmtrace._internal.tracing import span, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__version__ = _runtime.VERSION

__all__ = [
    "Stats",
    "context",
    "flush",
    "instrument",
    "redact",
    "score",
    "shutdown",
    "span",
    "stats",
    "trace",
    "uninstrument",
    "wrap_context",
]


def instrument(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    store: str | None = None,
    exporter: SpanExporter | None = None,
    api_key: str | None = None,
    project: str | None = None,
    environment: str | None = None,
    capture_content: bool | None = None,
    redact: Callable[[str], str] | str | None = None,
    sample_rate: float | None = None,
    providers: Sequence[str] | None = None,
    prices: Mapping[str, Any] | None = None,
    database: str | None = None,
    queue_size: int | None = None,
    retry_window_s: float | None = None,
    max_content_chars: int | None = None,
    openai_stream_usage: bool | None = None,
) -> None:
    """Start tracing: instrument the installed provider SDKs and export spans and scores.

    Where data goes, first match wins: ``exporter`` (any OpenTelemetry ``SpanExporter``),
    ``store`` (a ClickHouse DSN, rows written directly; needs ``llmtrace[clickhouse]``),
    ``endpoint`` (an llmtrace server), ``LLMTRACE_STORE``, ``LLMTRACE_ENDPOINT``, and finally
    ``http://127.0.0.1:7878``. Every argument left as ``None`` is read from its ``LLMTRACE_*``
    variable (see docs/configuration.md), then defaults: content captured, every trace kept.

    Args:
        service_name: ``service.name``; default ``OTEL_SERVICE_NAME``, ``LLMTRACE_SERVICE``, the script name.
        api_key: sent as a bearer token to the server.
        project, environment: recorded on every span (``llmtrace.project``, ``deployment.environment.name``).
        capture_content: record prompts, completions, arguments and results (``False`` stores no text).
        redact: ``callable(str) -> str`` applied to captured text, or ``"pii"`` / ``llmtrace.redact.pii``.
        sample_rate: fraction of traces kept (parent-based trace-id ratio).
        providers: only these integrations (a missing one raises ImportError naming the extra);
            ``None`` enables every installed one.
        prices: per-model overrides, USD per million tokens: ``{"my-model": {"input": 1.0, "output": 2.0}}``.
        database: the ClickHouse database for ``store=``.
        queue_size: export queue bound (default 2048); when full, spans are dropped and counted.
        retry_window_s: how long failed deliveries are retried (default 60 s).
        max_content_chars: cap per captured text field (default 65536).
        openai_stream_usage: ask OpenAI streams to report usage when the caller did not.

    Calling it again reconfigures; a bad argument raises ``ValueError``. If the application already
    set an OpenTelemetry SDK ``TracerProvider``, llmtrace adds its processor to it.
    """
    settings = _resolve(
        service_name=service_name,
        endpoint=endpoint,
        store=store,
        database=database,
        exporter=exporter,
        api_key=api_key,
        project=project,
        environment=environment,
        capture_content=capture_content,
        redact=redact,
        sample_rate=sample_rate,
        providers=providers,
        prices=prices,
        max_content_chars=max_content_chars,
        queue_size=queue_size,
        retry_window_s=retry_window_s,
        openai_stream_usage=openai_stream_usage,
    )
    _runtime.start(settings)


def uninstrument() -> None:
    """Stop tracing: unpatch provider SDKs; what is queued is still delivered in the background."""
    _runtime.stop()


def flush(timeout_s: float = 5.0) -> bool:
    """Deliver everything queued so far; returns within ``timeout_s``, ``True`` if all was delivered."""
    return _runtime.flush(timeout_s)


def shutdown(timeout_s: float = 5.0) -> bool:
    """Flush (within ``timeout_s``) and stop tracing; ``True`` if everything queued was delivered."""
    return _runtime.stop(timeout_s=timeout_s)


def stats() -> Stats:
    """Export counters: queued, dropped (queue full), exported, failed, scores, retries, internal errors."""
    return _runtime.stats()
