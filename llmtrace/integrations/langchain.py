"""LangChain / LangGraph integration: a callback handler on every callback manager.

``instrument()`` wraps ``BaseCallbackManager.__init__`` so every manager LangChain builds (and
so every run, in any app, without passing ``callbacks=``) carries one `LlmtraceCallbackHandler`.
The handler turns the run tree into spans: chains and LangGraph nodes, tools, retrievers and
model calls, each a child of its parent run's span; a run without a traced parent is a child of
the current OpenTelemetry span (an ``@llmtrace.trace`` function around ``graph.invoke``), else the
root of a new trace, so one run is one trace. Runs LangChain marks hidden (``langsmith:hidden``,
LangGraph's internal writes and branches) get no span; their children go to the nearest traced
ancestor.

Model calls: the handler starts the LLM span and *offers* it (``_common.offer``) to the provider
call the model is about to make. When the model is backed by an instrumented SDK client
(``ChatOpenAI`` → openai, ``ChatAnthropic`` → anthropic, ``ChatGoogleGenerativeAI`` →
google-genai) that call records onto this span, so there is exactly one LLM span, with the
framework's context (run name, node, tags, session) and the provider's exact usage, cost and
response. Otherwise the span is completed from LangChain's own result (``usage_metadata``).

A LangGraph ``thread_id`` (``config={"configurable": {"thread_id": ...}}``) is recorded as
``session.id`` on every span of the run, so an interrupted run and its resume, two traces, are one
session. An interrupt (``GraphInterrupt``) is recorded as ``langgraph.interrupted``, not an error.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from llmtrace._internal import active
from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace._internal.guard import guarded, internal_error
from llmtrace.integrations._common import (
    STATE,
    LLMCall,
    Outcome,
    capture_request_messages,
    close_offered,
    offer,
    patch,
    patch_function,
    start_call,
    text_chars,
)
from llmtrace.integrations._langchain_parts import (
    as_json,
    is_number,
    message_of,
    parts_of,
    run_name,
    score_of,
    usage_of,
)

_HIDDEN_TAG = "langsmith:hidden"
_INTERRUPTS = frozenset({"GraphInterrupt", "NodeInterrupt", "Interrupt"})
_MAX_OPEN_RUNS = 10_000  # runs whose end never came (an abandoned stream) are dropped past this

# What LangChain's stream is handed when the caller stops reading it (the generator closed, the
# task cancelled): the run ends cancelled, not failed.
_STOPPED = (GeneratorExit, asyncio.CancelledError)

# invocation_params -> attribute (in this order: the last max-tokens name given wins)
_PARAMS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
}


class _Run:
    """One traced run: its span, and for a model call the `LLMCall` that owns that span."""

    __slots__ = ("call", "request", "session", "span")

    def __init__(self, span: Span, session: str | None, call: LLMCall | None = None) -> None:
        self.span = span
        self.session = session
        self.call = call
        # A model call's messages and tools: captured only if no provider call records its own
        # (which it does from the very request it sends), so they are serialised once, not twice.
        self.request: tuple[list[Any], Any] | None = None


class _HandlerMethods:
    """Spans for LangChain runs (see the module docstring). One instance per process.

    ``run_inline``: LangChain calls it in the caller's thread or task, never in an executor, so
    the model call it offers its span to runs in the same context.
    """

    run_inline = True
    raise_error = False
    ignore_llm = ignore_chain = ignore_agent = ignore_retriever = ignore_chat_model = False
    ignore_retry = ignore_custom_event = True

    def __init__(self) -> None:
        self._runs: dict[UUID, _Run] = {}
        self._hidden: dict[UUID, UUID | None] = {}  # a hidden run -> its parent
        # Model runs whose first streamed token is still to come (its time is the run's TTFT).
        self._awaiting_token: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    # --- run bookkeeping ---------------------------------------------------------------------

    def _parent(self, parent_run_id: UUID | None) -> _Run | None:
        seen = 0
        while parent_run_id is not None and seen < 64:
            run = self._runs.get(parent_run_id)
            if run is not None:
                return run
            parent_run_id = self._hidden.get(parent_run_id)
            seen += 1
        return None

    def _context(self, parent: _Run | None) -> Context | None:
        # No traced parent: the current span (e.g. an @llmtrace.trace function), else a new trace.
        return trace.set_span_in_context(parent.span) if parent is not None else None

    @staticmethod
    def _session(metadata: dict[str, Any] | None, parent: _Run | None) -> str | None:
        thread = (metadata or {}).get("thread_id")
        if thread is not None and str(thread):
            return str(thread)
        return parent.session if parent is not None else None

    def _remember(self, run_id: UUID, run: _Run) -> None:
        with self._lock:
            if len(self._runs) >= _MAX_OPEN_RUNS:
                oldest = next(iter(self._runs))
                self._runs.pop(oldest).span.end()
            self._runs[run_id] = run

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            self._hidden.pop(run_id, None)
            if self._awaiting_token:
                self._awaiting_token.pop(run_id, None)
            return self._runs.pop(run_id, None)

    def _common_attrs(
        self, kind: str, session: str | None, metadata: dict[str, Any] | None, tags: Any
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {sc.LLMTRACE_SPAN_KIND: kind}
        if session is not None:
            attrs[sc.SESSION_ID] = session
        meta = metadata or {}
        node = meta.get("langgraph_node")
        if isinstance(node, str):
            attrs[sc.LANGGRAPH_NODE] = node
            step = meta.get("langgraph_step")
            if isinstance(step, int):
                attrs[sc.LANGGRAPH_STEP] = step
        visible = [str(t) for t in tags or () if not str(t).startswith(("graph:step:", "seq:step:"))]
        if visible:
            attrs[sc.LLMTRACE_TAGS] = visible
        return attrs

    def _start_span(
        self,
        name: str,
        kind: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        metadata: dict[str, Any] | None,
        tags: Any,
        extra: dict[str, Any],
    ) -> None:
        parent = self._parent(parent_run_id)
        session = self._session(metadata, parent)
        attrs = self._common_attrs(kind, session, metadata, tags)
        attrs.update(extra)
        span = active.tracer().start_span(name, self._context(parent), attributes=attrs)
        self._remember(run_id, _Run(span, session))

    def _end(
        self, run_id: UUID, attrs: dict[str, Any] | None = None, error: BaseException | None = None
    ) -> None:
        run = self._pop(run_id)
        if run is None:
            return
        span = run.span
        try:
            if attrs:
                span.set_attributes(attrs)
            if error is not None:
                if type(error).__name__ in _INTERRUPTS:
                    span.set_attribute(sc.LANGGRAPH_INTERRUPTED, True)
                else:
                    span.set_attribute(sc.ERROR_TYPE, type(error).__name__)
                    span.set_status(Status(StatusCode.ERROR, str(error)[:2048]))
        finally:
            span.end()

    def _skip(self, run_id: UUID, parent_run_id: UUID | None, tags: Any) -> bool:
        if not STATE.active:
            return True
        if tags and _HIDDEN_TAG in tags:
            with self._lock:
                self._hidden[run_id] = parent_run_id
            return True
        return False

    # --- chains and graph nodes ----------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with guarded("langchain.on_chain_start"):
            if self._skip(run_id, parent_run_id, tags):
                return
            name = run_name(serialized, kwargs, "chain")
            extra: dict[str, Any] = {}
            config = settings()
            if config.capture_content:
                extra[sc.LLMTRACE_INPUT] = as_json(inputs, config)
            self._start_span(str(name), sc.KIND_CHAIN, run_id, parent_run_id, metadata, tags, extra)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_chain_end"):
            config = settings()
            self._end(
                run_id, {sc.LLMTRACE_OUTPUT: as_json(outputs, config)} if config.capture_content else None
            )

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_chain_error"):
            self._end(run_id, error=error)

    # --- tools ---------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with guarded("langchain.on_tool_start"):
            if self._skip(run_id, parent_run_id, tags):
                return
            name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
            extra: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name}
            call_id = kwargs.get("tool_call_id")
            if isinstance(call_id, str):
                extra[sc.GEN_AI_TOOL_CALL_ID] = call_id
            description = (serialized or {}).get("description")
            if isinstance(description, str) and description:
                extra[sc.GEN_AI_TOOL_DESCRIPTION] = description
            config = settings()
            if config.capture_content:
                extra[sc.LLMTRACE_INPUT] = as_json(inputs if inputs is not None else input_str, config)
            self._start_span(
                f"execute_tool {name}", sc.KIND_TOOL, run_id, parent_run_id, metadata, tags, extra
            )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_tool_end"):
            config = settings()
            self._end(
                run_id, {sc.LLMTRACE_OUTPUT: as_json(output, config)} if config.capture_content else None
            )

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_tool_error"):
            self._end(run_id, error=error)

    # --- retrievers ------------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with guarded("langchain.on_retriever_start"):
            if self._skip(run_id, parent_run_id, tags):
                return
            name = str(kwargs.get("name") or (serialized or {}).get("name") or "retriever")
            extra: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL}
            config = settings()
            if config.capture_content:
                extra[sc.LLMTRACE_INPUT] = as_json(query, config)
            self._start_span(
                f"retrieve {name}", sc.KIND_RETRIEVER, run_id, parent_run_id, metadata, tags, extra
            )

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_retriever_end"):
            attrs: dict[str, Any] = {sc.LLMTRACE_RETRIEVAL_COUNT: len(documents)}
            ids = [str(getattr(d, "id", None) or "") for d in documents]
            if any(ids):
                attrs[sc.LLMTRACE_RETRIEVAL_IDS] = ids
            scores = [score_of(d) for d in documents]
            if documents and all(s is not None for s in scores):
                attrs[sc.LLMTRACE_RETRIEVAL_SCORES] = [s for s in scores if s is not None]
            config = settings()
            if config.capture_content:
                attrs[sc.LLMTRACE_OUTPUT] = as_json(list(documents), config)
            self._end(run_id, attrs)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with guarded("langchain.on_retriever_error"):
            self._end(run_id, error=error)

    # --- model calls -----------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:  # (``guarded`` written out: a model call's callbacks are its hot path)
            batch = messages[0] if messages else []
            self._start_llm(serialized, run_id, parent_run_id, tags, metadata, kwargs, batch, sc.OP_CHAT)
        except Exception as exc:
            internal_error("langchain.on_chat_model_start", exc)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with guarded("langchain.on_llm_start"):
            self._start_llm(
                serialized, run_id, parent_run_id, tags, metadata, kwargs, prompts[:1], sc.OP_TEXT_COMPLETION
            )

    def _start_llm(
        self,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Any,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
        messages: list[Any],
        operation: str,
    ) -> None:
        if self._skip(run_id, parent_run_id, tags):
            return
        meta = metadata or {}
        params = kwargs.get("invocation_params") or {}
        parent = None if parent_run_id is None else self._parent(parent_run_id)
        session = self._session(metadata, parent)
        attrs = self._common_attrs(sc.KIND_LLM, session, metadata, tags)
        attrs[sc.LANGCHAIN_RUN_NAME] = run_name(serialized, kwargs, params.get("_type") or "llm")
        # Only the parameters given (one or two of the nine, usually), found by a C-level pass, in
        # ``_PARAMS`` order.
        for key in filter(params.__contains__, _PARAMS):
            value = params[key]
            if value is not None and is_number(value):
                attrs[_PARAMS[key]] = value
        stop = params.get("stop")
        if isinstance(stop, list | tuple) and stop:
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
        config = settings()
        capture = config.capture_content
        provider = str(meta.get("ls_provider") or params.get("_type") or "langchain")
        model = meta.get("ls_model_name") or params.get("model") or params.get("model_name") or ""
        call = start_call(
            operation=operation,
            provider=sc.PROVIDER_ALIASES.get(provider, provider),  # (`framework_provider`)
            request_model=str(model),
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=lambda: text_chars([getattr(m, "content", m) for m in messages]),
            config=config,
            context=None if parent is None else trace.set_span_in_context(parent.span),  # (`_context`)
            offerable=True,
        )
        call.records_answer = True  # `on_llm_end`'s result: a provider stream need not rebuild it
        offer(call)
        run = _Run(call.span, session, call)
        if capture:
            run.request = (messages, params.get("tools"))
        self._remember(run_id, run)
        self._awaiting_token[run_id] = run

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        # Only the first token counts, and only if no provider call took the span over (its stream
        # times the first chunk itself): every later token costs one empty-dict test.
        if not self._awaiting_token:
            return
        run = self._awaiting_token.pop(run_id, None)
        if run is None or run.call is None or run.call.claimed:
            return
        now = time.perf_counter_ns()
        run.call.first_chunk_ns = run.call.first_chunk_ns or now
        if token:
            run.call.first_content_ns = now

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is None or run.call is None:
            return
        call = run.call
        try:  # (``guarded`` written out, as in `on_chat_model_start`)
            if close_offered(call):  # the provider call recorded everything onto this span
                return
            if call.provider_facts is not None:
                # A provider stream left its facts (and its request's attributes) to this answer:
                # LangChain's result, read on the export thread as a provider's response is.
                call.finish_later(self._outcome, response, "langchain.on_llm_end")
                return
            if run.request is not None:
                self._capture_request(call, *run.request)
            call.finish(self._outcome(call, response))
        except Exception as exc:
            internal_error("langchain.on_llm_end", exc)
        call.end_quietly()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._pop(run_id)
        if run is None or run.call is None:
            return
        call = run.call
        with guarded("langchain.on_llm_error"):
            if close_offered(call):  # the provider call recorded the error onto this span
                return
            if call.provider_facts is not None:  # a provider stream left its facts: see `on_llm_end`
                partial = kwargs.get("response")  # the chunks streamed before the error
                outcome = self._outcome(call, partial, "error") if partial is not None else Outcome()
                if isinstance(error, _STOPPED):  # the caller stopped reading: not an error
                    call.finish(outcome, cancelled=True)
                else:
                    call.fail(error, outcome)
                return
            if run.request is not None:
                self._capture_request(call, *run.request)
            call.fail(error)
        call.end_quietly()

    @staticmethod
    def _capture_request(call: LLMCall, messages: list[Any], tools: Any) -> None:
        """The request's messages and tools onto ``call``'s pending attributes (content capture)."""
        plain = [
            message_of(m) if not isinstance(m, str) else {"role": "user", "parts": parts_of(m)}
            for m in messages
        ]
        attrs = capture_request_messages(call, plain)
        if tools:
            attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(tools, call.config or settings())

    @staticmethod
    def _outcome(call: LLMCall, response: Any, unfinished: str = "stop") -> Outcome:
        """LangChain's result; ``unfinished``: the finish reason of a generation that reports
        none ("error" for the partial result of a stream cut short)."""
        generations = response.generations[0] if response.generations else []
        llm_output = response.llm_output or {}
        first = generations[0] if generations else None
        message = getattr(first, "message", None)
        out = Outcome(usage=usage_of(message, llm_output))
        meta = getattr(message, "response_metadata", None) or {}
        out.response_model = meta.get("model_name") or llm_output.get("model_name") or None
        out.response_id = getattr(message, "id", None) if message is not None else None
        reasons = []
        chars = 0
        messages = []
        for generation in generations:
            info = getattr(generation, "generation_info", None) or {}
            gen_message = getattr(generation, "message", None)
            reason = info.get("finish_reason") or (
                (getattr(gen_message, "response_metadata", None) or {}).get("finish_reason")
            )
            reasons.append(str(reason) if reason else unfinished)
            chars += len(generation.text or "")
            plain = (
                message_of(gen_message)
                if gen_message is not None
                else {"role": "assistant", "parts": parts_of(generation.text)}
            )
            plain["finish_reason"] = reasons[-1]
            messages.append(plain)
            for tool in getattr(gen_message, "tool_calls", None) or ():
                out.tool_calls.append(
                    {"id": tool.get("id"), "name": tool.get("name"), "arguments": tool.get("args")}
                )
                chars += len(json.dumps(tool.get("args") or {}))
        out.finish_reasons = reasons
        out.output_chars = chars
        if call.capture:
            out.output_messages = messages
        return out


_handler: _HandlerMethods | None = None  # the process's handler, made on first instrument()


def handler() -> _HandlerMethods:
    """The handler ``instrument()`` puts on every manager: a LangChain ``BaseCallbackHandler``
    subclass made at run time, so ``import llmtrace`` never imports LangChain."""
    global _handler
    if _handler is None:
        from langchain_core.callbacks import BaseCallbackHandler

        cls = type("LlmtraceCallbackHandler", (_HandlerMethods, BaseCallbackHandler), {})
        _handler = cls()
    return _handler


def _manager_init(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    wrapped(*args, **kwargs)
    if STATE.active:
        try:  # (``guarded`` written out: LangChain makes a manager for every run)
            ours = _handler or handler()
            if ours not in instance.handlers:
                instance.add_handler(ours, True)
        except Exception as exc:
            internal_error("langchain.callback_manager", exc)


def _new_token(original: Any) -> Callable[..., Any]:
    """A model run's token event, not dispatched when our handler is the run's only one: handed to
    it directly while a model run awaits its first token, else dropped (its handling would do
    nothing), so a long stream costs one plain call per token instead of LangChain's event
    dispatch. (A plain function, not a wrapt wrapper, and the test one list comparison and one
    dict's emptiness: it runs on every token. Whether llmtrace is active needs no test: with it
    off, our handler would do nothing either.)"""
    ours = handler()
    alone = [ours]  # a run whose only handler is ours has ``handlers == alone``
    awaiting = ours._awaiting_token  # (the handler's dict itself: it is never replaced)

    def on_llm_new_token(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.handlers != alone:
            return original(self, *args, **kwargs)
        if awaiting:
            _first_token(ours, self, args, kwargs)
        return None

    return on_llm_new_token


def _first_token(ours: _HandlerMethods, manager: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A token for our handler alone, as LangChain's dispatch would hand it (errors logged, never
    raised: LangChain's dispatch does the same)."""
    try:
        ours.on_llm_new_token(args[0] if args else kwargs.get("token", ""), run_id=manager.run_id)
    except Exception as exc:
        internal_error("langchain.on_llm_new_token", exc)


