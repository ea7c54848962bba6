"""OpenAI Agents SDK integration: a ``TracingProcessor`` that turns the SDK's traces into spans.

``instrument()`` adds one processor (``agents.add_trace_processor``; the SDK's own processors stay).
Each SDK trace becomes a root span (``gen_ai.operation.name=invoke_workflow``, named as the
trace, ``group_id`` as ``session.id``) and each SDK span a child of its parent: agents
(``invoke_agent``), function tools (``execute_tool``), handoffs, guardrails (``triggered``), MCP
tool listings and custom spans. A run inside a traced function nests under it.

Model calls (generation and response spans) are *offered* to the provider call they make
(``_common.offer``): with the openai integration on, the openai client's request records onto this
span — one LLM span with the agent's context and the provider's exact usage and cost, no second
span. Otherwise the span is completed from the SDK's own data (model, usage, the response).

``uninstrument()`` makes the processor inert (the SDK has no way to remove one processor).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from llmtrace._internal import active
from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace._internal.guard import guarded
from llmtrace.integrations import _openai_parts as parts
from llmtrace.integrations._common import STATE, LLMCall, Outcome, TokenUsage, offer, start_call, withdraw

_MAX_OPEN = 10_000  # traces/spans whose end never came are dropped past this


class _Open:
    __slots__ = ("call", "session", "span")

    def __init__(self, span: Span, call: LLMCall | None = None, session: str | None = None) -> None:
        self.span = span
        self.call = call
        self.session = session  # a trace's group id: every span of the trace carries it


def _usage(usage: Any) -> TokenUsage | None:
    """A generation span's usage dict (``input_tokens``/``output_tokens`` and details)."""
    if not isinstance(usage, dict) or not ("input_tokens" in usage or "output_tokens" in usage):
        return None
    details_in = usage.get("input_tokens_details") or {}
    details_out = usage.get("output_tokens_details") or {}
    return TokenUsage(
        input=int(usage.get("input_tokens") or 0),
        output=int(usage.get("output_tokens") or 0),
        cached=int(details_in.get("cached_tokens") or 0) if isinstance(details_in, dict) else 0,
        reasoning=int(details_out.get("reasoning_tokens") or 0) if isinstance(details_out, dict) else 0,
    )


