"""LlamaIndex integration: a span handler and an event handler on LlamaIndex's root dispatcher.

LlamaIndex reports its own span tree through its instrumentation dispatcher (every method it
decorates with ``dispatcher.span``: query engines, retrievers, synthesizers, LLMs, embeddings,
...). ``instrument()`` adds one handler of each kind to the root dispatcher, so every app is traced
without changing its code, and ``uninstrument()`` takes them off again. Each dispatcher span is
one OpenTelemetry span, a child of its LlamaIndex parent (or of the current span, for a root), and
current while it runs, so provider calls inside a step nest under it. A span on the same object
and of the same kind as its parent (``query`` -> ``_query``, ``chat`` -> ``complete`` of a
``CustomLLM``) is folded into the parent: one query is one span.

What is recorded: queries and synthesizers as ``chain`` spans with their input and output; tools
as ``tool`` spans (``execute_tool {name}``, arguments and output, a ``ToolOutput`` with
``is_error`` as an error); retrievers as ``retriever`` spans with the retrieved node ids and
scores; embeddings as ``embedding`` spans; LLM calls as ``llm`` spans, with usage and cost. An LLM span is *offered*
(``_common.offer``) to the provider call the LLM is about to make, as for LangChain: when the
LLM is backed by an instrumented SDK client (LlamaIndex's ``OpenAI`` -> openai, ``Anthropic`` ->
anthropic, ...) that call records onto this span, so there is exactly one LLM span with the
provider's exact usage. Otherwise it is completed from LlamaIndex's response (its usage when the
response carries one, else an estimate). A streamed LLM call stays open until LlamaIndex's end
event for it, after the caller has consumed the stream.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from llmtrace._internal import active
from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace._internal.guard import guarded
from llmtrace.integrations._common import (
    STATE,
    LLMCall,
    Outcome,
    TokenUsage,
    capture_request_messages,
    close_offered,
    framework_provider,
    offer,
    start_call,
    text_chars,
)

_UUID_SUFFIX = 37  # "-" and a uuid4 end every dispatcher span id
_MAX_OPEN_SPANS = 10_000  # spans whose end never came (an abandoned stream) are dropped past this
_LLM_METHODS = frozenset(
    {
        "chat",
        "achat",
        "complete",
        "acomplete",
        "stream_chat",
        "astream_chat",
        "stream_complete",
        "astream_complete",
    }
)
_CHAT_METHODS = frozenset({"chat", "achat", "stream_chat", "astream_chat"})
_ROLES = {"model": "assistant", "chatbot": "assistant", "function": "tool"}


class _Step:
    """One traced dispatcher span: its OTel span, kind, the object it ran on, and for an LLM
    call the `LLMCall` owning the span."""

    __slots__ = ("call", "instance", "kind", "request", "span", "streaming", "token")

    def __init__(self, span: Span, kind: str, instance: Any, call: LLMCall | None = None) -> None:
        self.span = span
        self.kind = kind
        self.instance = instance
        self.call = call
        self.token: Token[Any] | None = None
        self.streaming = False
        # An LLM call's messages or prompt: captured only if no provider call records its own.
        self.request: Any = None


def _classes() -> dict[str, tuple[type, ...]]:
    """The LlamaIndex base classes a span's object is classified by (imported on first use)."""
    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.base.llms.base import BaseLLM
    from llama_index.core.response_synthesizers.base import BaseSynthesizer
    from llama_index.core.tools.types import BaseTool

    return {
        "tool": (BaseTool,),
        "query": (BaseQueryEngine,),
        "retriever": (BaseRetriever,),
        "embedding": (BaseEmbedding,),
        "llm": (BaseLLM,),
        "synthesizer": (BaseSynthesizer,),
    }


