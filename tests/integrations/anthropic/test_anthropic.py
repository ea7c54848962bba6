"""The Anthropic integration against a fake endpoint: create/stream/parse, sync and async, usage, native spans."""

from __future__ import annotations

import gc
import json
import os
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel

import llmtrace.testing
from llmtrace.integrations import anthropic as anthropic_integration
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve, timing_free
from ..fakes import FakeServer, sse
from . import anthropic_payloads as p

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "claude-sonnet-4-5"
# claude-sonnet-4-5: $3/M input, $0.30/M cache read, $3.75/M cache write, $15/M output.
COST = (100 * 3 + 4000 * 0.30 + 1000 * 3.75 + 20 * 15) / 1e6

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


def client(server: FakeServer, is_async: bool, **kwargs: Any) -> Any:
    if is_async:
        return anthropic.AsyncAnthropic(
            api_key="k", http_client=server.async_client(), max_retries=0, **kwargs
        )
    return anthropic.Anthropic(api_key="k", http_client=server.sync_client(), max_retries=0, **kwargs)


BASE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "llmtrace.span.kind": "llm",
    "gen_ai.request.model": MODEL,
    "gen_ai.request.max_tokens": 256,
    "server.address": "api.anthropic.com",
    "server.port": 443,
    "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    "gen_ai.response.id": "msg_1",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "llmtrace.usage.source": "reported",
    "gen_ai.usage.input_tokens": 5100,  # 100 + 4000 cache read + 1000 cache write
    "gen_ai.usage.output_tokens": 20,
    "gen_ai.usage.cache_read.input_tokens": 4000,
    "gen_ai.usage.cache_creation.input_tokens": 1000,
    "llmtrace.cost.usd": pytest.approx(COST),
}


