"""Amazon Bedrock integration: boto3 ``bedrock-runtime`` ``converse``, ``converse_stream``,
``invoke_model`` and ``invoke_model_with_response_stream``.

boto3 builds its client classes at run time, so the one place every client goes through is
patched: ``botocore.client.BaseClient._make_api_call``, for the ``bedrock-runtime`` service only
(any other AWS call passes straight through after one string comparison).

Provider ``aws.bedrock``; the model is the ``modelId`` (a foundation model id such as
``anthropic.claude-3-haiku-20240307-v1:0`` or a cross-region profile ``us.anthropic...``), priced
by genai-prices under ``aws``. Token semantics: Converse's ``inputTokens`` excludes the cache, so
input is ``inputTokens + cacheReadInputTokens + cacheWriteInputTokens`` (cache reads and writes
recorded as their subsets). ``converse_stream``'s event stream is wrapped (the caller iterates it
as before); usage comes from its ``metadata`` event. ``invoke_model`` bodies are read per model
family — Anthropic (Messages API), Amazon Nova (Converse's shape), Meta Llama, Amazon Titan Text,
and the OpenAI-style ``choices`` of gpt-oss and DeepSeek — and handed back to the caller as an
unread body with the same bytes; a family whose body has no usage (or is not read here) takes the
token counts Bedrock sends in every answer's ``x-amzn-bedrock-*-token-count`` headers.
``invoke_model_with_response_stream``'s event stream is wrapped like Converse's, its chunks read
per family (usage from the family's own stream events, else from the
``amazon-bedrock-invocationMetrics`` Bedrock adds to the last chunk).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import (
    LLMCall,
    Outcome,
    TokenUsage,
    endpoint_facts,
    patch,
    should_trace,
    start_call,
)
from llmtrace.integrations._streams import SyncStreamProxy
from llmtrace.integrations._wrappers import Endpoint, _attach, _detach, _fail

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"
_OPERATIONS = {
    "Converse": False,
    "ConverseStream": True,
    "InvokeModel": False,
    "InvokeModelWithResponseStream": True,
}
_INFERENCE = (
    ("maxTokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("topP", sc.GEN_AI_REQUEST_TOP_P),
)
# invoke_model request bodies: field -> attribute, across the model families' own names.
_BODY_PARAMS = (
    ("max_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_gen_len", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("maxTokenCount", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_new_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", sc.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", sc.GEN_AI_REQUEST_TOP_P),
    ("topP", sc.GEN_AI_REQUEST_TOP_P),
    ("top_k", sc.GEN_AI_REQUEST_TOP_K),
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _converse_parts(content: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in content or ():
        if not isinstance(block, dict):  # a ``null`` block in a malformed body: the rest is recorded
            continue
        if "text" in block:
            out.append({"type": "text", "content": block["text"] or ""})
        elif "toolUse" in block:
            use = block["toolUse"]
            out.append(
                {
                    "type": "tool_call",
                    "id": use.get("toolUseId"),
                    "name": use.get("name"),
                    "arguments": use.get("input"),
                }
            )
        elif "toolResult" in block:
            result = block["toolResult"]
            out.append(
                {
                    "type": "tool_call_response",
                    "id": result.get("toolUseId"),
                    "response": result.get("content"),
                }
            )
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text", "")
            out.append({"type": "reasoning", "content": text})
        else:
            out.append({"type": next(iter(block), "blob")})
    return out


def _with_cache(usage: dict[str, Any], uncached: str, output: str, cached: str, written: str) -> TokenUsage:
    """Usage whose input count (key ``uncached``) excludes the cache: input is all of it, with the
    cache reads and writes as its subsets (OTel meaning)."""
    reads = int(usage.get(cached) or 0)
    writes = int(usage.get(written) or 0)
    return TokenUsage(
        input=int(usage.get(uncached) or 0) + reads + writes,
        output=int(usage.get(output) or 0),
        cached=reads,
        cache_write=writes,
    )


def converse_usage(usage: Any) -> TokenUsage | None:
    """Converse's usage, or Amazon Nova's in ``invoke_model`` (its cache counts named ``...Count``)."""
    if not isinstance(usage, dict):
        return None
    if "cacheReadInputTokenCount" in usage or "cacheWriteInputTokenCount" in usage:
        return _with_cache(
            usage, "inputTokens", "outputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount"
        )
    return _with_cache(usage, "inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")


def _anthropic_usage(usage: dict[str, Any]) -> TokenUsage:
    """The Anthropic Messages API's usage (its ``input_tokens`` exclude the cache)."""
    return _with_cache(
        usage, "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"
    )


