"""The span processor llmtrace adds to a TracerProvider (its own, or one the application set up).

It is registered once per provider and delegates to whatever ``instrument()`` configured last,
so ``instrument()`` twice is harmless and ``uninstrument()`` simply makes it inert (the OTel SDK
cannot remove a processor). ``on_start`` stamps the ``llmtrace.context`` values, project and
environment on every span, including spans made by provider integrations; ``on_end`` queues the
span for export in O(1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from llmtrace._internal import semconv as sc
from llmtrace._internal.context import current
from llmtrace._internal.guard import internal_error

if TYPE_CHECKING:
    from llmtrace._internal.runtime import Runtime

_ATTRIBUTE_TYPES = (str, bool, int, float)


def _attribute_value(value: object) -> str | bool | int | float:
    """Metadata values go on spans as primitives; anything else as its string form."""
    return value if isinstance(value, _ATTRIBUTE_TYPES) else str(value)


class LlmtraceSpanProcessor(SpanProcessor):
    """Context stamping at start, queueing at end, for the runtime that is active at the time."""

    def __init__(self) -> None:
        self.runtime: Runtime | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        try:  # (what ``guarded`` does, written out: this runs at every span's start)
            attributes: dict[str, str | bool | int | float | tuple[str, ...]] = {}
            settings = runtime.settings
            if settings.project:
                attributes[sc.LLMTRACE_PROJECT] = settings.project
            if settings.environment:
                attributes[sc.DEPLOYMENT_ENVIRONMENT] = settings.environment
            values = current()
            if values is not None:
                if values.user_id is not None:
                    attributes[sc.USER_ID] = values.user_id
                if values.session_id is not None:
                    attributes[sc.SESSION_ID] = values.session_id
                if values.prompt is not None:
                    attributes[sc.LLMTRACE_PROMPT_NAME] = values.prompt
                if values.prompt_version is not None:
                    attributes[sc.LLMTRACE_PROMPT_VERSION] = values.prompt_version
                if values.tags:
                    attributes[sc.LLMTRACE_TAGS] = values.tags
                for key, value in values.metadata.items():
                    attributes[sc.LLMTRACE_METADATA_PREFIX + key] = _attribute_value(value)
            if attributes:
                span.set_attributes(attributes)
        except Exception as exc:
            internal_error("span processor on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        runtime = self.runtime
        if runtime is None or not span.context.trace_flags.sampled:
            return
        try:
            runtime.pipeline.put(span)
        except Exception as exc:  # e.g. no new threads during interpreter shutdown
            internal_error("span processor on_end", exc)

    def shutdown(self) -> None:
        # The provider's own atexit shutdown lands here; llmtrace's atexit hook does the flushing.
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        runtime = self.runtime
        return True if runtime is None else runtime.pipeline.flush(timeout_millis / 1000)
