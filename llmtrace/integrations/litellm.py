"""LiteLLM integration: ``litellm.completion`` and ``litellm.acompletion``, streaming or not.

One span per call, whatever LiteLLM calls underneath: while the LiteLLM span is current, an
instrumented SDK it uses (openai for OpenAI-compatible models, ...) passes through untraced (the
shared "inside an LLM call" flag), and the span records LiteLLM's response, which carries the
provider's own usage in OpenAI's shape (cached and reasoning token details included).

The provider is LiteLLM's (``litellm.get_llm_provider``: ``anthropic/claude-...`` -> ``anthropic``),
recorded with its OTel GenAI name (``gcp.gemini``, ``aws.bedrock``, ``azure.ai.openai``, ...);
the request model is the one without its provider prefix, so cost is looked up under the right
provider. Patched: the ``litellm`` module's attributes, so ``litellm.completion(...)`` is traced; a
``from litellm import completion`` made before ``instrument()`` keeps the unpatched function.
"""

from __future__ import annotations

from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace.integrations import _openai_parts as parts
from llmtrace.integrations._common import (
    LLMCall,
    Outcome,
    framework_provider,
    patch,
    should_trace,
    start_call,
    text_chars,
)
from llmtrace.integrations._streams import StreamHandler
from llmtrace.integrations._wrappers import Endpoint, run_async, run_sync

# LiteLLM's provider names -> gen_ai.provider.name (OTel well-known names where there is one).
_PARAMS = (
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("seed", sc.GEN_AI_REQUEST_SEED),
    ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("n", sc.GEN_AI_REQUEST_CHOICE_COUNT),
)


def _provider_and_model(request: dict[str, Any]) -> tuple[str, str]:
    model = request.get("model")
    if not isinstance(model, str):
        return "litellm", ""
    try:
        import litellm

        bare, provider, _, _ = litellm.get_llm_provider(
            model=model,
            custom_llm_provider=request.get("custom_llm_provider"),
            api_base=request.get("api_base"),
        )
    except Exception:  # an unknown model: LiteLLM will raise its own error for the call
        provider, _, bare = model.partition("/") if "/" in model else ("litellm", "", model)
    return framework_provider(provider), bare


def _parts_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    out: list[dict[str, Any]] = []
    for block in content or ():
        if isinstance(block, dict) and block.get("type") == "text":
            out.append({"type": "text", "content": block.get("text", "")})
        elif isinstance(block, dict):
            out.append({"type": str(block.get("type") or "blob")})
    return out


def _messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI-format messages -> (system parts, OTel GenAI input messages)."""
    system: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for message in messages or ():
        if not isinstance(message, dict):
            message = dict(getattr(message, "__dict__", {}) or {})
        role = message.get("role") or "user"
        if role in ("system", "developer"):
            system += _parts_of(message.get("content"))
            continue
        parts_ = _parts_of(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts_.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
        if role == "tool":
            parts_ = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        inputs.append({"role": role, "parts": parts_})
    return system, inputs


class _Stream(parts.ChatStream):
    """OpenAI's chunk accumulator (and its outcome), reading LiteLLM's chunks, whose fields are
    present only when set (no ``usage`` before the usage chunk, no ``refusal``)."""

    __slots__ = ()
    chunks = None  # type: ignore[assignment]  # every chunk through `on_chunk` below
    outcome_later = False  # its call's input estimate reads the request's messages as they are then

    def on_chunk(self, chunk: Any) -> bool:
        if self.id is None:
            self.id, self.model = getattr(chunk, "id", None), getattr(chunk, "model", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        for choice in getattr(chunk, "choices", None) or ():
            index = getattr(choice, "index", 0) or 0
            delta = getattr(choice, "delta", None)
            texts = self.texts.setdefault(index, [])
            text = getattr(delta, "content", None)
            if text:
                self._content()
                texts.append(text)
            tool_calls = getattr(delta, "tool_calls", None)
            if tool_calls:
                self._tool_deltas(index, tool_calls)
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish[index] = reason
        return False

    def outcome(self) -> Outcome:
        return _with_cache_writes(super().outcome(), self.usage)


def _with_cache_writes(out: Outcome, usage: Any) -> Outcome:
    """LiteLLM reports cache writes (Anthropic, Bedrock) as ``cache_creation_input_tokens``."""
    written = getattr(usage, "cache_creation_input_tokens", None)
    if out.usage is not None and not out.usage.cache_write and isinstance(written, int):
        out.usage.cache_write = written
    return out


class Completion(Endpoint):
    where = "litellm.completion"

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        provider, model = _provider_and_model(kwargs)
        config = settings()
        capture = config.capture_content
        attrs: dict[str, Any] = {}
        for key, name in _PARAMS:
            value = kwargs.get(key)
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and not (key == "n" and value == 1)
            ):
                attrs[name] = value
        stop = kwargs.get("stop")
        if stop:
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (
                [stop] if isinstance(stop, str) else [str(s) for s in stop]
            )
        if self.is_stream(kwargs):
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        base = kwargs.get("api_base") or kwargs.get("base_url")
        if isinstance(base, str) and "://" in base:
            host = base.split("://", 1)[1].split("/", 1)[0]
            attrs[sc.SERVER_ADDRESS] = host.split(":", 1)[0]
        if capture:
            system, inputs = _messages(kwargs.get("messages"))
            if system:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system, config)
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(inputs, config)
            tools = kwargs.get("tools")
            if tools:
                attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(list(tools), config)
        return start_call(
            operation=sc.OP_CHAT,
            provider=provider,
            request_model=model,
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=lambda: text_chars(kwargs.get("messages")),
            config=config,
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        return _with_cache_writes(parts.chat_outcome(call, result), getattr(result, "usage", None))

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        raise NotImplementedError  # LiteLLM returns parsed responses only

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        return _Stream(call, hide_usage=False)


_ENDPOINT = Completion()


def _request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by name (``completion(model, messages, ...)`` may be positional)."""
    if not args:
        return kwargs
    named = dict(zip(("model", "messages"), args, strict=False))
    return {**named, **kwargs}


def _completion(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not should_trace():
        return wrapped(*args, **kwargs)
    return run_sync(_ENDPOINT, instance, _request(args, kwargs), lambda: wrapped(*args, **kwargs))


async def _acompletion(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not should_trace():
        return await wrapped(*args, **kwargs)
    return await run_async(_ENDPOINT, instance, _request(args, kwargs), lambda: wrapped(*args, **kwargs))


def instrument() -> None:
    """Patch ``litellm.completion`` / ``acompletion`` (called once ``litellm`` is imported)."""
    import litellm

    patch(litellm, "completion", _completion)  # type: ignore[arg-type]
    patch(litellm, "acompletion", _acompletion)  # type: ignore[arg-type]
