"""Other instrumentations' shapes of the same facts, for :mod:`llmtrace.store.rows`.

OpenInference, OpenLLMetry (before and after 0.46), Logfire and the GenAI events of the official
instrumentations say what llmtrace's own spans say in other ways: messages flattened one attribute
per part, the requested model inside a JSON of parameters, a stream split into two spans, finish
reasons and exception names in each provider's words. The helpers here turn each into the form the
`spans` columns hold, so that one call gives one row whichever instrumentation traced it. Compiled
with mypyc together with ``rows`` (see hatch_build.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmtrace._internal import semconv as sc

MAX_TEXT_CHARS = 1_000_000  # the input / output column cap (llmtrace.store.rows.MAX_TEXT_CHARS)
_UINT32_MAX = 2**32 - 1
_NUMBER = (int, float)
_SEQUENCE = (list, tuple)
_CONTAINER = (list, tuple, dict)

# Operation names other dialects use for the semconv ones (OpenLLMetry's llm.request.type).
OPERATION_ALIASES = {"completion": sc.OP_TEXT_COMPLETION, "embedding": sc.OP_EMBEDDINGS}
# Finish reasons in the OTel GenAI output-message vocabulary (stop, length, content_filter,
# tool_call, error), so one call reads the same whichever provider and instrumentation sent it.
# Unknown values are kept (lowercased).
FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "completed": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_call": "tool_call",
    "tool_calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "error": "error",
}


def event_content(name: str, attributes: Mapping[str, Any], body: Any) -> tuple[str, str] | None:
    """(input, output) JSON message lists carried by a GenAI event, or None for any other record.

    ``gen_ai.client.inference.operation.details`` holds the whole call as attributes (system
    instructions, input and output messages); the older ``gen_ai.{system,user,assistant,tool}.message``
    and ``gen_ai.choice`` events hold one message each in the body. Either becomes the same OTel
    messages the span's own ``input`` / ``output`` would hold.
    """
    if name == sc.GEN_AI_INFERENCE_DETAILS_EVENT:
        input_text = _json_messages(attributes.get(sc.GEN_AI_INPUT_MESSAGES))
        system = attributes.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS)
        if system is not None and system != "":
            input_text = with_system(system, input_text)
        return input_text[:MAX_TEXT_CHARS], _json_messages(attributes.get(sc.GEN_AI_OUTPUT_MESSAGES))[
            :MAX_TEXT_CHARS
        ]
    role = sc.GEN_AI_INPUT_MESSAGE_EVENTS.get(name)
    fields = body if isinstance(body, dict) else {"content": body}
    if role is not None:
        return json.dumps([_event_message(role, fields)], ensure_ascii=False, default=str)[
            :MAX_TEXT_CHARS
        ], ""
    if name == sc.GEN_AI_CHOICE_EVENT:
        inner = fields.get("message")
        message = _event_message("assistant", inner if isinstance(inner, dict) else {})
        if fields.get("finish_reason"):
            message["finish_reason"] = normalised_finish_reason(fields["finish_reason"])
        return "", json.dumps([message], ensure_ascii=False, default=str)[:MAX_TEXT_CHARS]
    return None


def _json_messages(value: Any) -> str:
    if value is None:
        return ""
    return text(list(value) if isinstance(value, tuple) else value)


def _event_message(role: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """One message of an older per-message GenAI event body ({content, role, tool_calls, id})."""
    parts: list[dict[str, Any]] = []
    content = fields.get("content")
    if isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    elif isinstance(content, _SEQUENCE):
        parts += [p if isinstance(p, dict) else {"type": "text", "content": text(p)} for p in content]
    calls = fields.get("tool_calls")
    for call in calls if isinstance(calls, _SEQUENCE) else ():
        if isinstance(call, dict):
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id", ""),
                    "name": function.get("name", ""),
                    "arguments": function.get("arguments", ""),
                }
            )
    message: dict[str, Any] = {"role": text(fields.get("role")) or role, "parts": parts}
    if role == "tool" and fields.get("id"):
        message["id"] = fields["id"]
    return message


def flattened_messages(
    attrs: Mapping[str, Any], keys: Sequence[str], used: set[str], finish: Any
) -> tuple[str, str, str]:
    """(input JSON, output JSON, first finish reason) from messages flattened one attribute per part.

    OpenLLMetry < 0.46 sends ``gen_ai.prompt.0.role`` / ``.content`` / ``gen_ai.completion.0.finish_reason``;
    OpenInference ``llm.input_messages.0.message.role`` / ``.message.content`` /
    ``.message.contents.0.message_content.text`` and ``llm.prompts.0.prompt.text``. Both become OTel
    GenAI messages (``{"role", "parts", "finish_reason"}``), the shape llmtrace's own spans carry.
    Every key read (in ``keys``) is added to ``used``; embedding vectors are dropped as data. ``finish``,
    the span's finish reason (OpenInference's ``llm.finish_reason``), goes on the first output message.
    """
    prompts: dict[int, dict[str, Any]] = {}
    completions: dict[int, dict[str, Any]] = {}
    for key in keys:
        if key.startswith(sc.GEN_AI_PROMPT_PREFIX):
            target, rest = prompts, key[len(sc.GEN_AI_PROMPT_PREFIX) :]
        elif key.startswith(sc.GEN_AI_COMPLETION_PREFIX):
            target, rest = completions, key[len(sc.GEN_AI_COMPLETION_PREFIX) :]
        elif key.startswith(sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX):
            target, rest = prompts, key[len(sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX) :]
        elif key.startswith(sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX):
            target, rest = completions, key[len(sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX) :]
        elif key.startswith(sc.OPENINFERENCE_PROMPTS_PREFIX):
            target, rest = prompts, key[len(sc.OPENINFERENCE_PROMPTS_PREFIX) :]
        else:
            if key.startswith(sc.OPENINFERENCE_EMBEDDINGS_PREFIX) and key.endswith(".vector"):
                used.add(key)
            continue
        index, _, part = rest.partition(".")
        if index.isdigit() and part:
            target.setdefault(int(index), {})[part.removeprefix("message.").removeprefix("prompt.")] = attrs[
                key
            ]
            used.add(key)
    first_finish = ""
    if completions:
        first = completions[min(completions)]
        first_finish = text(first.get("finish_reason"))
        if not first_finish and finish is not None:
            first["finish_reason"] = finish
    return (
        _messages_json(prompts, "user", False),
        _messages_json(completions, "assistant", True),
        first_finish,
    )


# Roles in other words -> the GenAI conventions' (Gemini names the assistant ``model``, as the SDK's
# google-genai integration records it too).
_ROLES = {"model": "assistant"}


def _messages_json(messages: dict[int, dict[str, Any]], default_role: str, with_finish: bool) -> str:
    if not messages:
        return ""
    out: list[dict[str, Any]] = []
    for index in sorted(messages):
        fields = messages[index]
        parts: list[dict[str, Any]] = []
        content = fields.get("content", fields.get("text"))
        if content is not None and content != "":
            parts.append({"type": "text", "content": content})
        pieces: dict[int, Any] = {}  # OpenInference: contents.N.message_content.text
        calls: dict[int, dict[str, Any]] = {}  # tool_calls.N.(tool_call.)(function.)name / arguments / id
        for name, value in fields.items():
            head, _, tail = name.partition(".")
            number, _, leaf = tail.partition(".")
            if not number.isdigit():
                continue
            if head == "contents" and leaf == "message_content.text":
                pieces[int(number)] = value
            elif head == "tool_calls":
                leaf = leaf.removeprefix("tool_call.").removeprefix("function.")
                calls.setdefault(int(number), {})[leaf] = value
        parts += [{"type": "text", "content": pieces[i]} for i in sorted(pieces)]
        for i in sorted(calls):
            call = calls[i]
            part = {"type": "tool_call", "name": call.get("name", "")}
            if "id" in call:
                part["id"] = call["id"]
            if "arguments" in call:
                part["arguments"] = call["arguments"]
            parts.append(part)
        role = text(fields.get("role")) or default_role
        message: dict[str, Any] = {"role": _ROLES.get(role, role), "parts": parts}
        if with_finish and fields.get("finish_reason"):
            message["finish_reason"] = normalised_finish_reason(fields["finish_reason"])
        out.append(message)
    return json.dumps(out, ensure_ascii=False, default=str)


def with_system(system: Any, input_text: str) -> str:
    """``input`` with the system instructions (``gen_ai.system_instructions``) as its first message.

    Users read and search the system prompt with the rest of the input; the semconv keeps it in
    an attribute of its own, as a list of parts.
    """
    parts: Any = system
    if isinstance(system, str):
        try:
            parts = json.loads(system)
        except ValueError:
            parts = system
    if isinstance(parts, str):
        parts = [{"type": "text", "content": parts}]
    elif isinstance(parts, dict):
        parts = [parts]
    elif not isinstance(parts, _SEQUENCE):
        parts = [{"type": "text", "content": text(parts)}]
    first: dict[str, Any] = {"role": "system", "parts": list(parts)}
    if not input_text:
        return json.dumps([first], ensure_ascii=False, default=str)
    try:
        messages = json.loads(input_text)
    except ValueError:
        messages = None
    if not isinstance(messages, list):
        messages = [{"role": "user", "parts": [{"type": "text", "content": input_text}]}]
    elif messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        return input_text  # the sender already put it first
    return json.dumps([first, *messages], ensure_ascii=False, default=str)


def normalised_finish_reason(value: Any) -> str:
    """Finish reasons (a list, a JSON list as sent by Logfire, or one string) in one vocabulary."""
    if type(value) is list and len(value) == 1:  # the usual one choice: a single dict probe
        known = FINISH_REASONS.get(value[0])
        if known is not None:
            return known
    if type(value) is str and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, _SEQUENCE):
        return ",".join([_finish_name(text(v)) for v in value])
    return _finish_name(text(value))


def _finish_name(reason: str) -> str:
    known = FINISH_REASONS.get(reason)
    if known is not None:
        return known
    lowered = reason.lower().rpartition(".")[2]  # also google's "FinishReason.STOP"
    return FINISH_REASONS.get(lowered, lowered)


def error_type_name(error_type: str) -> str:
    """The exception's class name, as llmtrace's own spans record it.

    The official instrumentation sends ``"<class 'openai.RateLimitError'>"``, OpenInference and
    Logfire ``openai.RateLimitError`` (from the exception event); grouping needs one spelling.
    HTTP status codes and ``_OTHER`` are kept as they are.
    """
    if error_type.startswith("<class '") and error_type.endswith("'>"):
        error_type = error_type[8:-2]
    module, dot, name = error_type.rpartition(".")
    if dot and module and name[:1].isupper() and name.isidentifier():
        return name
    return error_type


def invocation_model(attrs: Mapping[str, Any]) -> str:
    """The requested model from OpenInference's invocation parameters (JSON), or ''."""
    for key in sc.LLM_INVOCATION_PARAMETERS_NAMES:
        value = attrs.get(key)
        if type(value) is str and value:
            try:
                params = json.loads(value)
            except ValueError:
                continue
            if isinstance(params, dict) and isinstance(params.get("model"), str):
                return str(params["model"])
    return ""