class _ProcessorMethods:
    """The processor's behaviour; the class LangChain-style is made at run time (see `processor`)."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()

    def _remember(self, key: str, entry: _Open) -> None:
        with self._lock:
            if len(self._open) >= _MAX_OPEN:
                self._open.pop(next(iter(self._open))).span.end()
            self._open[key] = entry

    def _pop(self, key: str) -> _Open | None:
        with self._lock:
            return self._open.pop(key, None)

    # --- traces --------------------------------------------------------------------------------

    def on_trace_start(self, sdk_trace: Any) -> None:
        if not STATE.active:
            return
        with guarded("openai_agents.on_trace_start"):
            attrs: dict[str, Any] = {
                sc.LLMTRACE_SPAN_KIND: sc.KIND_AGENT,
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
            }
            group = getattr(sdk_trace, "group_id", None)
            if group:
                attrs[sc.SESSION_ID] = str(group)
            for key, value in (getattr(sdk_trace, "metadata", None) or {}).items():
                attrs[sc.LLMTRACE_METADATA_PREFIX + str(key)] = (
                    value if isinstance(value, str | int | float | bool) else str(value)
                )
            span = active.tracer().start_span(str(sdk_trace.name or "Agent workflow"), attributes=attrs)
            self._remember(sdk_trace.trace_id, _Open(span, session=str(group) if group else None))

    def on_trace_end(self, sdk_trace: Any) -> None:
        entry = self._pop(sdk_trace.trace_id)
        if entry is not None:
            entry.span.end()

    # --- spans ---------------------------------------------------------------------------------

    def on_span_start(self, sdk_span: Any) -> None:
        if not STATE.active:
            return
        with guarded("openai_agents.on_span_start"):
            parent = self._open.get(sdk_span.parent_id or "") or self._open.get(sdk_span.trace_id)
            context = trace.set_span_in_context(parent.span) if parent is not None else None
            data = sdk_span.span_data
            kind = data.type
            root = self._open.get(sdk_span.trace_id)
            session = root.session if root is not None else None
            if kind in ("generation", "response"):
                self._start_model_call(sdk_span, data, context, session)
                return
            name, attrs = self._describe(kind, data)
            if session is not None:
                attrs[sc.SESSION_ID] = session
            span = active.tracer().start_span(name, context, attributes=attrs)
            self._remember(sdk_span.span_id, _Open(span))

    @staticmethod
    def _describe(kind: str, data: Any) -> tuple[str, dict[str, Any]]:
        attrs: dict[str, Any] = {}
        if kind == "agent":
            attrs = {
                sc.LLMTRACE_SPAN_KIND: sc.KIND_AGENT,
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT,
                sc.GEN_AI_AGENT_NAME: str(data.name),
            }
            return f"invoke_agent {data.name}", attrs
        if kind == "function":
            attrs = {
                sc.LLMTRACE_SPAN_KIND: sc.KIND_TOOL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.GEN_AI_TOOL_NAME: str(data.name),
            }
            return f"execute_tool {data.name}", attrs
        if kind == "handoff":  # (named and described at its end, when the target is known)
            return "handoff", {sc.LLMTRACE_SPAN_KIND: sc.KIND_CHAIN}
        if kind == "task":  # one Runner.run
            return f"run {data.name}", {sc.LLMTRACE_SPAN_KIND: sc.KIND_CHAIN}
        if kind == "turn":
            attrs = {sc.LLMTRACE_SPAN_KIND: sc.KIND_CHAIN, sc.OPENAI_AGENTS_TURN: int(data.turn)}
            if data.agent_name:
                attrs[sc.GEN_AI_AGENT_NAME] = str(data.agent_name)
            return f"turn {data.turn}", attrs
        if kind == "guardrail":
            return f"guardrail {data.name}", {sc.LLMTRACE_SPAN_KIND: sc.KIND_GUARDRAIL}
        name = getattr(data, "name", None) or kind
        return str(name), {sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN}

    def _start_model_call(self, sdk_span: Any, data: Any, context: Any, session: str | None) -> None:
        config = settings()
        model = getattr(data, "model", None)
        attrs: dict[str, Any] = {} if session is None else {sc.SESSION_ID: session}
        for key, name in (("temperature", sc.GEN_AI_REQUEST_TEMPERATURE), ("top_p", sc.GEN_AI_REQUEST_TOP_P)):
            value = (getattr(data, "model_config", None) or {}).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs[name] = value
        call = start_call(
            operation=sc.OP_CHAT,
            provider="openai",
            request_model=str(model or ""),
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=config.capture_content,
            estimate_input=lambda: 0,
            config=config,
            context=context,
            offerable=True,
        )
        offer(call)
        self._remember(sdk_span.span_id, _Open(call.span, call))

    def on_span_end(self, sdk_span: Any) -> None:
        entry = self._pop(sdk_span.span_id)
        if entry is None:
            return
        with guarded("openai_agents.on_span_end"):
            call = entry.call
            if call is not None:
                self._end_model_call(call, sdk_span)
                return
            span = entry.span
            data = sdk_span.span_data
            config = settings()
            if data.type == "function" and config.capture_content:
                if data.input is not None:
                    span.set_attribute(sc.LLMTRACE_INPUT, capture_json(_arguments(data.input), config))
                if data.output is not None:
                    span.set_attribute(sc.LLMTRACE_OUTPUT, capture_json(str(data.output), config))
            if data.type == "agent":  # (the SDK fills in tools and handoffs after the start)
                if data.tools:
                    span.set_attribute(sc.OPENAI_AGENTS_TOOLS, [str(t) for t in data.tools])
                if data.handoffs:
                    span.set_attribute(sc.OPENAI_AGENTS_HANDOFFS, [str(h) for h in data.handoffs])
            if data.type == "handoff":
                if data.from_agent:
                    span.set_attribute(sc.OPENAI_AGENTS_HANDOFF_FROM, str(data.from_agent))
                if data.to_agent:
                    span.set_attribute(sc.OPENAI_AGENTS_HANDOFF_TO, str(data.to_agent))
                span.update_name(f"handoff {data.from_agent} -> {data.to_agent}")
            if data.type == "guardrail":
                span.set_attribute(sc.OPENAI_AGENTS_GUARDRAIL_TRIGGERED, bool(data.triggered))
            _record_error(span, sdk_span.error)
        entry.span.end()

    def _end_model_call(self, call: LLMCall, sdk_span: Any) -> None:
        withdraw(call)
        error = sdk_span.error
        if call.claimed:  # the provider call recorded everything onto this span
            status = getattr(call.span, "status", None)  # (an SDK span's; the API's has none)
            if error and getattr(status, "status_code", None) != StatusCode.ERROR:
                _record_error(call.span, error)
            call.end_claimed()
            return
        if error:
            call.fail(RuntimeError(str(error.get("message") or "error")))
            return
        call.finish(_outcome(call, sdk_span.span_data))

    def shutdown(self) -> None:
        return None

    def force_flush(self) -> None:
        return None


def _outcome(call: LLMCall, data: Any) -> Outcome:
    """A model call the provider integration did not record: from the SDK's span data."""
    response = getattr(data, "response", None)
    if response is not None and hasattr(response, "output"):
        return parts.responses_outcome(call, response)
    out = Outcome(usage=_usage(getattr(data, "usage", None)))
    output = getattr(data, "output", None)
    if call.capture and output:
        out.output_messages = list(output)
    return out


def _arguments(raw: Any) -> Any:
    """A tool's arguments (the model's JSON text) as data, so they are stored as JSON, not a string."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _record_error(span: Span, error: Any) -> None:
    if not error:
        return
    message = str(error.get("message") or "error") if isinstance(error, dict) else str(error)
    span.set_attribute(sc.ERROR_TYPE, message.split(":", 1)[0][:128])
    span.set_status(Status(StatusCode.ERROR, message[:2048]))


_processor: _ProcessorMethods | None = None


def processor() -> _ProcessorMethods:
    """The process's processor: a ``TracingProcessor`` subclass made at run time, so
    ``import llmtrace`` never imports the Agents SDK."""
    global _processor
    if _processor is None:
        from agents.tracing import TracingProcessor

        cls = type("LlmtraceTracingProcessor", (_ProcessorMethods, TracingProcessor), {})
        _processor = cls()
    return _processor


_registered = False


def instrument() -> None:
    """Add the processor once per process (called once ``agents`` is imported); inert when uninstrumented."""
    global _registered
    from agents.tracing import add_trace_processor

    if not _registered:
        add_trace_processor(processor())  # type: ignore[arg-type]
        _registered = True