def _argument(bound: Any, *names: str) -> Any:
    """The first of ``names`` among a call's bound arguments, else its first positional one when
    LlamaIndex's own decorator hides the signature (``complete(_self, *args, **kwargs)``)."""
    arguments = getattr(bound, "arguments", None) or {}
    for name in names:
        if name in arguments:
            return arguments[name]
    for name in names:
        if name in (arguments.get("kwargs") or {}):
            return arguments["kwargs"][name]
    positional = arguments.get("args")
    return positional[0] if isinstance(positional, tuple) and positional else None


def _tool_input(bound: Any) -> Any:
    """A tool call's arguments: its keyword arguments, with any positional ones under ``args``."""
    arguments = dict(getattr(bound, "arguments", None) or {})
    arguments.pop("self", None)
    keywords = arguments.pop("kwargs", None) or {}
    positional = arguments.pop("args", None) or ()
    out = {**arguments, **keywords}
    if positional:
        out["args"] = list(positional)
    return out


def _query_text(value: Any) -> Any:
    """A ``str_or_query_bundle`` as text (a QueryBundle's ``query_str``)."""
    return getattr(value, "query_str", value)


def _plain(value: Any) -> Any:
    """A step's input or output as JSON-able data: responses as their text, nodes as dicts."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "node") and hasattr(value, "score"):  # NodeWithScore
        node = value.node
        return {"id": node.node_id, "score": value.score, "content": getattr(node, "text", None)}
    if hasattr(value, "query_str"):
        return value.query_str
    if hasattr(value, "response") and hasattr(value, "source_nodes"):  # a query engine's Response
        return value.response
    return value


def _message(message: Any) -> dict[str, Any]:
    """A LlamaIndex ChatMessage in the OTel GenAI message schema."""
    role = str(getattr(getattr(message, "role", None), "value", None) or "user")
    content = getattr(message, "content", None)
    parts: list[dict[str, Any]] = [{"type": "text", "content": content}] if content else []
    return {"role": _ROLES.get(role, role), "parts": parts}


def _usage(response: Any) -> TokenUsage | None:
    """Token counts LlamaIndex put on a response (``additional_kwargs``), else the raw response's."""
    extra = getattr(response, "additional_kwargs", None) or {}
    if "prompt_tokens" in extra or "completion_tokens" in extra:
        return TokenUsage(
            input=int(extra.get("prompt_tokens") or 0), output=int(extra.get("completion_tokens") or 0)
        )
    raw = getattr(response, "raw", None)
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if usage is None:
        return None
    get = usage.get if isinstance(usage, dict) else lambda key: getattr(usage, key, None)
    prompt, completion = get("prompt_tokens"), get("completion_tokens")
    if prompt is None and completion is None:
        prompt, completion = get("input_tokens"), get("output_tokens")
    if prompt is None and completion is None:
        return None
    return TokenUsage(input=int(prompt or 0), output=int(completion or 0))


def _outcome(call: LLMCall, response: Any) -> Outcome:
    """An LLM span's outcome from LlamaIndex's ChatResponse or CompletionResponse."""
    out = Outcome(usage=_usage(response))
    message = getattr(response, "message", None)
    text = getattr(message, "content", None) if message is not None else getattr(response, "text", None)
    text = text if isinstance(text, str) else ""
    out.output_chars = len(text)
    out.finish_reasons = ["stop"]
    raw = getattr(response, "raw", None)
    model = raw.get("model") if isinstance(raw, dict) else getattr(raw, "model", None)
    out.response_model = model if isinstance(model, str) else None
    if call.capture:
        parts = [{"type": "text", "content": text}] if text else []
        out.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": "stop"}]
    return out


