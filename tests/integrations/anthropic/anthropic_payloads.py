"""Anthropic payloads built from the installed SDK's own types."""

from __future__ import annotations

from typing import Any

from anthropic.types import Message, TextBlock, ThinkingBlock, ToolUseBlock, Usage

USAGE = Usage(
    input_tokens=100, output_tokens=20, cache_read_input_tokens=4000, cache_creation_input_tokens=1000
)


def message(
    blocks: list[Any] | None = None, stop_reason: str = "end_turn", model: str = "claude-sonnet-4-5-20250929"
) -> Message:
    return Message(
        id="msg_1",
        type="message",
        role="assistant",
        model=model,
        content=blocks if blocks is not None else [TextBlock(type="text", text="Hi there")],
        stop_reason=stop_reason,
        stop_sequence=None,
        usage=USAGE,
    )


def tool_message() -> Message:
    return message(
        [ToolUseBlock(type="tool_use", id="toolu_1", name="get_weather", input={"city": "Paris"})],
        stop_reason="tool_use",
    )


def thinking_message() -> Message:
    return message(
        [
            ThinkingBlock(type="thinking", thinking="Let me think", signature="sig"),
            TextBlock(type="text", text="42"),
        ]
    )


def _start(usage: dict[str, Any]) -> dict[str, Any]:
    msg = message([]).model_dump(mode="json")
    return {"type": "message_start", "message": {**msg, "stop_reason": None, "usage": usage}}


def events(
    words: list[str], *, tool: bool = False, thinking: bool = False, finish: bool = True
) -> list[dict[str, Any]]:
    """A real event sequence; message_start carries input/cache usage, message_delta cumulative output."""
    out = [
        _start(
            {
                "input_tokens": 100,
                "output_tokens": 1,
                "cache_read_input_tokens": 4000,
                "cache_creation_input_tokens": 1000,
            }
        )
    ]
    index = 0
    if thinking:
        out.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }
        )
        out.append(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "thinking_delta", "thinking": "Hmm"},
            }
        )
        out.append({"type": "content_block_stop", "index": index})
        index += 1
    if words:
        out.append(
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        )
        out += [
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": w}}
            for w in words
        ]
        out.append({"type": "content_block_stop", "index": index})
        index += 1
    if tool:
        out.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
            }
        )
        for piece in ('{"city"', ': "Paris"}'):
            out.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                }
            )
        out.append({"type": "content_block_stop", "index": index})
    if finish:
        # Cumulative: 12 then 20 output tokens; summing would give 32.
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 12},
            }
        )
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            }
        )
        out.append({"type": "message_stop"})
    return out
