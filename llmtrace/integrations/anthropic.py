"""Anthropic integration: ``messages.create`` (stream and not), ``messages.stream()``, ``messages.parse``.

The same three methods of ``client.beta.messages`` (beta features: MCP servers, computer use,
context management, ...; its ``tool_runner`` calls ``create``) are traced alike: their requests
and responses have the same shape.

Token semantics: Anthropic's ``input_tokens`` excludes cache reads and cache writes, so llmtrace
records ``gen_ai.usage.input_tokens = input_tokens + cache_read_input_tokens +
cache_creation_input_tokens`` with the two cache counts as subsets (the OTel convention).
Streamed ``message_delta`` usage is cumulative: it overwrites, never adds. Extended thinking is
recorded as ``reasoning`` output parts; ``thinking_tokens`` (when reported) as reasoning tokens.
The SDK's own span is switched off (see ``_anthropic_native``) so there is one span per call.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace.integrations._anthropic_native import disable_native_tracing, restore_native_tracing, silence
from llmtrace.integrations._common import (
    LLMCall,
    Outcome,
    TokenUsage,
    client_facts,
    materialize,
    patch,
    should_trace,
    snapshot,
    start_call,
    text_chars,
)
from llmtrace.integrations._streams import StreamHandler, index_order
from llmtrace.integrations._wrappers import Endpoint, async_wrapper, run_async, run_sync, sync_wrapper

PROVIDER = "anthropic"

_PARAMS = (
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("top_k", sc.GEN_AI_REQUEST_TOP_K),
)


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else {}


def _block_parts(content: Any) -> list[dict[str, Any]]:
    """Anthropic content (a string or blocks) -> OTel message parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for raw in content or ():
        block = _as_dict(raw)
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif kind == "tool_use":
            parts.append(
                {
                    "type": "tool_call",
                    "id": block.get("id"),
                    "name": block.get("name"),
                    "arguments": block.get("input"),
                }
            )
        elif kind == "tool_result":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": block.get("tool_use_id"),
                    "response": block.get("content"),
                }
            )
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": block.get("thinking", "")})
        elif kind == "image":
            parts.append(
                {
                    "type": "blob" if _as_dict(block.get("source")).get("type") == "base64" else "uri",
                    "modality": "image",
                }
            )
        else:
            parts.append({"type": "generic", "kind": kind})
    return parts


def usage_of(usage: Any) -> TokenUsage | None:
    """Anthropic `Usage`/`MessageDeltaUsage` -> OTel token semantics (input includes cache tokens)."""
    if usage is None:
        return None
    read = usage.cache_read_input_tokens or 0
    write = usage.cache_creation_input_tokens or 0
    details = getattr(usage, "output_tokens_details", None)
    return TokenUsage(
        input=(usage.input_tokens or 0) + read + write,
        output=usage.output_tokens or 0,
        cached=read,
        cache_write=write,
        reasoning=(getattr(details, "thinking_tokens", None) or 0) if details is not None else 0,
        cache_write_1h=_written_for_an_hour(usage, write),
        web_searches=_web_searches(usage),
    )


def _web_searches(usage: Any) -> int:
    """Searches the server-side web search tool ran (``usage.server_tool_use``), $10 per 1,000."""
    server = getattr(usage, "server_tool_use", None)
    searches = getattr(server, "web_search_requests", None) if server is not None else None
    return searches if isinstance(searches, int) and searches > 0 else 0


def _written_for_an_hour(usage: Any, write: int) -> int:
    """Of ``write`` cache-write tokens, those written with the 1-hour TTL (2x the input price
    where the 5-minute TTL is 1.25x): ``usage.cache_creation``'s breakdown, when given."""
    creation = getattr(usage, "cache_creation", None)
    one_hour = getattr(creation, "ephemeral_1h_input_tokens", None) if creation is not None else None
    return min(one_hour, write) if isinstance(one_hour, int) and one_hour > 0 else 0


