"""The Anthropic endpoint of the fake provider: ``POST /v1/messages``, plain and streamed.

Payloads are built from the ``anthropic`` SDK's own pydantic types. Usage follows the real API:
``input_tokens`` excludes cache reads and writes (they are reported beside it), and the
``message_delta`` usage is cumulative.
"""

from __future__ import annotations

from typing import Any

from llmtrace.demo._wire import Reply, split_words, sse, stream_schedule, text_of
from llmtrace.demo.behaviour import Behaviour, Outcome, count_tokens

STREAM_PIECES = 24
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}
_ERRORS = {
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "overloaded": "overloaded_error",
}


def handle(path: str, request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply | None:
    """The reply for an Anthropic API ``path`` (without ``/v1``), or None if unknown."""
    if path != "/messages":
        return None
    return _messages(request, key, behaviour)


def outcome(path: str, request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Outcome | None:
    """What a call to ``path`` does (usage, timing, error), or None for an unknown path."""
    if path != "/messages":
        return None
    tokens, cacheable = _prompt(request)
    model = str(request.get("model", ""))
    return behaviour.outcome(
        model, tokens, key=key, max_tokens=request.get("max_tokens"), cacheable_tokens=cacheable
    )


def error_reply(outcome: Outcome) -> Reply:
    kind = _ERRORS.get(outcome.error_kind, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": kind.replace("_", " ").capitalize()}}
    headers = {"retry-after-ms": "20"} if outcome.error_status == 429 else {}
    return Reply(
        status=outcome.error_status or 500, body=body, delay_s=outcome.ttft_ms / 4000.0, headers=headers
    )


def _prompt(request: dict[str, Any]) -> tuple[int, int]:
    """(prompt tokens, tokens of system blocks marked with cache_control)."""
    system = request.get("system")
    cacheable = ""
    if isinstance(system, list):
        cacheable = "\n".join(text_of([b]) for b in system if isinstance(b, dict) and b.get("cache_control"))
    messages = [text_of(m.get("content")) for m in request.get("messages") or [] if isinstance(m, dict)]
    total = count_tokens("\n".join([text_of(system), *messages]))
    return total, count_tokens(cacheable) if cacheable else 0


def _usage(outcome: Outcome, output_tokens: int) -> dict[str, Any]:
    from anthropic.types import Usage

    usage = {
        "input_tokens": outcome.input_tokens - outcome.cached_tokens - outcome.cache_write_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": outcome.cached_tokens,
        "cache_creation_input_tokens": outcome.cache_write_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": outcome.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "service_tier": "standard",
    }
    return Usage.model_validate(usage).model_dump(mode="json", exclude_none=True)


def _messages(request: dict[str, Any], key: bytes, behaviour: Behaviour) -> Reply:
    from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent

    model = str(request.get("model", ""))
    planned = outcome("/messages", request, key, behaviour)
    assert planned is not None
    if planned.error_status:
        return error_reply(planned)
    ident = "msg_" + key.hex()[:24]
    stop_reason = _STOP_REASONS[planned.finish_reason]

    def message(content: list[dict[str, Any]], output_tokens: int, stop: str | None) -> Message:
        return Message.model_validate(
            {
                "id": ident,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": _usage(planned, output_tokens),
            }
        )

    if not request.get("stream"):
        body = message([{"type": "text", "text": planned.text}], planned.output_tokens, stop_reason)
        return Reply(
            body=body.model_dump(mode="json", exclude_none=True), delay_s=planned.latency_ms / 1000.0
        )

    start = RawMessageStartEvent(type="message_start", message=message([], 1, None))
    delta = RawMessageDeltaEvent.model_validate(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {  # cumulative totals, as the API sends them
                "input_tokens": planned.input_tokens - planned.cached_tokens - planned.cache_write_tokens,
                "cache_read_input_tokens": planned.cached_tokens,
                "cache_creation_input_tokens": planned.cache_write_tokens,
                "output_tokens": planned.output_tokens,
            },
        }
    )
    pieces = split_words(planned.text, STREAM_PIECES)
    sleeps = stream_schedule(planned.ttft_ms / 1000.0, planned.latency_ms / 1000.0, len(pieces))
    events = [
        (sleeps[0], sse(start.model_dump(mode="json", exclude_none=True), "message_start")),
        (
            0.0,
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
        ),
        (0.0, sse({"type": "ping"}, "ping")),
    ]
    for i, piece in enumerate(pieces):
        block = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        events.append((sleeps[i + 1], sse(block, "content_block_delta")))
    events += [
        (0.0, sse({"type": "content_block_stop", "index": 0}, "content_block_stop")),
        (0.0, sse(delta.model_dump(mode="json", exclude_none=True), "message_delta")),
        (0.0, sse({"type": "message_stop"}, "message_stop")),
    ]
    return Reply(events=events)
