"""OpenAI integration: chat completions, responses, embeddings and legacy completions, sync and async.

Patched methods (class attributes, so clients created before ``instrument()`` are traced too):
``chat.completions.create/parse`` (``.stream()`` goes through ``create``), ``responses.create/parse``
(``.stream()`` goes through ``create``), ``embeddings.create``, ``completions.create``. The
provider comes from the client's base URL (``azure.ai.openai``, ``groq``, ``deepseek``,
``together``, ``openrouter``, ``ollama``, ``vllm``, ... else ``openai``): an OpenAI-compatible
server reached with ``base_url`` is recorded and priced as itself.

Stream usage: OpenAI reports usage on chat/completions streams only when asked
(``stream_options.include_usage``); compatible servers send it on the last chunk (Together,
DeepSeek, OpenRouter), as ``x_groq.usage`` (Groq) or, like OpenAI, when asked (vLLM, Ollama).
Whatever the server sends is recorded. With ``openai_stream_usage`` on
(``LLMTRACE_OPENAI_STREAM_USAGE``), llmtrace asks for it when the caller did not, of the servers
known to accept the option (`_ACCEPT_STREAM_USAGE`), and hides the extra usage-only chunk from
the caller. Otherwise usage is estimated (``llmtrace.usage.source=estimated``).
"""

from __future__ import annotations

from functools import partial
from json.encoder import encode_basestring as _json_str  # a JSON string literal (ensure_ascii=False)
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import Settings, settings
from llmtrace._internal.content import capture_json, capture_text, text_json
from llmtrace.integrations import _openai_parts as parts
from llmtrace.integrations._common import (
    LLMCall,
    Outcome,
    client_facts,
    materialize,
    patch,
    snapshot,
    start_call,
    text_chars,
)
from llmtrace.integrations._streams import StreamHandler
from llmtrace.integrations._wrappers import Endpoint, async_wrapper, sync_wrapper

PROVIDER = "openai"
# Servers that accept ``stream_options.include_usage`` (others, e.g. older Azure API versions, may
# reject a request that carries it).
_ACCEPT_STREAM_USAGE = frozenset({PROVIDER, "deepseek", "groq", "together", "fireworks", "vllm", "ollama"})

# Numeric request parameters -> attribute. The max-token family is read in `_rare_request_attrs`.
_NUMERIC = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
}
# Highest priority first: a newer name wins when a caller passes several.
_MAX_TOKENS = ("max_output_tokens", "max_completion_tokens", "max_tokens")
# Parameters most calls do not pass; the kwargs scan notes whether any is present.
_RARE = frozenset(
    {
        *_MAX_TOKENS,
        "stop",
        "n",
        "service_tier",
        "encoding_format",
        "response_format",
        "text",
        "text_format",
    }
)

_SENTINELS = frozenset({"Omit", "NotGiven"})


def _given(value: Any) -> bool:
    """False for None and the SDK's ``omit``/``NOT_GIVEN`` sentinels (frameworks pass them explicitly)."""
    return value is not None and type(value).__name__ not in _SENTINELS


def _number(value: Any) -> bool:
    # (a sentinel is neither int nor float)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _request_attrs(kwargs: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Request-parameter attributes: one pass over the (few) kwargs the caller actually passed."""
    attrs = dict(base)
    rare = False
    for key, value in kwargs.items():
        name = _NUMERIC.get(key)
        if name is not None:
            if _number(value):
                attrs[name] = value
        elif key in _RARE:
            rare = True
    if kwargs.get("stream") is True:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if rare:
        _rare_request_attrs(kwargs, attrs)
    return attrs


