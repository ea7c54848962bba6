"""Mistral integration (``mistralai``): ``chat.complete`` and ``chat.stream``, sync and async.

Provider ``mistral_ai`` (the OTel GenAI name). Mistral's usage has OpenAI's meaning
(``prompt_tokens`` / ``completion_tokens``); streams carry it on their last chunk. Message
content may be a string or a list of chunks (text, and ``thinking`` for reasoning models, recorded
as ``reasoning`` parts).
"""

from __future__ import annotations

import json
import time
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace.integrations._common import (
    LLMCall,
    Outcome,
    TokenUsage,
    endpoint_facts,
    patch,
    start_call,
    text_chars,
)
from llmtrace.integrations._streams import StreamHandler
from llmtrace.integrations._wrappers import Endpoint, async_wrapper, sync_wrapper

PROVIDER = "mistral_ai"
_DEFAULT_SERVER = "https://api.mistral.ai"
_PARAMS = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("random_seed", sc.GEN_AI_REQUEST_SEED),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
)


def _given(value: Any) -> bool:
    """Set by the caller: not None and not the SDK's ``UNSET`` sentinel."""
    return value is not None and type(value).__name__ not in ("Unset", "UnsetType")


def _field(obj: Any, name: str) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return value if _given(value) else None


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    out: list[dict[str, Any]] = []
    for chunk in content or ():
        kind = _field(chunk, "type")
        if kind == "text":
            out.append({"type": "text", "content": _field(chunk, "text") or ""})
        elif kind == "thinking":
            thinking = _field(chunk, "thinking") or []
            out.append({"type": "reasoning", "content": "".join(_field(t, "text") or "" for t in thinking)})
        elif kind:
            out.append({"type": str(kind)})
    return out


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for call in calls or ():
        function = _field(call, "function")
        arguments = _field(function, "arguments")
        out.append(
            {
                "id": _field(call, "id"),
                "name": _field(function, "name") or "",
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            }
        )
    return out


def _usage(usage: Any) -> TokenUsage | None:
    if usage is None:
        return None
    details = _field(usage, "prompt_tokens_details")
    return TokenUsage(
        input=_field(usage, "prompt_tokens") or 0,
        output=_field(usage, "completion_tokens") or 0,
        cached=(_field(details, "cached_tokens") or 0) if details is not None else 0,
    )


