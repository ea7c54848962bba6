"""The OpenAI endpoints of the fake provider: chat completions, embeddings, responses.

Payloads are built from the ``openai`` SDK's own pydantic types, so whatever the installed SDK
version expects is what it gets.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage, PromptTokensDetails

from llmtrace.demo._wire import Reply, split_words, sse, stream_schedule, text_of
from llmtrace.demo.behaviour import Behaviour, Outcome, count_tokens

STREAM_PIECES = 24  # content chunks per stream: realistic pacing without thousands of tiny events
AUTO_CACHE_MIN_TOKENS = 1024  # OpenAI caches prompt prefixes from 1024 tokens on


def handle(path: str, request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply | None:
    """The reply for an OpenAI API ``path`` (without the ``/v1`` prefix), or None if unknown."""
    if path == "/chat/completions":
        return _chat(request, key, behaviour)
    if path == "/embeddings":
        return _embeddings(request, key, behaviour)
    if path == "/responses":
        return _responses(request, key, behaviour)
    return None


def _outcome(path: str, request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Outcome:
    result = outcome(path, request, key, behaviour)
    assert result is not None  # the path is one of ours
    return result


def error_reply(outcome: Outcome) -> Reply:
    status = outcome.error_status or 500
    if outcome.error_kind == "rate_limit":
        message, kind, code = (
            "Rate limit reached for requests. Please try again shortly.",
            "requests",
            "rate_limit_exceeded",
        )
    else:
        message, kind, code = "The server had an error while processing your request.", "server_error", None
    headers = {"retry-after-ms": "20"} if status == 429 else {}
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Reply(status=status, body=body, delay_s=outcome.ttft_ms / 4000.0, headers=headers)


def _usage(outcome: Outcome) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=outcome.input_tokens,
        completion_tokens=outcome.output_tokens,
        total_tokens=outcome.input_tokens + outcome.output_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=outcome.cached_tokens, cache_write_tokens=outcome.cache_write_tokens
        ),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=0),
    )


def _prompt(messages: Any) -> tuple[int, int]:
    """(prompt tokens, cacheable prefix tokens) of a chat request."""
    texts = [text_of(m.get("content")) for m in messages or [] if isinstance(m, dict)]
    system = [
        text_of(m.get("content"))
        for m in messages or []
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    total = count_tokens("\n".join(texts))
    prefix = count_tokens("\n".join(system)) if system else 0
    return total, prefix if prefix >= AUTO_CACHE_MIN_TOKENS else 0


def outcome(path: str, request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Outcome | None:
    """What a call to ``path`` does (usage, timing, error), or None for an unknown path."""
    model = str(request.get("model", ""))
    if path == "/chat/completions":
        tokens, cacheable = _prompt(request.get("messages"))
        max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
        return behaviour.outcome(model, tokens, key=key, max_tokens=max_tokens, cacheable_tokens=cacheable)
    if path == "/embeddings":
        tokens = sum(count_tokens(t) for t in _embedding_inputs(request))
        return behaviour.outcome(model, tokens, key=key, embedding=True)
    if path == "/responses":
        raw_input = request.get("input")
        if isinstance(raw_input, str):
            prompt = raw_input
        else:
            prompt = "\n".join(text_of(m.get("content")) for m in raw_input or [] if isinstance(m, dict))
        instructions = str(request.get("instructions") or "")
        tokens = count_tokens(instructions + "\n" + prompt)
        cacheable = count_tokens(instructions) if count_tokens(instructions) >= AUTO_CACHE_MIN_TOKENS else 0
        max_tokens = request.get("max_output_tokens")
        return behaviour.outcome(model, tokens, key=key, max_tokens=max_tokens, cacheable_tokens=cacheable)
    return None


def _embedding_inputs(request: dict[str, Any]) -> list[str]:
    inputs = request.get("input")
    items = [inputs] if isinstance(inputs, str) else list(inputs or [])
    return [i if isinstance(i, str) else json.dumps(i) for i in items]


def _chat(request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply:
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    model = str(request.get("model", ""))
    outcome = _outcome("/chat/completions", request, key, behaviour)
    if outcome.error_status:
        return error_reply(outcome)
    ident = "chatcmpl-" + key.hex()[:24]
    created = int(time.time())
    if not request.get("stream"):
        completion = ChatCompletion.model_validate(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": outcome.text},
                        "finish_reason": outcome.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": _usage(outcome),
                "system_fingerprint": "fp_llmtrace_demo",
            }
        )
        return Reply(
            body=completion.model_dump(mode="json", exclude_none=True), delay_s=outcome.latency_ms / 1000.0
        )

    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

    def chunk(
        delta: dict[str, Any], finish: str | None = None, usage: CompletionUsage | None = None
    ) -> bytes:
        choices = (
            []
            if usage is not None
            else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )
        fields = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        body = ChatCompletionChunk.model_validate({**fields, "choices": choices, "usage": usage}).model_dump(
            mode="json", exclude_none=True
        )
        if include_usage and usage is None:
            body["usage"] = None  # the API marks every chunk but the last with "usage": null
        return sse(body)

    pieces = split_words(outcome.text, STREAM_PIECES)
    sleeps = stream_schedule(outcome.ttft_ms / 1000.0, outcome.latency_ms / 1000.0, len(pieces))
    events = [(sleeps[0], chunk({"role": "assistant", "content": ""}))]
    events += [(sleeps[i + 1], chunk({"content": p})) for i, p in enumerate(pieces)]
    events.append((0.0, chunk({}, finish=outcome.finish_reason)))
    if include_usage:
        events.append((0.0, chunk({}, usage=_usage(outcome))))
    events.append((0.0, sse("[DONE]")))
    return Reply(events=events)


def _embeddings(request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply:
    from openai.types import CreateEmbeddingResponse

    model = str(request.get("model", ""))
    texts = _embedding_inputs(request)
    outcome = _outcome("/embeddings", request, key, behaviour)
    tokens = outcome.input_tokens
    if outcome.error_status:
        return error_reply(outcome)
    dimensions = int(request.get("dimensions") or 256)
    data = []
    for index, text in enumerate(texts):
        vector = behaviour.embedding(text.encode(), dimensions)
        if request.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        else:
            encoded = vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    body = CreateEmbeddingResponse.model_construct(
        object="list", data=[], model=model, usage={"prompt_tokens": tokens, "total_tokens": tokens}
    ).model_dump(mode="json")
    body["data"] = data  # base64 strings are not valid for the parsed type, but are what the API sends
    return Reply(body=body, delay_s=outcome.latency_ms / 1000.0)


def _response_object(request: dict[str, Any], ident: str, outcome: Outcome | None, status: str) -> Any:
    from openai.types.responses import Response

    output: list[dict[str, Any]] = []
    usage = None
    if outcome is not None:
        output = [_message_item(ident, outcome.text, "completed")]
        usage = {
            "input_tokens": outcome.input_tokens,
            "input_tokens_details": {
                "cached_tokens": outcome.cached_tokens,
                "cache_write_tokens": outcome.cache_write_tokens,
            },
            "output_tokens": outcome.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": outcome.input_tokens + outcome.output_tokens,
        }
    return Response.model_validate(
        {
            "id": ident,
            "object": "response",
            "created_at": time.time(),
            "model": str(request.get("model", "")),
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "status": status,
            "usage": usage,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
        }
    )


def _message_item(ident: str, text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": []}] if text or status == "completed" else []
    )
    return {
        "id": "msg_" + ident[5:],
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def _responses(request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply:
    outcome = _outcome("/responses", request, key, behaviour)
    if outcome.error_status:
        return error_reply(outcome)
    ident = "resp_" + key.hex()[:24]
    final = _response_object(request, ident, outcome, "completed")
    if not request.get("stream"):
        return Reply(
            body=final.model_dump(mode="json", exclude_none=True), delay_s=outcome.latency_ms / 1000.0
        )

    item_id = "msg_" + ident[5:]
    sequence = iter(range(1_000_000))

    def event(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(sequence), **fields}, event=kind)

    started = _response_object(request, ident, None, "in_progress").model_dump(mode="json", exclude_none=True)
    pieces = split_words(outcome.text, STREAM_PIECES)
    sleeps = stream_schedule(outcome.ttft_ms / 1000.0, outcome.latency_ms / 1000.0, len(pieces))
    text_part = {"type": "output_text", "text": "", "annotations": []}
    events = [
        (sleeps[0], event("response.created", response=started)),
        (0.0, event("response.in_progress", response=started)),
        (
            0.0,
            event("response.output_item.added", output_index=0, item=_message_item(ident, "", "in_progress")),
        ),
        (
            0.0,
            event(
                "response.content_part.added",
                item_id=item_id,
                output_index=0,
                content_index=0,
                part=text_part,
            ),
        ),
    ]
    for i, piece in enumerate(pieces):
        fields = {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}
        events.append((sleeps[i + 1], event("response.output_text.delta", **fields)))
    done_part = {**text_part, "text": outcome.text}
    events += [
        (
            0.0,
            event(
                "response.output_text.done",
                item_id=item_id,
                output_index=0,
                content_index=0,
                text=outcome.text,
                logprobs=[],
            ),
        ),
        (
            0.0,
            event(
                "response.content_part.done", item_id=item_id, output_index=0, content_index=0, part=done_part
            ),
        ),
        (
            0.0,
            event(
                "response.output_item.done",
                output_index=0,
                item=_message_item(ident, outcome.text, "completed"),
            ),
        ),
        (0.0, event("response.completed", response=final.model_dump(mode="json", exclude_none=True))),
    ]
    return Reply(events=events)
