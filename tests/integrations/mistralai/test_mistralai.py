"""mistralai against a fake Mistral endpoint: the real SDK, payloads from its own types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from mistralai.client import Mistral
from mistralai.client.chat import Chat
from mistralai.client.models import (
    AssistantMessage,
    ChatCompletionChoice,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    FunctionCall,
    ToolCall,
    UsageInfo,
)

import llmtrace
import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.integrations import mistralai as mi
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve
from ..fakes import FakeServer

MODEL = "mistral-large-latest"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def completion(content: str | None = "Bonjour", tool_calls: list[ToolCall] | None = None) -> dict[str, Any]:
    return ChatCompletionResponse(
        id="cmpl-1",
        object="chat.completion",
        model="mistral-large-2411",
        created=1,
        usage=UsageInfo(prompt_tokens=1000, completion_tokens=200, total_tokens=1200),
        choices=[
            ChatCompletionChoice(
                index=0,
                message=AssistantMessage(content=content, tool_calls=tool_calls),
                finish_reason="tool_calls" if tool_calls else "stop",
            )
        ],
    ).model_dump(mode="json", by_alias=True)


def stream_body(words: list[str]) -> bytes:
    chunks = [
        CompletionChunk(
            id="cmpl-s",
            model="mistral-large-2411",
            choices=[
                CompletionResponseStreamChoice(index=0, delta=DeltaMessage(content=w), finish_reason=None)
            ],
        )
        for w in words
    ]
    chunks.append(
        CompletionChunk(
            id="cmpl-s",
            model="mistral-large-2411",
            choices=[
                CompletionResponseStreamChoice(index=0, delta=DeltaMessage(content=""), finish_reason="stop")
            ],
            usage=UsageInfo(prompt_tokens=1000, completion_tokens=200, total_tokens=1200),
        )
    )
    lines = [f"data: {json.dumps(c.model_dump(mode='json', by_alias=True))}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def client(server: FakeServer) -> Mistral:
    return Mistral(api_key="k", client=server.sync_client(), async_client=server.async_client())


def mistral_cost() -> float:
    usage = Usage(input_tokens=1000, output_tokens=200)
    return float(calc_price(usage, MODEL, provider_id="mistral").total_price)


@pytest.mark.parametrize("is_async", [False, True])
async def test_complete_records_the_whole_call(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/v1/chat/completions", completion())
    chat = client(server).chat
    call = chat.complete_async if is_async else chat.complete
    result = await resolve(call(model=MODEL, messages=MESSAGES, temperature=0.3, max_tokens=50))
    assert result.choices[0].message.content == "Bonjour"
    (span,) = cap.spans()
    assert span.name == f"chat {MODEL}"
    assert attrs(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "llmtrace.span.kind": "llm",
        "gen_ai.request.model": MODEL,
        "server.address": "api.mistral.ai",
        "server.port": 443,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
        "gen_ai.response.id": "cmpl-1",
        "gen_ai.response.model": "mistral-large-2411",
        "gen_ai.response.finish_reasons": ("stop",),
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        "llmtrace.output.chars": 7,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Bonjour"}], "finish_reason": "stop"}]',
        "llmtrace.cost.usd": pytest.approx(mistral_cost(), rel=1e-12),
    }


@pytest.mark.parametrize("is_async", [False, True])
async def test_stream_reports_the_last_chunks_usage(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/v1/chat/completions", stream_body(["Bon", "jour"]))
    chat = client(server).chat
    stream = await resolve((chat.stream_async if is_async else chat.stream)(model=MODEL, messages=MESSAGES))
    events = await drain(stream)
    assert "".join(e.data.choices[0].delta.content or "" for e in events) == "Bonjour"
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.request.stream"] is True
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert values["llmtrace.output.chars"] == 7
    assert values["llmtrace.ttft_ms"] > 0


def test_tool_calls(cap: CapturedSpans) -> None:
    server = FakeServer()
    call = ToolCall(id="t1", function=FunctionCall(name="get_weather", arguments='{"city": "Paris"}'))
    server.json("/v1/chat/completions", completion(None, [call]))
    client(server).chat.complete(model=MODEL, messages=MESSAGES)
    values = attrs(cap.spans()[0])
    assert json.loads(values["llmtrace.tool_calls"]) == [
        {"id": "t1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert values["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_errors_are_recorded_and_reraised(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.error("/v1/chat/completions", 429, {"message": "slow down"})
    with pytest.raises(Exception) as caught:
        client(server).chat.complete(model=MODEL, messages=MESSAGES)
    (span,) = cap.spans()
    assert attrs(span)["error.type"] == type(caught.value).__name__
    assert attrs(span)["http.response.status_code"] == 429
    assert span.status.status_code.name == "ERROR"


def test_faults_never_reach_the_caller(cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault")

    server = FakeServer()
    server.json("/v1/chat/completions", completion())
    monkeypatch.setattr(mi, "start_call", boom)
    with llmtrace.testing.allow_internal_errors():
        assert (
            client(server).chat.complete(model=MODEL, messages=MESSAGES).choices[0].message.content
            == "Bonjour"
        )


def test_uninstrument_restores_the_sdk() -> None:
    original = Chat.__dict__["complete"], Chat.__dict__["stream_async"]
    with llmtrace.testing.capture():
        assert isinstance(Chat.__dict__["complete"], _common.LlmtraceWrapper)
    assert (Chat.__dict__["complete"], Chat.__dict__["stream_async"]) == original