def openinference_operation(kind: str, keys: Sequence[str]) -> str:
    if kind == sc.KIND_EMBEDDING:
        return sc.OP_EMBEDDINGS
    if any(key.startswith(sc.OPENINFERENCE_PROMPTS_PREFIX) for key in keys):
        return sc.OP_TEXT_COMPLETION
    return sc.OP_CHAT


def raw_usage(raw: Any) -> tuple[int | None, int, int]:
    """(reasoning tokens or None, 1-hour cache-write tokens, web searches) from a provider's usage
    object (Logfire's ``gen_ai.usage.raw``, a JSON string or a map): what no GenAI attribute carries.

    Reasoning: OpenAI's ``completion_tokens_details`` / ``output_tokens_details``. Anthropic's
    ``cache_creation.ephemeral_1h_input_tokens`` (cache writes kept an hour, at twice the input
    rate where the 5-minute ones cost 1.25 times) and ``server_tool_use.web_search_requests``
    ($10 per 1,000): without them a call that used either is priced at a fraction of its cost.
    """
    if raw is None:
        return None, 0, 0
    if type(raw) is str:
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, 0, 0
    if not isinstance(raw, dict):
        return None, 0, 0
    reasoning = None
    for details in ("completion_tokens_details", "output_tokens_details"):
        reasoning = _count_in(raw.get(details), "reasoning_tokens")
        if reasoning is not None:
            break
    cache_write_1h = _count_in(raw.get("cache_creation"), "ephemeral_1h_input_tokens") or 0
    web_searches = _count_in(raw.get("server_tool_use"), "web_search_requests") or 0
    return reasoning, cache_write_1h, web_searches