def _anew_token(original: Any) -> Callable[..., Any]:
    """`_new_token` for async runs."""
    ours = handler()
    alone = [ours]
    awaiting = ours._awaiting_token

    async def on_llm_new_token(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.handlers != alone:
            return await original(self, *args, **kwargs)
        if awaiting:
            _first_token(ours, self, args, kwargs)
        return None

    return on_llm_new_token


def _should_stream(original: Any) -> Callable[..., Any]:
    """``BaseChatModel._should_stream`` (whether ``invoke`` streams under the hood) without asking
    whether our handler is a streaming one when it is the run's only handler: it is not, and the
    question (``isinstance`` against LangChain's runtime-checkable ``_StreamingCallbackHandler``
    Protocol) costs an ``invoke`` more on Python 3.11 than all of llmtrace's model-call callbacks
    together. The run manager is passed on as None then, which gives the answer it gives with no
    handler; the method reads it for nothing else. Any other handler present: asked as it is."""
    alone = [handler()]

    def should_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = kwargs.get("run_manager")
        if manager is not None and manager.handlers == alone:
            kwargs["run_manager"] = None
        return original(self, *args, **kwargs)

    return should_stream


def instrument() -> None:
    """Put the handler on every LangChain callback manager (called once ``langchain_core`` is imported)."""
    from langchain_core.callbacks.base import BaseCallbackManager
    from langchain_core.callbacks.manager import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models.chat_models import BaseChatModel

    handler()
    patch(BaseCallbackManager, "__init__", _manager_init)
    patch_function(CallbackManagerForLLMRun, "on_llm_new_token", _new_token)
    patch_function(AsyncCallbackManagerForLLMRun, "on_llm_new_token", _anew_token)
    patch_function(BaseChatModel, "_should_stream", _should_stream)