class _HandlerMethods:
    """Spans for LlamaIndex's dispatcher spans and events (see the module docstring)."""

    def __init__(self) -> None:
        self._steps: dict[str, _Step] = {}
        self._folded: dict[str, str] = {}  # a folded span id -> the id of the span it belongs to
        self._lock = threading.Lock()
        self._kinds: dict[str, tuple[type, ...]] | None = None

    # --- bookkeeping -------------------------------------------------------------------------

    def _owner(self, span_id: str | None) -> str | None:
        """The traced span ``span_id`` is (or was folded into)."""
        if span_id is None:
            return None
        return self._folded.get(span_id, span_id)

    def _kind(self, instance: Any, method: str) -> str:
        kinds = self._kinds
        if kinds is None:
            kinds = self._kinds = _classes()
        for kind, classes in kinds.items():
            if isinstance(instance, classes):
                if kind == "llm" and method not in _LLM_METHODS:
                    return "chain"  # predict, structured_predict, ...: steps around model calls
                return kind
        return "chain" if instance is not None else "function"

    def _remember(self, id_: str, step: _Step) -> None:
        with self._lock:
            if len(self._steps) >= _MAX_OPEN_SPANS:
                oldest = next(iter(self._steps))
                self._steps.pop(oldest).span.end()
            self._steps[id_] = step

    # --- span handler ------------------------------------------------------------------------

    def span_enter(
        self,
        id_: str,
        bound_args: Any,
        instance: Any = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not STATE.active:
            return
        with guarded("llamaindex.span_enter"):
            name = id_[:-_UUID_SUFFIX] if len(id_) > _UUID_SUFFIX else id_  # "<Class>.<method>-<uuid4>"
            method = name.rpartition(".")[2]
            kind = self._kind(instance, method)
            parent_key = self._owner(parent_id)
            parent = self._steps.get(parent_key) if parent_key is not None else None
            if (
                parent is not None
                and instance is not None
                and parent.instance is instance
                and (parent.kind == kind)
            ):
                with self._lock:
                    self._folded[id_] = parent_key  # type: ignore[assignment]
                return
            context = trace.set_span_in_context(parent.span) if parent is not None else None
            if kind == "llm":
                step = self._start_llm(instance, method, bound_args, context)
            else:
                step = self._start_step(name, kind, instance, bound_args, context)
            step.token = otel_context.attach(trace.set_span_in_context(step.span))
            self._remember(id_, step)

    def _start_step(self, name: str, kind: str, instance: Any, bound: Any, context: Any) -> _Step:
        attrs: dict[str, Any] = {sc.LLMTRACE_SPAN_KIND: _SPAN_KINDS.get(kind, sc.KIND_CHAIN)}
        config = settings()
        if kind == "retriever":
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_RETRIEVAL
            name = f"retrieve {type(instance).__name__}"
        elif kind == "embedding":
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EMBEDDINGS
            model = getattr(instance, "model_name", None)
            if isinstance(model, str) and model:
                attrs[sc.GEN_AI_REQUEST_MODEL] = model
                name = f"embeddings {model}"
        elif kind == "tool":
            metadata = getattr(instance, "metadata", None)
            tool = str(getattr(metadata, "name", None) or type(instance).__name__)
            attrs[sc.GEN_AI_OPERATION_NAME] = sc.OP_EXECUTE_TOOL
            attrs[sc.GEN_AI_TOOL_NAME] = tool
            description = getattr(metadata, "description", None)
            if isinstance(description, str) and description:
                attrs[sc.GEN_AI_TOOL_DESCRIPTION] = description
            name = f"execute_tool {tool}"
        if config.capture_content and kind == "tool":
            attrs[sc.LLMTRACE_INPUT] = capture_json(_tool_input(bound), config)
        elif config.capture_content and kind != "embedding":
            value = _argument(bound, "str_or_query_bundle", "query_bundle", "query", "query_str")
            if value is not None:
                attrs[sc.LLMTRACE_INPUT] = capture_json(_plain(_query_text(value)), config)
        span = active.tracer().start_span(name, context, attributes=attrs)
        return _Step(span, kind, instance)

    def _start_llm(self, instance: Any, method: str, bound: Any, context: Any) -> _Step:
        chat = method in _CHAT_METHODS
        metadata = getattr(instance, "metadata", None)
        model = getattr(metadata, "model_name", None) or getattr(instance, "model", None) or ""
        attrs: dict[str, Any] = {sc.LLAMAINDEX_COMPONENT: type(instance).__name__}
        if method.startswith(("stream", "astream")):
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        temperature = getattr(instance, "temperature", None)
        if isinstance(temperature, int | float) and not isinstance(temperature, bool):
            attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = temperature
        config = settings()
        request = _argument(bound, "messages") if chat else _argument(bound, "prompt")
        call = start_call(
            operation=sc.OP_CHAT if chat else sc.OP_TEXT_COMPLETION,
            provider=framework_provider(type(instance).__name__.lower()),
            request_model=str(model),
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=config.capture_content,
            estimate_input=lambda: (
                text_chars([getattr(m, "content", m) for m in request or ()]) if chat else text_chars(request)
            ),
            config=config,
            context=context,
            offerable=True,
        )
        offer(call)
        step = _Step(call.span, "llm", instance, call)
        if config.capture_content:
            step.request = (chat, request)
        return step

    def span_exit(
        self, id_: str, bound_args: Any, instance: Any = None, result: Any = None, **kwargs: Any
    ) -> None:
        if self._folded.pop(id_, None) is not None:
            return
        step = self._steps.get(id_)
        if step is None:
            return
        with guarded("llamaindex.span_exit"):
            _detach(step)
            if step.call is not None and isinstance(result, Generator | AsyncGenerator):
                step.streaming = True  # ends at LlamaIndex's end event, once the stream is consumed
                return
            self._steps.pop(id_, None)
            if step.call is not None:
                self._finish_llm(step, result)
            else:
                self._finish_step(step, result)

    def span_drop(
        self, id_: str, bound_args: Any, instance: Any = None, err: BaseException | None = None, **kwargs: Any
    ) -> None:
        if self._folded.pop(id_, None) is not None:
            return
        step = self._steps.pop(id_, None)
        if step is None:
            return
        with guarded("llamaindex.span_drop"):
            _detach(step)
            self._fail(step, err)

    def _finish_step(self, step: _Step, result: Any) -> None:
        span = step.span
        try:
            attrs: dict[str, Any] = {}
            if step.kind == "retriever" and isinstance(result, list):
                attrs[sc.LLMTRACE_RETRIEVAL_COUNT] = len(result)
                ids = [str(getattr(getattr(n, "node", None), "node_id", "") or "") for n in result]
                if any(ids):
                    attrs[sc.LLMTRACE_RETRIEVAL_IDS] = ids
                scores = [getattr(n, "score", None) for n in result]
                if result and all(isinstance(s, int | float) for s in scores):
                    attrs[sc.LLMTRACE_RETRIEVAL_SCORES] = [float(s) for s in scores if s is not None]
            if step.kind == "tool" and getattr(result, "is_error", False):  # a ToolOutput saying so
                attrs[sc.ERROR_TYPE] = "ToolError"
                span.set_status(Status(StatusCode.ERROR, str(getattr(result, "content", ""))[:2048]))
            config = settings()
            if config.capture_content and step.kind != "embedding" and result is not None:
                output = getattr(result, "content", result) if step.kind == "tool" else _plain(result)
                attrs[sc.LLMTRACE_OUTPUT] = capture_json(output, config)
            if attrs:
                span.set_attributes(attrs)
        finally:
            span.end()

    def _finish_llm(self, step: _Step, response: Any) -> None:
        call = step.call
        assert call is not None
        if close_offered(call):  # the provider call recorded everything onto this span
            return
        try:
            self._capture_request(step)
            call.finish(_outcome(call, response))
        finally:
            call.end_quietly()

    def _fail(self, step: _Step, error: BaseException | None) -> None:
        call = step.call
        if call is None:
            span = step.span
            if error is not None:
                span.set_attribute(sc.ERROR_TYPE, type(error).__name__)
                span.set_status(Status(StatusCode.ERROR, str(error)[:2048]))
            span.end()
            return
        if close_offered(call):  # the provider call recorded the error onto this span
            return
        try:
            self._capture_request(step)
            call.fail(error if error is not None else RuntimeError("dropped"))
        finally:
            call.end_quietly()

    @staticmethod
    def _capture_request(step: _Step) -> None:
        """The request's messages (or prompt) onto the call's pending attributes (content capture)."""
        call = step.call
        if step.request is None or call is None:
            return
        chat, request = step.request
        if chat:
            plain = [_message(m) for m in request or ()]
        else:
            plain = [{"role": "user", "parts": [{"type": "text", "content": str(request)}]}]
        capture_request_messages(call, plain)

    # --- event handler: the end of a streamed LLM call -----------------------------------------

    def handle(self, event: Any, **kwargs: Any) -> None:
        kind = type(event).__name__
        if kind not in ("LLMChatEndEvent", "LLMCompletionEndEvent", "ExceptionEvent"):
            return
        span_id = event.span_id
        step = self._steps.get(span_id) if span_id is not None else None
        if step is None or not step.streaming:
            return
        with guarded("llamaindex.event"):
            self._steps.pop(span_id, None)
            if kind == "ExceptionEvent":
                self._fail(step, event.exception)
            else:
                self._finish_llm(step, event.response)

    async def ahandle(self, event: Any, **kwargs: Any) -> None:
        self.handle(event, **kwargs)


_SPAN_KINDS = {
    "tool": sc.KIND_TOOL,
    "query": sc.KIND_CHAIN,
    "synthesizer": sc.KIND_CHAIN,
    "chain": sc.KIND_CHAIN,
    "function": sc.KIND_SPAN,
    "retriever": sc.KIND_RETRIEVER,
    "embedding": sc.KIND_EMBEDDING,
}


def _detach(step: _Step) -> None:
    """Make the span's parent current again. LlamaIndex ends a span whose method returned a
    future in another context, where the token does not apply: then there is nothing to undo."""
    token, step.token = step.token, None
    if token is not None:
        try:
            token.var.reset(token)
        except ValueError:
            pass


_handlers: tuple[Any, Any] | None = None  # the process's (span handler, event handler)


def handlers() -> tuple[Any, Any]:
    """The span and event handler ``instrument()`` adds: LlamaIndex handler subclasses made at
    run time, so ``import llmtrace`` never imports LlamaIndex. Both share one state."""
    global _handlers
    if _handlers is None:
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

        state = _HandlerMethods()

        class LlmtraceSpanHandler(BaseSpanHandler[Any]):  # type: ignore[misc,valid-type]
            def span_enter(self, *args: Any, **kwargs: Any) -> None:
                state.span_enter(*args, **kwargs)

            def span_exit(self, *args: Any, **kwargs: Any) -> None:
                state.span_exit(*args, **kwargs)

            def span_drop(self, *args: Any, **kwargs: Any) -> None:
                state.span_drop(*args, **kwargs)

            def new_span(self, *args: Any, **kwargs: Any) -> None:
                return None

            def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> None:
                return None

            def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> None:
                return None

        class LlmtraceEventHandler(BaseEventHandler):  # type: ignore[misc]
            def handle(self, event: Any, **kwargs: Any) -> None:
                state.handle(event, **kwargs)

        _handlers = (LlmtraceSpanHandler(), LlmtraceEventHandler())
    return _handlers


def instrument() -> None:
    """Add the handlers to LlamaIndex's root dispatcher (called once ``llama_index.core`` is imported)."""
    from llama_index.core.instrumentation import get_dispatcher

    root = get_dispatcher()
    span_handler, event_handler = handlers()
    if not any(h is span_handler for h in root.span_handlers):
        root.add_span_handler(span_handler)
    if not any(h is event_handler for h in root.event_handlers):
        root.add_event_handler(event_handler)


def uninstrument() -> None:
    """Take the handlers off the root dispatcher again."""
    from llama_index.core.instrumentation import get_dispatcher

    root = get_dispatcher()
    span_handler, event_handler = handlers()
    root.span_handlers = [h for h in root.span_handlers if h is not span_handler]
    root.event_handlers = [h for h in root.event_handlers if h is not event_handler]