def _rare_request_attrs(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    for key in _MAX_TOKENS:
        value = kwargs.get(key)
        if _number(value):
            attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    stop: Any = kwargs.get("stop")
    if _given(stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    n = kwargs.get("n")
    if _given(n) and isinstance(n, int) and n != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    tier = kwargs.get("service_tier")
    if _given(tier) and tier != "auto":
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = str(tier)
    fmt = kwargs.get("encoding_format")
    if _given(fmt):
        attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [str(fmt)]
    output_type = _output_type(kwargs)
    if output_type:
        attrs[sc.GEN_AI_OUTPUT_TYPE] = output_type


def _output_type(kwargs: dict[str, Any]) -> str | None:
    fmt = kwargs.get("response_format")
    if not _given(fmt):
        text = kwargs.get("text")
        fmt = text.get("format") if isinstance(text, dict) else kwargs.get("text_format")
    if not _given(fmt):
        return None
    if isinstance(fmt, dict):
        return "text" if fmt.get("type") == "text" else "json"
    return "json"  # a pydantic model / JSON schema type (`parse`)


def _chat_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI chat messages -> (system instruction parts, OTel input messages)."""
    system: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for message in messages or ():
        m = message if isinstance(message, dict) else _as_dict(message)
        role = m.get("role", "user")
        msg_parts = _content_parts(m.get("content"))
        for tc in m.get("tool_calls") or ():
            tc = tc if isinstance(tc, dict) else _as_dict(tc)
            fn = tc.get("function") or {}
            msg_parts.append(
                {
                    "type": "tool_call",
                    "id": tc.get("id"),
                    "name": fn.get("name"),
                    "arguments": fn.get("arguments"),
                }
            )
        if role == "tool":
            msg_parts = [
                {"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")}
            ]
        if role in ("system", "developer"):
            system.extend(msg_parts)
        else:
            inputs.append({"role": role, "parts": msg_parts})
    return system, inputs


def _plain_chat_json(messages: Any) -> tuple[str, str] | None:
    """`_chat_messages` as JSON text, built directly, for the common shape; None for any other.

    The common shape is a list of dicts with a string role and string content and nothing else
    that `_chat_messages` reads (no tool calls, not a tool result). The text is exactly what
    ``json.dumps`` of `_chat_messages`' result gives, without building the intermediate dicts.
    """
    if type(messages) is not list:
        return None
    system: list[str] = []
    inputs: list[str] = []
    for m in messages:
        if type(m) is not dict or "tool_calls" in m:
            return None
        role = m.get("role", "user")
        content = m.get("content")
        if type(role) is not str or type(content) is not str or role == "tool":
            return None
        part = '{"type": "text", "content": ' + text_json(content) + "}"
        if role == "system" or role == "developer":
            system.append(part)
        else:
            inputs.append('{"role": ' + _json_str(role) + ', "parts": [' + part + "]}")
    return ("[" + ", ".join(system) + "]" if system else ""), "[" + ", ".join(inputs) + "]"


def _as_dict(obj: Any) -> dict[str, Any]:
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else {}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    result: list[dict[str, Any]] = []
    for part in content:
        p = part if isinstance(part, dict) else _as_dict(part)
        kind = p.get("type")
        if kind in ("text", "input_text", "output_text"):
            result.append({"type": "text", "content": p.get("text", "")})
        elif kind in ("image_url", "input_image"):
            url = p.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            result.append({"type": "uri", "modality": "image", "uri": url or p.get("file_id")})
        else:
            result.append({"type": "generic", "kind": kind})
    return result


def _responses_input(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    messages: list[dict[str, Any]] = []
    for item in value or ():
        it = item if isinstance(item, dict) else _as_dict(item)
        kind = it.get("type", "message")
        if kind == "message":
            messages.append({"role": it.get("role", "user"), "parts": _content_parts(it.get("content"))})
        elif kind == "function_call":
            part = {
                "type": "tool_call",
                "id": it.get("call_id"),
                "name": it.get("name"),
                "arguments": it.get("arguments"),
            }
            messages.append({"role": "assistant", "parts": [part]})
        elif kind == "function_call_output":
            part = {"type": "tool_call_response", "id": it.get("call_id"), "response": it.get("output")}
            messages.append({"role": "tool", "parts": [part]})
    return messages


class _OpenAIEndpoint(Endpoint):
    """Common start logic; subclasses say which operation and how to read request content."""

    operation = sc.OP_CHAT
    kind = sc.KIND_LLM
    api_type = "chat_completions"
    input_key = "messages"

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        provider, server = client_facts(instance._client, PROVIDER)
        materialize(kwargs, self.input_key)
        config = settings()
        capture = config.capture_content
        attrs = _request_attrs(kwargs, server)
        attrs[sc.OPENAI_API_TYPE] = self.api_type
        if capture:
            self.capture_request(kwargs, attrs, config)
        injected = self.adjust(kwargs, provider, config.openai_stream_usage)
        model = kwargs.get("model")
        call = start_call(
            operation=self.operation,
            provider=provider,
            request_model=model if isinstance(model, str) else "",
            kind=self.kind,
            attributes=attrs,
            capture=capture,
            estimate_input=partial(self.input_chars, snapshot(kwargs, self.input_key)),
            config=config,
        )
        call.injected_usage = injected
        return call

    def input_chars(self, kwargs: dict[str, Any]) -> int:
        return text_chars(kwargs.get(self.input_key))

    def capture_request(self, kwargs: dict[str, Any], attrs: dict[str, Any], config: Settings) -> None:
        messages = kwargs.get("messages")
        plain = _plain_chat_json(messages)
        if plain is not None:
            system_json, inputs_json = plain
            if system_json:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_text(system_json, config)
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_text(inputs_json, config)
        else:
            system, inputs = _chat_messages(messages)
            if system:
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system, config)
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(inputs, config)
        _capture_tools(kwargs, attrs, config)

    def adjust(self, kwargs: dict[str, Any], provider: str, stream_usage: bool) -> bool:
        """Ask a stream for usage when configured (see module docstring); True if we did."""
        if not (stream_usage and provider in _ACCEPT_STREAM_USAGE and kwargs.get("stream") is True):
            return False
        options = kwargs.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        if "include_usage" in options:
            return False  # the caller decided
        options["include_usage"] = True
        kwargs["stream_options"] = options
        return True

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        # Only a usage chunk we asked for is hidden; one the caller asked for is theirs.
        text_mode = self.api_type == "completions"
        framework = call.framework
        if framework is not None and framework.records_answer:  # LangChain builds the answer
            return parts.ChatStreamWatch(call, hide_usage=call.injected_usage, text_mode=text_mode)
        return parts.ChatStream(call, hide_usage=call.injected_usage, text_mode=text_mode)


def _capture_tools(kwargs: dict[str, Any], attrs: dict[str, Any], config: Settings) -> None:
    tools = kwargs.get("tools")
    if _given(tools) and tools:
        attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(list(tools), config)


class ChatCreate(_OpenAIEndpoint):
    where = "openai.chat"
    outcome_later = True  # `outcome` reads the response alone (the estimate, a snapshot)

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        return parts.chat_outcome(call, result)

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        from openai.types.chat import ChatCompletion

        return parts.chat_outcome(call, ChatCompletion.model_validate(body))


class ChatParse(ChatCreate):
    where = "openai.chat.parse"

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return False


class CompletionsCreate(_OpenAIEndpoint):
    where = "openai.completions"
    operation = sc.OP_TEXT_COMPLETION
    api_type = "completions"
    input_key = "prompt"

    def capture_request(self, kwargs: dict[str, Any], attrs: dict[str, Any], config: Settings) -> None:
        prompt = kwargs.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
        attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(
            [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts], config
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        return parts.completion_outcome(call, result)

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        from openai.types import Completion

        return parts.completion_outcome(call, Completion.model_validate(body))


class ResponsesCreate(_OpenAIEndpoint):
    where = "openai.responses"
    api_type = "responses"
    input_key = "input"

    def input_chars(self, kwargs: dict[str, Any]) -> int:
        instructions = kwargs.get("instructions")
        return text_chars(kwargs.get("input")) + (len(instructions) if isinstance(instructions, str) else 0)

    def capture_request(self, kwargs: dict[str, Any], attrs: dict[str, Any], config: Settings) -> None:
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str) and instructions:
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(
                [{"type": "text", "content": instructions}], config
            )
        attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(_responses_input(kwargs.get("input")), config)
        _capture_tools(kwargs, attrs, config)

    def adjust(self, kwargs: dict[str, Any], provider: str, stream_usage: bool) -> bool:
        return False  # Responses streams always end with the full response, usage included

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        return parts.responses_outcome(call, result)

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        from openai.types.responses import Response

        return parts.responses_outcome(call, Response.model_validate(body))

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        return parts.ResponsesStream(call)


class ResponsesParse(ResponsesCreate):
    where = "openai.responses.parse"

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return False


class EmbeddingsCreate(_OpenAIEndpoint):
    where = "openai.embeddings"
    operation = sc.OP_EMBEDDINGS
    kind = sc.KIND_EMBEDDING
    api_type = "embeddings"
    input_key = "input"

    def capture_request(self, kwargs: dict[str, Any], attrs: dict[str, Any], config: Settings) -> None:
        value = kwargs.get("input")
        texts = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
        attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(
            [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts], config
        )

    def adjust(self, kwargs: dict[str, Any], provider: str, stream_usage: bool) -> bool:
        return False

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        usage = result.usage
        token_usage = None
        if usage is not None:
            token_usage = parts.TokenUsage(input=usage.prompt_tokens or 0)
        return Outcome(response_model=result.model, usage=token_usage)

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        from openai.types import CreateEmbeddingResponse

        return self.outcome(call, CreateEmbeddingResponse.model_validate(body))


def _targets() -> list[tuple[type, str, Any]]:
    from openai.resources.chat.completions.completions import AsyncCompletions as AsyncChat
    from openai.resources.chat.completions.completions import Completions as Chat
    from openai.resources.completions import AsyncCompletions, Completions
    from openai.resources.embeddings import AsyncEmbeddings, Embeddings
    from openai.resources.responses.responses import AsyncResponses, Responses

    chat, chat_parse = ChatCreate(), ChatParse()
    responses, responses_parse = ResponsesCreate(), ResponsesParse()
    embeddings, completions = EmbeddingsCreate(), CompletionsCreate()
    return [
        (Chat, "create", sync_wrapper(chat)),
        (AsyncChat, "create", async_wrapper(chat)),
        (Chat, "parse", sync_wrapper(chat_parse)),
        (AsyncChat, "parse", async_wrapper(chat_parse)),
        (Responses, "create", sync_wrapper(responses)),
        (AsyncResponses, "create", async_wrapper(responses)),
        (Responses, "parse", sync_wrapper(responses_parse)),
        (AsyncResponses, "parse", async_wrapper(responses_parse)),
        (Embeddings, "create", sync_wrapper(embeddings)),
        (AsyncEmbeddings, "create", async_wrapper(embeddings)),
        (Completions, "create", sync_wrapper(completions)),
        (AsyncCompletions, "create", async_wrapper(completions)),
    ]


def instrument(module: Any = None) -> None:
    """Patch the openai SDK (called by the registry once ``openai`` is imported)."""
    for owner, name, wrapper in _targets():
        patch(owner, name, wrapper)