def _chars(parts: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
    return sum(len(p.get("content") or "") for p in parts if p["type"] == "text") + sum(
        len(t["arguments"] or "") for t in tools
    )


class ChatComplete(Endpoint):
    where = "mistralai.chat.complete"
    streaming = False

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return self.streaming

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        server = _DEFAULT_SERVER
        try:
            server = instance.sdk_configuration.get_server_details()[0] or server
        except Exception:  # an SDK version without it: the default server
            pass
        provider, facts = endpoint_facts(str(server), PROVIDER)
        if provider == "openai":  # a custom server URL that names no provider: still Mistral's SDK
            provider = PROVIDER
        attrs = dict(facts)
        for key, name in _PARAMS:
            value = kwargs.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs[name] = value
        stop = kwargs.get("stop")
        if _given(stop) and stop:
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (
                [stop] if isinstance(stop, str) else [str(s) for s in stop]
            )
        if self.streaming:
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        config = settings()
        capture = config.capture_content
        if capture:
            system: list[dict[str, Any]] = []
            inputs: list[dict[str, Any]] = []
            for message in kwargs.get("messages") or ():
                role = _field(message, "role") or "user"
                parts = _parts(_field(message, "content"))
                parts += [{"type": "tool_call", **t} for t in _tool_calls(_field(message, "tool_calls"))]
                if role == "system":
                    system += parts
                elif role == "tool":
                    response = {"type": "tool_call_response", "id": _field(message, "tool_call_id")}
                    inputs.append(
                        {"role": role, "parts": [{**response, "response": _field(message, "content")}]}
                    )
                else:
                    inputs.append({"role": role, "parts": parts})
            if system:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system, config)
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(inputs, config)
            tools = kwargs.get("tools")
            if _given(tools) and tools:
                attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(
                    [t if isinstance(t, dict) else t.model_dump(mode="json") for t in tools], config
                )
        model = kwargs.get("model")
        return start_call(
            operation=sc.OP_CHAT,
            provider=provider,
            request_model=model if isinstance(model, str) else "",
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=lambda: text_chars(kwargs.get("messages")),
            config=config,
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        out = Outcome(response_id=result.id, response_model=result.model, usage=_usage(result.usage))
        messages = []
        chars = 0
        for choice in result.choices or ():
            message = choice.message
            parts = _parts(_field(message, "content"))
            tools = _tool_calls(_field(message, "tool_calls"))
            reason = str(_field(choice, "finish_reason") or "error")
            out.finish_reasons.append(reason)
            out.tool_calls += tools
            chars += _chars(parts, tools)
            messages.append(
                {
                    "role": "assistant",
                    "parts": parts + [{"type": "tool_call", **t} for t in tools],
                    "finish_reason": reason,
                }
            )
        out.output_chars = chars
        if call.capture:
            out.output_messages = messages
        return out

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        return _Stream(call)


class ChatStream(ChatComplete):
    where = "mistralai.chat.stream"
    streaming = True


class _Stream:
    """Accumulates ``CompletionEvent``s (``event.data`` is a ``CompletionChunk``)."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.tools: dict[int, list[dict[str, Any]]] = {}
        self.finish: dict[int, str] = {}

    def on_chunk(self, event: Any) -> bool:
        chunk = getattr(event, "data", event)
        self.id = self.id or chunk.id
        self.model = self.model or chunk.model
        if _given(chunk.usage) and chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices or ():
            delta = choice.delta
            content = _field(delta, "content")
            text = (
                content
                if isinstance(content, str)
                else "".join(p.get("content", "") for p in _parts(content) if p["type"] == "text")
            )
            texts = self.texts.setdefault(choice.index, [])
            if text:
                if not self.call.first_content_ns:
                    self.call.first_content_ns = time.perf_counter_ns()
                texts.append(text)
            tools = _tool_calls(_field(delta, "tool_calls"))
            if tools:
                self.tools.setdefault(choice.index, []).extend(tools)
            reason = _field(choice, "finish_reason")
            if reason:
                self.finish[choice.index] = str(reason)
        return False

    def outcome(self) -> Outcome:
        out = Outcome(response_id=self.id, response_model=self.model, usage=_usage(self.usage))
        indexes = sorted(set(self.texts) | set(self.tools) | set(self.finish))
        out.finish_reasons = [self.finish.get(i, "error") for i in indexes]
        out.tool_calls = [t for i in indexes for t in self.tools.get(i, ())]
        texts = {i: "".join(self.texts.get(i, ())) for i in indexes}
        out.output_chars = sum(len(t) for t in texts.values()) + sum(
            len(t["arguments"] or "") for t in out.tool_calls
        )
        if self.call.capture:
            out.output_messages = [
                {
                    "role": "assistant",
                    "parts": _parts(texts[i]) + [{"type": "tool_call", **t} for t in self.tools.get(i, ())],
                    "finish_reason": self.finish.get(i, "error"),
                }
                for i in indexes
            ]
        return out


def instrument() -> None:
    """Patch the mistralai SDK's chat (called once ``mistralai`` is imported)."""
    try:
        from mistralai.client.chat import Chat
    except ImportError:  # mistralai 1.x
        from mistralai.chat import Chat  # type: ignore[no-redef]

    complete, stream = ChatComplete(), ChatStream()
    patch(Chat, "complete", sync_wrapper(complete))
    patch(Chat, "complete_async", async_wrapper(complete))
    patch(Chat, "stream", sync_wrapper(stream))
    patch(Chat, "stream_async", async_wrapper(stream))