def _finish(
    call: LLMCall, parts: list[dict[str, Any]], reason: str | None, usage: TokenUsage | None
) -> Outcome:
    out = Outcome(usage=usage, finish_reasons=[reason or "error"])
    out.tool_calls = [
        {"id": p["id"], "name": p["name"], "arguments": p["arguments"]}
        for p in parts
        if p["type"] == "tool_call"
    ]
    out.output_chars = sum(len(p["content"]) for p in parts if p["type"] == "text") + sum(
        len(json.dumps(t["arguments"])) for t in out.tool_calls if t["arguments"] is not None
    )
    if call.capture:
        out.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason or "error"}]
    return out


class _Request(Endpoint):
    """A Bedrock operation: start from the API parameters; outcomes per operation below."""

    where = "bedrock"

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        _, facts = endpoint_facts(str(instance.meta.endpoint_url), PROVIDER)
        attrs = dict(facts)
        config = settings()
        capture = config.capture_content
        if self.operation.startswith("InvokeModel"):
            body = _json_body(kwargs.get("body"))
            config_of_family = body.get("textGenerationConfig") or body.get("inferenceConfig") or {}
            for key, name in _BODY_PARAMS:
                value = body.get(
                    key, config_of_family.get(key) if isinstance(config_of_family, dict) else None
                )
                if _number(value):
                    attrs[name] = value
            if capture:
                attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(_body_messages(body), config)
                system = body.get("system")
                if isinstance(system, str):
                    attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(
                        [{"type": "text", "content": system}], config
                    )
                elif isinstance(system, list):  # Amazon Nova: ``[{"text": ...}]``
                    parts = [{"type": "text", "content": s["text"]} for s in system if "text" in s]
                    attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(parts, config)
        else:
            inference = kwargs.get("inferenceConfig") or {}
            for key, name in _INFERENCE:
                if _number(inference.get(key)):
                    attrs[name] = inference[key]
            if inference.get("stopSequences"):
                attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in inference["stopSequences"]]
            if capture:
                system = [
                    {"type": "text", "content": s["text"]} for s in kwargs.get("system") or () if "text" in s
                ]
                if system:
                    attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system, config)
                messages = [
                    {"role": m.get("role", "user"), "parts": _converse_parts(m.get("content"))}
                    for m in kwargs.get("messages") or ()
                ]
                attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(messages, config)
                tools = (kwargs.get("toolConfig") or {}).get("tools")
                if tools:
                    attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(tools, config)
        if _OPERATIONS[self.operation]:
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        model = kwargs.get("modelId")
        return start_call(
            operation=sc.OP_CHAT,
            provider=PROVIDER,
            request_model=model if isinstance(model, str) else "",
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=lambda: len(
                json.dumps(kwargs.get("messages") or _json_body(kwargs.get("body")), default=str)
            ),
            config=config,
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        if self.operation == "InvokeModel":
            return _invoke_outcome(call, result)
        message = ((result.get("output") or {}).get("message")) or {}
        return _finish(
            call,
            _converse_parts(message.get("content")),
            result.get("stopReason"),
            converse_usage(result.get("usage")),
        )


def _json_body(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes | str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _body_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request of a body with ``messages`` (Anthropic, Nova, gpt-oss), a ``prompt`` (Llama,
    DeepSeek) or an ``inputText`` (Titan)."""
    if isinstance(body.get("messages"), list):
        out = []
        for message in body["messages"]:
            content = message.get("content")
            parts = (
                [{"type": "text", "content": content}]
                if isinstance(content, str)
                else [
                    {"type": "text", "content": b.get("text", "")}
                    for b in content or ()
                    if b.get("type", "text") == "text" and "text" in b  # (Nova's blocks have no type)
                ]
            )
            out.append({"role": message.get("role", "user"), "parts": parts})
        return out
    prompt = body.get("prompt") or body.get("inputText")
    return [{"role": "user", "parts": [{"type": "text", "content": str(prompt)}]}] if prompt else []


def _invoke_outcome(call: LLMCall, result: Any) -> Outcome:
    """Read (and put back) an ``invoke_model`` body; usage from Bedrock's headers if it has none."""
    raw = result["body"].read()
    result["body"] = _body(raw)
    out = _family_outcome(call, _json_body(raw))
    if out is None:  # a family not read here: the body's size stands for the output
        out = Outcome(output_chars=len(raw))
    if out.usage is None:
        out.usage = _header_usage(result)
    return out


def _family_outcome(call: LLMCall, body: dict[str, Any]) -> Outcome | None:
    if "content" in body and "usage" in body:  # Anthropic Messages API
        tokens = _anthropic_usage(body["usage"] or {})
        parts: list[dict[str, Any]] = []
        for block in body.get("content") or ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append({"type": "text", "content": block.get("text") or ""})
            elif block.get("type") == "tool_use":
                parts.append(
                    {
                        "type": "tool_call",
                        "id": block.get("id"),
                        "name": block.get("name"),
                        "arguments": block.get("input"),
                    }
                )
        out = _finish(call, parts, body.get("stop_reason"), tokens)
        out.response_id = body.get("id")
        out.response_model = body.get("model")
        return out
    if isinstance(body.get("output"), dict) and "stopReason" in body:  # Amazon Nova: Converse's shape
        message = body["output"].get("message") or {}
        return _finish(
            call,
            _converse_parts(message.get("content")),
            body["stopReason"],
            converse_usage(body.get("usage")),
        )
    if "generation" in body:  # Meta Llama
        tokens = TokenUsage(
            input=int(body.get("prompt_token_count") or 0),
            output=int(body.get("generation_token_count") or 0),
        )
        return _finish(
            call, [{"type": "text", "content": str(body["generation"])}], body.get("stop_reason"), tokens
        )
    if "results" in body:  # Amazon Titan Text
        first = (body.get("results") or [{}])[0]
        tokens = TokenUsage(
            input=int(body.get("inputTextTokenCount") or 0), output=int(first.get("tokenCount") or 0)
        )
        text = [{"type": "text", "content": str(first.get("outputText") or "")}]
        return _finish(call, text, first.get("completionReason"), tokens)
    if isinstance(body.get("choices"), list):  # OpenAI-style: gpt-oss (a chat), DeepSeek-R1 (a text)
        first = body["choices"][0] if body["choices"] and isinstance(body["choices"][0], dict) else {}
        message = first.get("message")
        answer = message.get("content") if isinstance(message, dict) else first.get("text")
        usage = body.get("usage")
        reported = (
            TokenUsage(
                input=int(usage.get("prompt_tokens") or 0), output=int(usage.get("completion_tokens") or 0)
            )
            if isinstance(usage, dict)
            else None
        )
        out = _finish(
            call,
            [{"type": "text", "content": str(answer or "")}],
            first.get("finish_reason") or first.get("stop_reason"),
            reported,
        )
        out.response_id = body.get("id")
        out.response_model = body.get("model")
        return out
    return None


def _header_usage(result: Any) -> TokenUsage | None:
    """The token counts Bedrock sends with every ``invoke_model`` answer, whatever the model."""
    headers = (result.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    given = headers.get("x-amzn-bedrock-input-token-count"), headers.get("x-amzn-bedrock-output-token-count")
    counts = [int(count) for count in given if isinstance(count, str) and count.isdigit()]
    return TokenUsage(input=counts[0], output=counts[1]) if len(counts) == 2 else None


def _body(raw: bytes) -> Any:
    """An unread body with ``raw``'s bytes, for the caller (botocore's own type)."""
    from botocore.response import StreamingBody

    return StreamingBody(io.BytesIO(raw), len(raw))


def _block_index(event: dict[str, Any]) -> int:
    index = event.get("contentBlockIndex")
    return index if type(index) is int else 0


class _ConverseStream:
    """Accumulates ``converse_stream`` events (dicts keyed by event type)."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.blocks: dict[int, dict[str, Any]] = {}
        self.reason: str | None = None
        self.usage: TokenUsage | None = None

    def on_chunk(self, event: Any) -> bool:
        # ``or {}`` / ``or ""`` throughout: a ``null`` where an object or a text is due (a raw
        # invoke stream's JSON) loses that value, not the event or the stream's outcome.
        if "contentBlockDelta" in event:
            delta = event["contentBlockDelta"] or {}
            block = self.blocks.setdefault(_block_index(delta), {"text": "", "tool": None, "input": ""})
            body = delta.get("delta") or {}
            if "text" in body:
                text = body["text"] or ""
                block["text"] += text
                if text and not self.call.first_content_ns:
                    self.call.first_content_ns = time.perf_counter_ns()
            elif "toolUse" in body:
                block["input"] += (body["toolUse"] or {}).get("input") or ""
        elif "contentBlockStart" in event:
            start = event["contentBlockStart"] or {}
            tool = (start.get("start") or {}).get("toolUse")
            if tool:
                self.blocks[_block_index(start)] = {"text": "", "tool": tool, "input": ""}
        elif "messageStop" in event:
            self.reason = (event["messageStop"] or {}).get("stopReason")
        elif "metadata" in event:
            self.usage = converse_usage((event["metadata"] or {}).get("usage"))
        return False

    def outcome(self) -> Outcome:
        parts: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["tool"]:
                try:
                    arguments: Any = json.loads(block["input"] or "{}")
                except ValueError:
                    arguments = block["input"]
                tool = block["tool"]
                parts.append(
                    {
                        "type": "tool_call",
                        "id": tool.get("toolUseId"),
                        "name": tool.get("name"),
                        "arguments": arguments,
                    }
                )
            elif block["text"]:
                parts.append({"type": "text", "content": block["text"]})
        return _finish(self.call, parts, self.reason, self.usage)


_CONVERSE_EVENTS = frozenset(
    ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata")
)


class _InvokeStream:
    """Accumulates ``invoke_model_with_response_stream`` chunks. Each ``{"chunk": {"bytes": ...}}``
    is one JSON event of the model family's own stream: Anthropic's Messages API events (usage in
    ``message_start`` and ``message_delta``), Amazon Nova's (Converse's stream events), Meta
    Llama's ``generation`` pieces or Amazon Titan's ``outputText`` pieces; Bedrock adds
    ``amazon-bedrock-invocationMetrics`` (token counts, for every family) to the last one."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.parts: list[dict[str, Any]] = []  # text parts and tool calls, in order
        self.tool_input: dict[int, str] = {}  # Anthropic tool_use part index -> its streamed JSON
        self.reason: str | None = None
        self.anthropic_usage: dict[str, Any] = {}
        self.counts: dict[str, int] = {}  # Llama's or Titan's own token counts
        self.metrics: dict[str, Any] = {}
        self.nova: _ConverseStream | None = None  # Amazon Nova's events, read as Converse's
        self.response_id: str | None = None
        self.model: str | None = None

    def on_chunk(self, event: Any) -> bool:
        chunk = event.get("chunk") if isinstance(event, dict) else None
        if not chunk:
            return False
        data = _json_body(chunk.get("bytes"))
        text = None
        if "type" in data:
            text = self._anthropic(data)
        elif not _CONVERSE_EVENTS.isdisjoint(data):
            if self.nova is None:
                self.nova = _ConverseStream(self.call)
            self.nova.on_chunk(data)
        else:
            text = self._llama_or_titan(data)
        if text:
            if self.parts and self.parts[-1]["type"] == "text":
                self.parts[-1]["content"] += text
            else:
                self.parts.append({"type": "text", "content": text})
            if not self.call.first_content_ns:
                self.call.first_content_ns = time.perf_counter_ns()
        metrics = data.get("amazon-bedrock-invocationMetrics")
        if isinstance(metrics, dict):
            self.metrics = metrics
        return False

    def _anthropic(self, data: dict[str, Any]) -> str | None:
        kind = data["type"]
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                index = len(self.parts) - 1
                self.tool_input[index] = self.tool_input.get(index, "") + str(delta.get("partial_json") or "")
                return None
            return delta.get("text")
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.parts.append(
                    {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": None}
                )
            return None
        if kind == "message_start":
            message = data.get("message") or {}
            self.response_id = message.get("id")
            self.model = message.get("model")
            self.anthropic_usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            self.reason = (data.get("delta") or {}).get("stop_reason") or self.reason
            self.anthropic_usage.update(data.get("usage") or {})
        return None

    def _llama_or_titan(self, data: dict[str, Any]) -> str | None:
        if "generation" in data:  # Meta Llama
            self.reason = data.get("stop_reason") or self.reason
            for key in ("prompt_token_count", "generation_token_count"):
                if isinstance(data.get(key), int):
                    self.counts[key] = data[key]
            return str(data.get("generation") or "")
        if "outputText" in data:  # Amazon Titan Text
            self.reason = data.get("completionReason") or self.reason
            for key in ("inputTextTokenCount", "totalOutputTextTokenCount"):
                if isinstance(data.get(key), int):
                    self.counts[key] = data[key]
            return str(data.get("outputText") or "")
        return None

    def _usage(self) -> TokenUsage | None:
        usage = self.anthropic_usage
        if "input_tokens" in usage or "output_tokens" in usage:
            return _anthropic_usage(usage)
        metrics = self.metrics
        if "inputTokenCount" in metrics or "outputTokenCount" in metrics:
            return _with_cache(
                metrics,
                "inputTokenCount",
                "outputTokenCount",
                "cacheReadInputTokenCount",
                "cacheWriteInputTokenCount",
            )
        counts = self.counts
        if counts:
            return TokenUsage(
                input=counts.get("prompt_token_count", counts.get("inputTextTokenCount", 0)),
                output=counts.get("generation_token_count", counts.get("totalOutputTextTokenCount", 0)),
            )
        return None

    def outcome(self) -> Outcome:
        if self.nova is not None:
            out = self.nova.outcome()
            out.usage = out.usage or self._usage()
            return out
        for index, raw in self.tool_input.items():
            try:
                self.parts[index]["arguments"] = json.loads(raw or "{}")
            except ValueError:
                self.parts[index]["arguments"] = raw
        out = _finish(self.call, self.parts, self.reason, self._usage())
        out.response_id = self.response_id
        out.response_model = self.model
        return out


_ENDPOINTS = {name: _Request(name) for name in _OPERATIONS}


def _make_api_call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    operation = args[0] if args else kwargs.get("operation_name")
    endpoint = _ENDPOINTS.get(operation) if isinstance(operation, str) else None
    if endpoint is None or not should_trace() or instance.meta.service_model.service_name != SERVICE:
        return wrapped(*args, **kwargs)
    params = args[1] if len(args) > 1 else kwargs.get("api_params") or {}
    try:
        call = endpoint.start(instance, params)
    except Exception as exc:
        internal_error("bedrock.start", exc)
        return wrapped(*args, **kwargs)
    if call is None:
        return wrapped(*args, **kwargs)
    tokens = _attach(call)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):  # botocore's ClientError carries it in its response
            call.span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status)
        _fail(call, exc)
        raise
    finally:
        _detach(tokens)
    try:
        if endpoint.operation == "ConverseStream":
            result["stream"] = SyncStreamProxy(result["stream"], call, _ConverseStream(call))
        elif endpoint.operation == "InvokeModelWithResponseStream":
            result["body"] = SyncStreamProxy(result["body"], call, _InvokeStream(call))
        else:
            call.finish(endpoint.outcome(call, result))
    except Exception as exc:
        call.end_quietly()
        internal_error("bedrock.result", exc)
    return result


def instrument() -> None:
    """Patch botocore's API call path (called once ``boto3`` is imported)."""
    from botocore.client import BaseClient

    patch(BaseClient, "_make_api_call", _make_api_call)