def _count_in(part: Any, name: str) -> int | None:
    """``part[name]`` when ``part`` is a map and the value a count (a non-negative UInt32)."""
    if not isinstance(part, dict):
        return None
    value = part.get(name)
    return value if type(value) is int and 0 <= value <= _UINT32_MAX else None


def first_token_ms(
    events: Sequence[tuple[str, Mapping[str, Any]]], times: Sequence[int], start_ns: int
) -> float | None:
    """Milliseconds from the span's start to OpenInference's first-token event, if it has one."""
    for (name, _), at in zip(events, times, strict=False):
        if name == sc.OPENINFERENCE_FIRST_TOKEN_EVENT and at >= start_ns:
            return (at - start_ns) / 1e6
    return None


def logfire_call(
    start_ns: int,
    end_ns: int,
    attrs: Mapping[str, Any],
    kind: str,
    status: str,
    input_tokens: int | None,
    output_tokens: int | None,
    output_text: str,
) -> tuple[int, str]:
    """(start ns, kind) of a Logfire LLM span: one streamed call is one row, with its real latency.

    Logfire records a stream as a request span (no usage, no response) and, when the stream ends,
    a zero-length ``log`` span with the usage, output and ``duration`` (seconds). The log becomes
    the call, starting ``duration`` before its end; the request half becomes a plain span.
    """
    span_type = attrs.get(sc.LOGFIRE_SPAN_TYPE)
    if span_type == "log":
        duration = attrs.get(sc.LOGFIRE_DURATION)
        if isinstance(duration, _NUMBER) and not isinstance(duration, bool) and 0 <= duration < 86400:
            start = end_ns - int(duration * 1e9)
            if start > 0:
                return start, kind
        return start_ns, kind
    if (
        span_type == "span"
        and status == sc.STATUS_OK
        and input_tokens is None
        and output_tokens is None
        and not output_text
        and sc.GEN_AI_RESPONSE_ID not in attrs
    ):
        return start_ns, sc.KIND_SPAN
    return start_ns, kind


def text(value: Any) -> str:
    """An attribute value as column text: strings as they are, containers as JSON."""
    if type(value) is str:  # first: almost every call
        return value
    if value is None:
        return ""
    if isinstance(value, _CONTAINER):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