def _cache_ttl_attrs(usage: Any, attrs: dict[str, Any]) -> None:
    creation = getattr(usage, "cache_creation", None)
    if creation is not None:
        if creation.ephemeral_5m_input_tokens:
            attrs[sc.ANTHROPIC_CACHE_CREATION_5M_INPUT_TOKENS] = creation.ephemeral_5m_input_tokens
        if creation.ephemeral_1h_input_tokens:
            attrs[sc.ANTHROPIC_CACHE_CREATION_1H_INPUT_TOKENS] = creation.ephemeral_1h_input_tokens


def message_outcome(call: LLMCall, message: Any) -> Outcome:
    """A complete `Message` (or `ParsedMessage`)."""
    out = Outcome(response_id=message.id, response_model=message.model, usage=usage_of(message.usage))
    out.finish_reasons = [message.stop_reason or "error"]
    parts: list[dict[str, Any]] = []
    for block in message.content or ():
        if block is None:  # (a malformed answer's ``null`` block: the others are recorded)
            continue
        kind = block.type
        if kind == "text":
            text = block.text or ""  # (null from some Anthropic-compatible servers)
            out.output_chars += len(text)
            if call.capture:
                parts.append({"type": "text", "content": text})
        elif kind == "tool_use":
            args = json.dumps(block.input, ensure_ascii=False)
            out.output_chars += len(args)
            out.tool_calls.append({"id": block.id, "name": block.name, "arguments": args})
            if call.capture:
                parts.append(
                    {"type": "tool_call", "id": block.id, "name": block.name, "arguments": block.input}
                )
        elif kind == "thinking" and call.capture:
            parts.append({"type": "reasoning", "content": block.thinking})
    if call.capture:
        out.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": out.finish_reasons[0]}]
    if message.usage is not None:
        _cache_ttl_attrs(message.usage, out.attributes)
    return out