@pytest.mark.parametrize("is_async", [False, True])
async def test_create_records_usage_with_cache_tokens_and_cost(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/v1/messages", p.message())
    result = await resolve(
        client(server, is_async).messages.create(
            model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES, stop_sequences=["END"]
        )
    )
    assert result.content[0].text == "Hi there"
    (span,) = cap.spans()
    assert span.name == f"chat {MODEL}"
    assert attrs(span) == {
        **BASE,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.response.finish_reasons": ("end_turn",),
        "llmtrace.output.chars": 8,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hi there"}], "finish_reason": "end_turn"}]',
    }


async def _create_with_usage(
    is_async: bool, stream: bool, extra: dict[str, Any], *, in_delta: bool = False
) -> None:
    """One ``messages.create`` whose usage also has ``extra``: a stream's in message_start's usage,
    or (``in_delta``) in each message_delta's, as the API sends cumulative counts."""
    server = FakeServer()
    if stream:
        events = p.events(["Hi"])
        for event in events:
            if event["type"] == ("message_delta" if in_delta else "message_start"):
                (event["usage"] if in_delta else event["message"]["usage"]).update(extra)
        server.stream("/v1/messages", sse(events, done=False, named=True))
    else:
        body = p.message().model_dump(mode="json")
        body["usage"].update(extra)
        server.json("/v1/messages", body)
    result = await resolve(
        client(server, is_async).messages.create(
            model=MODEL, max_tokens=256, messages=MESSAGES, stream=stream
        )
    )
    if stream:
        await drain(result)


# The same call with its 1,000 cache-write tokens written for an hour: $6/M instead of $3.75/M.
COST_1H = (100 * 3 + 4000 * 0.30 + 1000 * 6 + 20 * 15) / 1e6
ONE_HOUR = {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 0}


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_one_hour_cache_writes_are_priced_at_their_rate(
    cap: CapturedSpans, is_async: bool, stream: bool
) -> None:
    await _create_with_usage(is_async, stream, {"cache_creation": ONE_HOUR})
    values = attrs(cap.spans()[0])
    assert values["gen_ai.usage.cache_creation.input_tokens"] == 1000
    assert values["anthropic.usage.cache_creation.ephemeral_1h_input_tokens"] == 1000
    assert values["llmtrace.cost.usd"] == pytest.approx(COST_1H)


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_web_searches_are_priced(cap: CapturedSpans, is_async: bool, stream: bool) -> None:
    """Three searches of the server-side web search tool: $10 per 1,000 on top of the tokens."""
    await _create_with_usage(is_async, stream, {"server_tool_use": {"web_search_requests": 3}}, in_delta=True)
    values = attrs(cap.spans()[0])
    assert values["llmtrace.usage.web_searches"] == 3
    assert values["llmtrace.cost.usd"] == pytest.approx(COST + 0.03)


@pytest.mark.parametrize("is_async", [False, True])
async def test_create_stream_usage_is_cumulative_not_summed(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/v1/messages", sse(p.events(["Hi", " there"]), done=False, named=True))
    stream = await resolve(
        client(server, is_async).messages.create(
            model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES, stream=True
        )
    )
    events = await drain(stream)
    assert events[-1].type == "message_stop"
    assert timing_free(cap.spans()[0]) == {
        **BASE,
        "gen_ai.request.stream": True,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "llmtrace.output.chars": 8,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hi there"}], "finish_reason": "end_turn"}]',
    }


@pytest.mark.parametrize("is_async", [False, True])
async def test_stream_of_a_compatible_server_that_leaves_fields_null(
    cap: CapturedSpans, is_async: bool
) -> None:
    """An Anthropic-compatible server whose message_delta has no usage and one text delta null:
    the text and stop reason are kept, output tokens estimated (message_start's are provisional)."""
    events = [e for e in p.events(["Hi", " there"]) if e["type"] != "message_delta"]
    events.insert(
        2, {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": None}}
    )
    events.insert(-1, {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": None})
    server = FakeServer()
    server.stream("/v1/messages", sse(events, done=False, named=True))
    stream = await resolve(
        client(server, is_async).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
    )
    assert [e.type for e in await drain(stream)][-2:] == ["message_delta", "message_stop"]
    values = attrs(cap.spans()[0])
    assert values["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert values["llmtrace.output.chars"] == 8
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "Hi there"}
    ]
    assert values["llmtrace.usage.source"] == "estimated"
    assert values["gen_ai.usage.output_tokens"] == 2  # from 8 characters, not message_start's provisional 1


@pytest.mark.parametrize("is_async", [False, True])
async def test_message_of_a_compatible_server_with_a_null_text_block(
    cap: CapturedSpans, is_async: bool
) -> None:
    body = p.message().model_dump(mode="json")
    body["content"] = [{"type": "text", "text": None}, {"type": "text", "text": "Hi"}]
    server = FakeServer()
    server.json("/v1/messages", body)
    await resolve(client(server, is_async).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES))
    values = attrs(cap.spans()[0])
    assert values["llmtrace.output.chars"] == 2
    assert values["gen_ai.usage.output_tokens"] == 20 and values["llmtrace.usage.source"] == "reported"


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_null_block_or_block_index_loses_only_itself(cap: CapturedSpans, is_async: bool) -> None:
    """A malformed answer's ``null`` content block, or a streamed block's ``index: null``: the
    call keeps its usage and the other text (the whole outcome was lost)."""
    body = p.message().model_dump(mode="json")
    body["content"] = [None, {"type": "text", "text": "Hi"}]
    events = p.events(["Hi", " there"])
    for event in events:
        if event["type"] == "content_block_delta" and event["delta"]["text"] == "Hi":
            event["index"] = None
    server = FakeServer()
    server.json("/v1/messages", body)
    server_stream = FakeServer()
    server_stream.stream("/v1/messages", sse(events, done=False, named=True))
    await resolve(client(server, is_async).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES))
    stream = await resolve(
        client(server_stream, is_async).messages.create(
            model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
        )
    )
    await drain(stream)
    message, streamed = (attrs(span) for span in cap.spans())
    assert message["llmtrace.output.chars"] == 2
    assert message["gen_ai.usage.output_tokens"] == 20 and message["llmtrace.usage.source"] == "reported"
    assert streamed["llmtrace.usage.source"] == "reported"
    assert streamed["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert [part["content"] for part in json.loads(streamed["gen_ai.output.messages"])[0]["parts"]] == [
        "Hi",
        " there",
    ]


async def test_stream_helper_sync(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/v1/messages", sse(p.events(["Hi", " there"]), done=False, named=True))
    with client(server, False).messages.stream(
        model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES
    ) as stream:
        assert "".join(stream.text_stream) == "Hi there"
        assert stream.get_final_message().usage.output_tokens == 20
    (span,) = cap.spans()
    values = timing_free(span)
    assert values["gen_ai.usage.output_tokens"] == 20
    assert values["gen_ai.usage.input_tokens"] == 5100
    assert "llmtrace.status" not in values


async def test_stream_helper_async_get_final_message(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/v1/messages", sse(p.events(["Hi", " there"]), done=False, named=True))
    async with client(server, True).messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == "Hi there"
    (span,) = cap.spans()
    assert attrs(span)["llmtrace.cost.usd"] == pytest.approx(COST)
    assert attrs(span)["gen_ai.request.stream"] is True


@pytest.mark.parametrize("is_async", [False, True])
async def test_stream_helper_left_early_is_cancelled(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/v1/messages", sse(p.events(["Hi", " there", " friend"]), done=False, named=True))
    c = client(server, is_async)
    if is_async:
        async with c.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
            async for event in stream:
                if event.type == "text":
                    break
    else:
        with c.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
            for event in stream:
                if event.type == "text":
                    break
    (span,) = cap.spans()
    values = attrs(span)
    assert values["llmtrace.status"] == "cancelled"
    assert values["llmtrace.output.chars"] == 2
    assert values["llmtrace.usage.source"] == "estimated"  # message_start's output count is provisional
    assert values["gen_ai.response.finish_reasons"] == ("error",)


def test_abandoned_raw_stream_is_cancelled_on_gc(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/v1/messages", sse(p.events(["Hi", " there"]), done=False, named=True))
    stream = client(server, False).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
    )
    for event in stream:
        if event.type == "content_block_delta":
            break
    del stream, event
    gc.collect()
    (span,) = cap.spans()
    assert attrs(span)["llmtrace.status"] == "cancelled"
    assert attrs(span)["llmtrace.output.chars"] == 2


class Answer(BaseModel):
    text: str


@pytest.mark.parametrize("is_async", [False, True])
async def test_parse(cap: CapturedSpans, is_async: bool) -> None:
    from anthropic.types import TextBlock

    server = FakeServer()
    server.json("/v1/messages", p.message([TextBlock(type="text", text='{"text": "ok"}')]))
    result = await resolve(
        client(server, is_async).messages.parse(
            model=MODEL, max_tokens=256, messages=MESSAGES, output_format=Answer
        )
    )
    assert result.parsed_output == Answer(text="ok")
    assert attrs(cap.spans()[0])["gen_ai.usage.input_tokens"] == 5100


@pytest.mark.parametrize("is_async", [False, True])
async def test_tool_use_plain_and_streamed(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/v1/messages", p.tool_message())
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    c = client(server, is_async)
    await resolve(c.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, tools=tools))
    server.stream("/v1/messages", sse(p.events([], tool=True), done=False, named=True))
    await drain(
        await resolve(
            c.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, tools=tools, stream=True)
        )
    )
    plain, streamed = (attrs(s) for s in cap.spans())
    expected = [{"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert json.loads(plain["llmtrace.tool_calls"]) == expected
    assert json.loads(streamed["llmtrace.tool_calls"]) == expected
    assert (
        plain["gen_ai.response.finish_reasons"] == streamed["gen_ai.response.finish_reasons"] == ("tool_use",)
    )
    assert json.loads(plain["gen_ai.tool.definitions"]) == tools


@pytest.mark.parametrize("is_async", [False, True])
async def test_extended_thinking_is_recorded_as_reasoning(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/v1/messages", p.thinking_message())
    c = client(server, is_async)
    thinking = {"type": "enabled", "budget_tokens": 2048}
    await resolve(c.messages.create(model=MODEL, max_tokens=4096, messages=MESSAGES, thinking=thinking))
    server.stream("/v1/messages", sse(p.events(["42"], thinking=True), done=False, named=True))
    await drain(
        await resolve(
            c.messages.create(model=MODEL, max_tokens=4096, messages=MESSAGES, thinking=thinking, stream=True)
        )
    )
    for span in cap.spans():
        values = attrs(span)
        assert values["anthropic.request.thinking.budget_tokens"] == 2048
        parts = json.loads(values["gen_ai.output.messages"])[0]["parts"]
        assert parts[0]["type"] == "reasoning" and parts[1] == {"type": "text", "content": "42"}
        assert values["llmtrace.output.chars"] == 2


@pytest.mark.parametrize("is_async", [False, True])
async def test_errors_are_recorded_and_reraised(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.error(
        "/v1/messages", 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        await resolve(
            client(server, is_async).messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        )
    (span,) = cap.spans()
    assert attrs(span)["error.type"] == type(caught.value).__name__
    assert attrs(span)["http.response.status_code"] == 529
    assert span.status.status_code.name == "ERROR"


@pytest.mark.parametrize("is_async", [False, True])
async def test_raw_response(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/v1/messages", p.message())
    raw = await resolve(
        client(server, is_async).messages.with_raw_response.create(
            model=MODEL, max_tokens=256, messages=MESSAGES
        )
    )
    parsed = await resolve(raw.parse())
    assert parsed.id == "msg_1"
    assert attrs(cap.spans()[0])["gen_ai.usage.input_tokens"] == 5100


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (anthropic_integration, "start_call"),
        (anthropic_integration, "message_outcome"),
        (anthropic_integration.MessageStreamHandler, "on_chunk"),
        (anthropic_integration.MessageStreamHandler, "outcome"),
        (anthropic_integration, "silence"),
    ],
)
async def test_faults_never_reach_the_caller(
    cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str
) -> None:
    server = FakeServer()
    server.json("/v1/messages", p.message())
    monkeypatch.setattr(owner, name, _boom)
    c = client(server, False)
    with llmtrace.testing.allow_internal_errors():
        assert c.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES).content[0].text == "Hi there"
        server.stream("/v1/messages", sse(p.events(["Hi"]), done=False, named=True))
        with c.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
            assert stream.get_final_text() == "Hi"
        events = await drain(
            await client(server, True).messages.create(
                model=MODEL, max_tokens=256, messages=MESSAGES, stream=True
            )
        )
    assert events[-1].type == "message_stop"


def test_exactly_one_span_per_call_despite_the_sdk_native_tracing() -> None:
    server = FakeServer()
    server.json("/v1/messages", p.message())
    server.json("/v1/messages/count_tokens", {"input_tokens": 3})
    before = client(server, False)  # existed before instrument(): env var not read by it
    assert "ANTHROPIC_OPEN_TELEMETRY" not in os.environ
    with llmtrace.testing.capture() as cap:
        assert os.environ["ANTHROPIC_OPEN_TELEMETRY"] == "false"
        forced = client(server, False, open_telemetry={})  # native tracing explicitly on
        forced.messages.count_tokens(model=MODEL, messages=MESSAGES)  # not ours: proves native spans reach us
        native = [s for s in cap.spans() if s.instrumentation_scope.name == "com.anthropic.sdk.python"]
        assert len(native) == 1
        for c in (before, forced, client(server, False)):
            c.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
        spans = cap.spans()
        scopes = [s.instrumentation_scope.name for s in spans]
        assert scopes.count("llmtrace") == 3
        assert scopes.count("com.anthropic.sdk.python") == 1  # only the count_tokens one from before
    assert "ANTHROPIC_OPEN_TELEMETRY" not in os.environ


@pytest.mark.parametrize("is_async", [False, True])
async def test_beta_messages_are_traced_like_messages(cap: CapturedSpans, is_async: bool) -> None:
    """``client.beta.messages``: create, create(stream=True) and the stream helper, one span each."""
    server = FakeServer()
    server.json("/v1/messages", p.message())
    beta = client(server, is_async).beta.messages
    result = await resolve(
        beta.create(
            model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES, betas=["mcp-client-2025-04-04"]
        )
    )
    assert result.content[0].text == "Hi there"
    assert server.requests[-1]["model"] == MODEL
    server.stream("/v1/messages", sse(p.events(["Hi", " there"]), done=False, named=True))
    events = await drain(
        await resolve(
            beta.create(model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES, stream=True)
        )
    )
    assert events[-1].type == "message_stop"
    if is_async:
        async with beta.stream(model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES) as stream:
            final = await stream.get_final_message()
    else:
        with beta.stream(model=MODEL, max_tokens=256, system="be brief", messages=MESSAGES) as stream:
            assert "".join(stream.text_stream) == "Hi there"
            final = stream.get_final_message()
    assert final.usage.output_tokens == 20
    spans = cap.spans()
    assert [s.instrumentation_scope.name for s in spans] == ["llmtrace"] * 3
    plain, streamed, helper = (timing_free(s) for s in spans)
    assert plain == {
        **BASE,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "llmtrace.output.chars": 8,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hi there"}], "finish_reason": "end_turn"}]',
    }
    assert streamed == {**plain, "gen_ai.request.stream": True}
    assert helper == {**plain, "gen_ai.request.stream": True}


def test_uninstrument_restores_the_beta_methods() -> None:
    from anthropic.resources.beta.messages.messages import AsyncMessages, Messages

    originals = {
        (c, m): c.__dict__[m] for c in (Messages, AsyncMessages) for m in ("create", "parse", "stream")
    }
    with llmtrace.testing.capture():
        assert all(c.__dict__[m] is not f for (c, m), f in originals.items())
    assert all(c.__dict__[m] is f for (c, m), f in originals.items())
