"""Stored inputs and outputs as readable messages, for every shape the store keeps."""

from __future__ import annotations

import json

from llmtrace_server.ui.conversation import messages


def test_otel_genai_messages_with_tool_calls_and_results() -> None:
    stored = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "18 C"}]},
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "easy"}], "finish_reason": "stop"},
    ]
    got = messages(json.dumps(stored), "user")
    assert [m["role"] for m in got] == ["system", "user", "assistant", "tool", "assistant"]
    assert got[0]["parts"] == [{"type": "text", "text": "Be brief."}]
    assert got[2]["parts"] == [
        {"type": "tool_call", "id": "c1", "name": "weather", "arguments": '{\n  "city": "Paris"\n}'}
    ]
    assert got[3]["parts"] == [{"type": "tool_result", "id": "c1", "text": "18 C"}]
    assert got[4]["parts"] == [{"type": "reasoning", "text": "easy"}] and got[4]["finish_reason"] == "stop"


def test_openai_and_anthropic_shapes() -> None:
    openai = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "42"},
    ]
    got = messages(json.dumps(openai), "user")
    assert got[1]["parts"] == [{"type": "tool_call", "id": "t1", "name": "f", "arguments": '{"a": 1}'}]
    assert got[2]["parts"] == [{"type": "text", "text": "42", "id": "t1"}]
    anthropic = [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "u1", "name": "g", "input": {"q": "x"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "u1", "content": "done"}]},
    ]
    got = messages(json.dumps(anthropic), "user")
    assert got[0]["parts"][0]["type"] == "tool_call" and got[0]["parts"][0]["name"] == "g"
    assert got[1]["parts"] == [{"type": "tool_result", "id": "u1", "text": "done"}]


def test_plain_text_function_arguments_and_nothing() -> None:
    assert messages("", "user") == []
    assert messages("just text", "assistant") == [
        {"role": "assistant", "parts": [{"type": "text", "text": "just text"}]}
    ]
    args = messages(json.dumps({"body": {"messages": [{"role": "user", "content": "q"}]}}), "input")
    assert args[0]["role"] == "input" and '"messages"' in args[0]["parts"][0]["text"]
    wrapped = messages(json.dumps({"messages": [{"role": "user", "content": "q"}]}), "input")
    assert wrapped[0]["role"] == "user" and wrapped[0]["parts"] == [{"type": "text", "text": "q"}]
    assert messages("[1, 2]", "output")[0]["parts"][0]["text"] == "[\n  1,\n  2\n]"