class MessageStreamHandler:
    """Accumulates raw stream events. Delta usage is cumulative, so each one overwrites."""

    __slots__ = (
        "blocks",
        "call",
        "chars",
        "final_usage",
        "id",
        "model",
        "start_usage",
        "stop_reason",
        "usage",
    )

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.id: str | None = None
        self.model: str | None = None
        self.start_usage: Any = None
        self.usage: TokenUsage | None = None
        self.final_usage = False  # a message_delta's usage arrived: `usage` is no longer provisional
        self.stop_reason: str | None = None
        self.chars = 0
        self.blocks: dict[int, dict[str, Any]] = {}

    def on_chunk(self, event: Any) -> bool:
        kind = event.type
        if kind == "content_block_delta":
            if not self.call.first_content_ns:
                self.call.first_content_ns = time.perf_counter_ns()
            delta = event.delta
            block = self.blocks.setdefault(event.index, {"type": "text", "text": ""})
            try:  # (free on the per-token path unless it raises)
                dkind = delta.type
            except AttributeError:  # a malformed stream's ``null`` delta: nothing to add
                return False
            if dkind == "text_delta":
                text = delta.text or ""  # (null from some Anthropic-compatible servers)
                self.chars += len(text)
                block["text"] += text
            elif dkind == "input_json_delta":
                partial = delta.partial_json or ""
                self.chars += len(partial)
                block["arguments"] = block.get("arguments", "") + partial
            elif dkind == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + (delta.thinking or "")
        elif kind == "content_block_start":
            cb = event.content_block
            if cb is None:  # (``null`` objects in a malformed stream's events: each loses itself)
                return False
            block = {"type": cb.type, "text": getattr(cb, "text", "") or ""}
            if cb.type == "tool_use":
                block.update(id=cb.id, name=cb.name, arguments="")
            self.blocks[event.index] = block
        elif kind == "message_start":
            message = event.message
            if message is None:
                return False
            self.id, self.model, self.start_usage = message.id, message.model, message.usage
            self.usage = usage_of(message.usage)
        elif kind == "message_delta":
            if event.delta is not None:
                self.stop_reason = event.delta.stop_reason or self.stop_reason
            if event.usage is not None:  # (a compatible server may leave it out)
                self._merge_usage(event.usage)
        return False

    def _merge_usage(self, delta: Any) -> None:
        # Cumulative totals: fields present in the delta replace the message_start values.
        start = self.start_usage
        read = (
            delta.cache_read_input_tokens
            if delta.cache_read_input_tokens is not None
            else getattr(start, "cache_read_input_tokens", 0)
        )
        write = (
            delta.cache_creation_input_tokens
            if delta.cache_creation_input_tokens is not None
            else getattr(start, "cache_creation_input_tokens", 0)
        )
        base = delta.input_tokens if delta.input_tokens is not None else getattr(start, "input_tokens", 0)
        details = delta.output_tokens_details
        reasoning = getattr(details, "thinking_tokens", None) if details is not None else None
        read, write, base = read or 0, write or 0, base or 0
        self.final_usage = True
        self.usage = TokenUsage(
            input=base + read + write,
            output=delta.output_tokens or 0,
            cached=read,
            cache_write=write,
            reasoning=reasoning or (self.usage.reasoning if self.usage else 0),
            cache_write_1h=_written_for_an_hour(start, write),  # (the breakdown is message_start's)
            web_searches=_web_searches(delta) or _web_searches(start),  # (cumulative, as the rest)
        )

    def outcome(self) -> Outcome:
        out = Outcome(response_id=self.id, response_model=self.model, output_chars=self.chars)
        out.finish_reasons = [self.stop_reason or "error"]
        # Usage from message_start alone is provisional (output not final): only trust it once
        # message_delta brought its own; otherwise estimate from what was streamed.
        out.usage = self.usage if self.stop_reason and self.final_usage else None
        blocks = [block for _, block in sorted(self.blocks.items(), key=lambda item: index_order(item[0]))]
        for block in blocks:
            if block["type"] == "tool_use":
                out.tool_calls.append(
                    {
                        "id": block.get("id"),
                        "name": block.get("name"),
                        "arguments": block.get("arguments", ""),
                    }
                )
        if self.call.capture:
            parts: list[dict[str, Any]] = []
            for block in blocks:
                if block["type"] == "tool_use":
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": block.get("id"),
                            "name": block.get("name"),
                            "arguments": block.get("arguments", ""),
                        }
                    )
                elif block.get("thinking"):
                    parts.append({"type": "reasoning", "content": block["thinking"]})
                elif block.get("text"):
                    parts.append({"type": "text", "content": block["text"]})
            out.output_messages = [
                {"role": "assistant", "parts": parts, "finish_reason": out.finish_reasons[0]}
            ]
        if self.start_usage is not None:
            _cache_ttl_attrs(self.start_usage, out.attributes)
        return out


def _system_parts(system: Any) -> list[dict[str, Any]]:
    return _block_parts(system) if _given(system) and system else []


class MessagesCreate(Endpoint):
    where = "anthropic.messages"
    outcome_later = True  # `outcome` reads the response alone (the estimate, a snapshot)

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        client = instance._client
        silence(client)
        provider, server = client_facts(client, PROVIDER)
        materialize(kwargs, "messages")
        capture = settings().capture_content
        attrs = dict(server)
        for key, name in _PARAMS:
            value = kwargs.get(key)
            if _given(value) and isinstance(value, int | float) and not isinstance(value, bool):
                attrs[name] = value
        stop = kwargs.get("stop_sequences")
        if _given(stop) and stop:
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
        if self.is_stream(kwargs):
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        thinking = kwargs.get("thinking")
        if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
            attrs[sc.ANTHROPIC_REQUEST_THINKING_BUDGET] = thinking["budget_tokens"]
        if capture:
            system = _system_parts(kwargs.get("system"))
            if system:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system)
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(
                [
                    {
                        "role": _as_dict(m).get("role", "user"),
                        "parts": _block_parts(_as_dict(m).get("content")),
                    }
                    for m in kwargs.get("messages") or ()
                ]
            )
            tools = kwargs.get("tools")
            if _given(tools) and tools:
                attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(list(tools))
        model = kwargs.get("model")
        return start_call(
            operation=sc.OP_CHAT,
            provider=provider,
            request_model=model if isinstance(model, str) else "",
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=partial(_input_chars, snapshot(kwargs, "messages", "system")),
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        return message_outcome(call, result)

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        from anthropic.types import Message

        return message_outcome(call, Message.model_validate(body))

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        return MessageStreamHandler(call)


def _input_chars(kwargs: dict[str, Any]) -> int:
    system = kwargs.get("system")
    return text_chars(kwargs.get("messages")) + (text_chars(system) if _given(system) else 0)


class MessagesParse(MessagesCreate):
    where = "anthropic.messages.parse"

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return False


class MessagesStream(MessagesCreate):
    """``messages.stream()``: the request happens when the manager is entered, not at the call."""

    where = "anthropic.messages.stream"

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return True


def _stream_wrapper(endpoint: MessagesStream, is_async: bool, prefix: str) -> Any:
    """Wrap ``messages.stream()``: swap the manager's deferred request for a traced one.

    The helper calls ``_post`` directly (not ``create``), so the raw stream is intercepted where
    the manager makes its request; ``text_stream``, ``get_final_message`` and ``until_done`` all
    read that raw stream, so they are covered too. ``prefix`` names the manager class ("" or "Beta").
    """
    # Where the manager keeps its deferred request (a name-mangled attribute of its class).
    attr = f"_{prefix}{'Async' if is_async else ''}MessageStreamManager__api_request"

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not should_trace():
            return manager
        original = getattr(manager, attr, None)
        if original is None:
            return manager
        if is_async:

            async def traced_async() -> Any:
                return await run_async(endpoint, instance, kwargs, lambda: original)

            setattr(manager, attr, traced_async())
        else:
            setattr(manager, attr, lambda: run_sync(endpoint, instance, kwargs, original))
        return manager

    return wrapper


def _targets() -> list[tuple[type, str, Any]]:
    from anthropic.resources.messages.messages import AsyncMessages, Messages

    targets = _message_targets(Messages, AsyncMessages, "anthropic.messages", "")
    try:  # (the beta namespace has varied across SDK versions)
        from anthropic.resources.beta.messages.messages import AsyncMessages as AsyncBeta
        from anthropic.resources.beta.messages.messages import Messages as Beta
    except ImportError:
        return targets
    return targets + _message_targets(Beta, AsyncBeta, "anthropic.beta.messages", "Beta")


def _message_targets(sync: type, async_: type, where: str, prefix: str) -> list[tuple[type, str, Any]]:
    """(class, method, wrapper) for create/parse/stream of one ``messages`` resource, sync and async."""
    create, parse, stream = MessagesCreate(), MessagesParse(), MessagesStream()
    create.where, parse.where, stream.where = where, f"{where}.parse", f"{where}.stream"
    return [
        (sync, "create", sync_wrapper(create)),
        (async_, "create", async_wrapper(create)),
        (sync, "parse", sync_wrapper(parse)),
        (async_, "parse", async_wrapper(parse)),
        (sync, "stream", _stream_wrapper(stream, False, prefix)),
        (async_, "stream", _stream_wrapper(stream, True, prefix)),
    ]


def instrument(module: Any = None) -> None:
    """Patch the anthropic SDK (called by the registry once ``anthropic`` is imported)."""
    for owner, name, wrapper in _targets():
        patch(owner, name, wrapper)


def on_enable() -> None:
    """Before any client exists: keep the SDK's own span out (see ``_anthropic_native``)."""
    disable_native_tracing()


def on_disable() -> None:
    restore_native_tracing()
