"""Every patched OpenAI method, sync and async, stream and not, against a fake endpoint at the HTTP seam."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from genai_prices import Usage, calc_price
from pydantic import BaseModel

from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve, timing_free
from ..fakes import FakeServer, sse
from . import openai_payloads as p

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
# gpt-4o: $2.50/M input, $1.25/M cached input, $10/M output -> 200 uncached + 800 cached + 200 out.
GPT4O_COST = (200 * 2.5 + 800 * 1.25 + 200 * 10) / 1e6


def client(server: FakeServer, is_async: bool, **kwargs: Any) -> Any:
    if is_async:
        return openai.AsyncOpenAI(
            api_key="sk-test", http_client=server.async_client(), max_retries=0, **kwargs
        )
    return openai.OpenAI(api_key="sk-test", http_client=server.sync_client(), max_retries=0, **kwargs)


CHAT_BASE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "llmtrace.span.kind": "llm",
    "gen_ai.request.model": "gpt-4o",
    "server.address": "api.openai.com",
    "server.port": 443,
    "openai.api.type": "chat_completions",
    "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
}


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_create_records_the_whole_call(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    result = await resolve(
        client(server, is_async).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, temperature=0.5, max_tokens=50, stop="END", seed=7
        )
    )
    assert result.choices[0].message.content == "Hello there"
    (span,) = cap.spans()
    assert span.name == "chat gpt-4o"
    assert span.kind.name == "CLIENT"
    assert attrs(span) == {
        **CHAT_BASE,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.seed": 7,
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ("stop",),
        "openai.response.system_fingerprint": "fp_1",
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.reasoning.output_tokens": 50,
        "llmtrace.output.chars": 11,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}]',
        "llmtrace.cost.usd": pytest.approx(GPT4O_COST),
    }
    assert span.status.status_code.name == "UNSET"


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_tool_calls(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat(content=None, tool_calls=[p.tool_call()]))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    await resolve(
        client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=tools)
    )
    values = attrs(cap.spans()[0])
    assert json.loads(values["llmtrace.tool_calls"]) == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert json.loads(values["gen_ai.tool.definitions"]) == tools
    assert values["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert values["llmtrace.output.chars"] == len('{"city": "Paris"}')


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_stream_without_usage_is_estimated(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    stream = await resolve(
        client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    )
    chunks = await drain(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hel", "lo", None]
    (span,) = cap.spans()
    values = timing_free(span)
    assert values == {
        **CHAT_BASE,
        "gen_ai.request.stream": True,
        "gen_ai.response.id": "chatcmpl-s",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.finish_reasons": ("stop",),
        "llmtrace.usage.source": "estimated",
        "gen_ai.usage.input_tokens": 3,  # ceil(len("be brief") + len("hi") = 10 chars / 4)
        "gen_ai.usage.output_tokens": 2,  # ceil(5 / 4)
        "llmtrace.output.chars": 5,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}]',
        "llmtrace.cost.usd": pytest.approx((3 * 2.5 + 2 * 10) / 1e6),
    }
    assert (
        span.attributes["llmtrace.ttft_ms"] >= span.attributes["gen_ai.response.time_to_first_chunk"] * 1000
    )


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_stream_usage_asked_by_caller_is_reported_and_visible(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hi"], usage=True)))
    stream = await resolve(
        client(server, is_async).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    chunks = await drain(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 1000
    values = attrs(cap.spans()[0])
    assert values["llmtrace.usage.source"] == "reported"
    assert values["gen_ai.usage.input_tokens"] == 1000
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)


def _tier_cost(tier: str) -> float:
    """gpt-5's price of the payloads' usage (1,000 in of which 800 cached, 200 out, 50 reasoning)."""
    usage = Usage(input_tokens=1000, cache_read_tokens=800, output_tokens=200, output_reasoning_tokens=50)
    return float(
        calc_price(usage, "gpt-5", provider_id="openai", price_context={"service_tier": tier}).total_price
    )


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(("tier", "stream"), [("priority", False), ("flex", True)])
async def test_the_service_tier_that_served_the_call_is_priced(
    cap: CapturedSpans, is_async: bool, tier: str, stream: bool
) -> None:
    """Flex is about half the standard price and priority about twice (gpt-5)."""
    server = FakeServer()
    if stream:
        chunks = [c | {"service_tier": tier, "model": "gpt-5"} for c in p.chat_chunks(["Hi"], usage=True)]
        server.stream("/chat/completions", sse(chunks))
    else:
        server.json(
            "/chat/completions", p.chat(model="gpt-5").model_dump(mode="json") | {"service_tier": tier}
        )
    result = await resolve(
        client(server, is_async).chat.completions.create(
            model="gpt-5", messages=MESSAGES, service_tier=tier, stream=stream
        )
    )
    if stream:
        await drain(result)
    values = attrs(cap.spans()[0])
    assert values["openai.response.service_tier"] == tier
    assert values["llmtrace.cost.usd"] == pytest.approx(_tier_cost(tier))
    assert values["llmtrace.cost.usd"] != pytest.approx(_tier_cost("default"))


@pytest.mark.parametrize("is_async", [False, True])
async def test_responses_web_searches_are_priced(cap: CapturedSpans, is_async: bool) -> None:
    """Two searches of the web search tool ($10 per 1,000 on gpt-4o); opening a page is not one."""
    body = p.response().model_dump(mode="json")
    searches = [
        ("ws_1", {"type": "search", "query": "llm tracing"}),
        ("ws_2", {"type": "search", "query": "otel"}),
    ]
    opened = ("ws_3", {"type": "open_page", "url": "https://example.com"})
    body["output"][:0] = [
        {"id": i, "type": "web_search_call", "status": "completed", "action": action}
        for i, action in [*searches, opened]
    ]
    server = FakeServer()
    server.json("/responses", body)
    await resolve(
        client(server, is_async).responses.create(model="gpt-4o", input="hi", tools=[{"type": "web_search"}])
    )
    values = attrs(cap.spans()[0])
    assert values["llmtrace.usage.web_searches"] == 2
    usage = Usage(input_tokens=1000, cache_read_tokens=800, output_tokens=200, output_reasoning_tokens=50)
    usage.web_searches = 2
    assert values["llmtrace.cost.usd"] == pytest.approx(
        float(calc_price(usage, "gpt-4o", provider_id="openai").total_price)
    )
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST + 0.02)


@pytest.mark.parametrize("is_async", [False, True])
async def test_injected_stream_usage_is_hidden_from_the_caller(is_async: bool) -> None:
    import llmtrace.testing

    server = FakeServer()
    server.stream("/chat/completions", p.chat_stream_usage_if_asked(["Hi"]))
    with llmtrace.testing.capture(openai_stream_usage=True) as cap:
        chunks = await drain(
            await resolve(
                client(server, is_async).chat.completions.create(
                    model="gpt-4o", messages=MESSAGES, stream=True
                )
            )
        )
        assert server.requests[-1]["stream_options"] == {"include_usage": True}
        assert all(c.choices for c in chunks)  # the usage-only chunk never reached the caller
        assert len(chunks) == 3
        values = attrs(cap.spans()[0])
        assert values["llmtrace.usage.source"] == "reported"
        assert values["gen_ai.usage.output_tokens"] == 200
        # Not asked of an endpoint that is not api.openai.com.
        other = client(server, is_async, base_url="https://openrouter.ai/api/v1")
        await drain(
            await resolve(
                other.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES, stream=True)
            )
        )
        assert "stream_options" not in server.requests[-1]
        assert attrs(cap.spans()[-1])["gen_ai.provider.name"] == "openrouter"


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_stream_tool_call_deltas_are_joined(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks([], tools=True)))
    await drain(
        await resolve(
            client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        )
    )
    values = attrs(cap.spans()[0])
    assert json.loads(values["llmtrace.tool_calls"]) == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert values["gen_ai.response.finish_reasons"] == ("tool_calls",)


@pytest.mark.parametrize("is_async", [False, True])
async def test_long_stream_keeps_every_delta_tool_call_and_hides_only_our_usage_chunk(is_async: bool) -> None:
    """A stream far longer than the handler's read batch: text, then tool-call deltas, then the
    finish and the injected usage chunk, all read in order and the usage chunk hidden."""
    import llmtrace.testing

    words = [f"w{i} " for i in range(150)]
    server = FakeServer()
    server.stream(
        "/chat/completions",
        lambda req: sse(
            p.chat_chunks(
                words, tools=True, usage=bool((req.get("stream_options") or {}).get("include_usage"))
            )
        ),
    )
    with llmtrace.testing.capture(openai_stream_usage=True) as cap:
        chunks = await drain(
            await resolve(
                client(server, is_async).chat.completions.create(
                    model="gpt-4o", messages=MESSAGES, stream=True
                )
            )
        )
        assert all(c.choices for c in chunks) and len(chunks) == 1 + len(words) + 3 + 1
        values = attrs(cap.spans()[0])
    text = "".join(words)
    (message,) = json.loads(values["gen_ai.output.messages"])
    assert message["parts"][0] == {"type": "text", "content": text}
    assert message["parts"][1]["name"] == "get_weather"
    assert message["parts"][1]["arguments"] == '{"city": "Paris"}'
    assert values["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert values["llmtrace.output.chars"] == len(text) + len('{"city": "Paris"}')
    assert values["llmtrace.usage.source"] == "reported"
    assert values["gen_ai.usage.output_tokens"] == 200


class Answer(BaseModel):
    text: str


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_parse(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat(content='{"text": "ok"}'))
    result = await resolve(
        client(server, is_async).chat.completions.parse(
            model="gpt-4o", messages=MESSAGES, response_format=Answer
        )
    )
    assert result.choices[0].message.parsed == Answer(text="ok")
    (span,) = cap.spans()
    assert attrs(span)["gen_ai.output.type"] == "json"
    assert attrs(span)["gen_ai.usage.input_tokens"] == 1000


async def test_chat_stream_helper_sync_gives_one_span(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    with client(server, False).chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        events = [e.type for e in stream]
        assert stream.get_final_completion().choices[0].message.content == "Hello"
    assert "content.delta" in events
    (span,) = cap.spans()
    assert attrs(span)["llmtrace.output.chars"] == 5
    assert "llmtrace.status" not in attrs(span)


async def test_chat_stream_helper_async_gives_one_span(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    async with client(server, True).chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        async for _ in stream:
            pass
        assert (await stream.get_final_completion()).choices[0].message.content == "Hello"
    (span,) = cap.spans()
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("stop",)


RESPONSES_BASE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "llmtrace.span.kind": "llm",
    "gen_ai.request.model": "gpt-4o",
    "server.address": "api.openai.com",
    "server.port": 443,
    "openai.api.type": "responses",
    "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
    "gen_ai.response.id": "resp_1",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.finish_reasons": ("completed",),
    "llmtrace.usage.source": "reported",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 200,
    "gen_ai.usage.cache_read.input_tokens": 800,
    "gen_ai.usage.reasoning.output_tokens": 50,
    "llmtrace.output.chars": 11,
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "completed"}]',
    "llmtrace.cost.usd": pytest.approx(GPT4O_COST),
}


@pytest.mark.parametrize("is_async", [False, True])
async def test_responses_create(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/responses", p.response())
    result = await resolve(
        client(server, is_async).responses.create(
            model="gpt-4o", instructions="be brief", input="hi", max_output_tokens=64
        )
    )
    assert result.output_text == "Hello there"
    assert attrs(cap.spans()[0]) == {**RESPONSES_BASE, "gen_ai.request.max_tokens": 64}


@pytest.mark.parametrize("is_async", [False, True])
async def test_responses_stream(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/responses", sse(p.response_events(["Hello", " there"]), done=False))
    events = await drain(
        await resolve(
            client(server, is_async).responses.create(
                model="gpt-4o", instructions="be brief", input="hi", stream=True
            )
        )
    )
    assert events[-1].type == "response.completed"
    assert timing_free(cap.spans()[0]) == {**RESPONSES_BASE, "gen_ai.request.stream": True}


@pytest.mark.parametrize("is_async", [False, True])
async def test_responses_parse(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/responses", p.response('{"text": "ok"}'))
    result = await resolve(
        client(server, is_async).responses.parse(model="gpt-4o", input="hi", text_format=Answer)
    )
    assert result.output_parsed == Answer(text="ok")
    (span,) = cap.spans()
    assert attrs(span)["gen_ai.output.type"] == "json"
    assert attrs(span)["gen_ai.usage.output_tokens"] == 200


async def test_responses_stream_helper_sync_and_async_give_one_span_each(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/responses", sse(p.response_events(["Hello", " there"]), done=False))
    with client(server, False).responses.stream(model="gpt-4o", input="hi") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == "Hello there"
    async with client(server, True).responses.stream(model="gpt-4o", input="hi") as astream:
        async for _ in astream:
            pass
    spans = cap.spans()
    assert len(spans) == 2
    assert all(attrs(s)["gen_ai.usage.input_tokens"] == 1000 for s in spans)


@pytest.mark.parametrize("is_async", [False, True])
async def test_embeddings(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/embeddings", p.embeddings())
    result = await resolve(
        client(server, is_async).embeddings.create(
            model="text-embedding-3-small", input="hello", encoding_format="float"
        )
    )
    assert result.data[0].embedding == [0.1, 0.2]
    assert attrs(cap.spans()[0]) == {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "llmtrace.span.kind": "embedding",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.request.encoding_formats": ("float",),
        "server.address": "api.openai.com",
        "server.port": 443,
        "openai.api.type": "embeddings",
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hello"}]}]',
        "gen_ai.response.model": "text-embedding-3-small",
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 0,
        "llmtrace.output.chars": 0,
        "llmtrace.cost.usd": pytest.approx(1000 * 0.02 / 1e6),
    }
    assert cap.spans()[0].name == "embeddings text-embedding-3-small"


@pytest.mark.parametrize("is_async", [False, True])
async def test_legacy_completions(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/completions", p.completion())
    c = client(server, is_async)
    result = await resolve(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi"))
    assert result.choices[0].text == "Hello there"
    server.stream("/completions", sse(p.completion_chunks(["Hel", "lo"])))
    chunks = await drain(
        await resolve(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True))
    )
    assert [ch.choices[0].text for ch in chunks] == ["Hel", "lo", ""]
    plain, streamed = cap.spans()
    assert plain.name == "text_completion gpt-3.5-turbo-instruct"
    assert attrs(plain)["gen_ai.usage.input_tokens"] == 1000
    assert (
        attrs(plain)["gen_ai.output.messages"]
        == '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}]'
    )
    assert attrs(streamed)["llmtrace.output.chars"] == 5
    assert attrs(streamed)["llmtrace.usage.source"] == "estimated"
    assert attrs(streamed)["gen_ai.usage.input_tokens"] == 2  # ceil(len("Say hi") / 4)


@pytest.mark.parametrize("is_async", [False, True])
async def test_azure_client_is_provider_azure_ai_openai(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat(model="gpt-4o-2024-08-06"))
    cls = openai.AsyncAzureOpenAI if is_async else openai.AzureOpenAI
    http = server.async_client() if is_async else server.sync_client()
    azure = cls(
        api_key="k",
        azure_endpoint="https://acme.openai.azure.com",
        api_version="2024-10-21",
        http_client=http,
        max_retries=0,
    )
    await resolve(azure.chat.completions.create(model="my-deployment", messages=MESSAGES))
    values = attrs(cap.spans()[0])
    assert values["gen_ai.provider.name"] == "azure.ai.openai"
    assert values["server.address"] == "acme.openai.azure.com"
    assert values["gen_ai.request.model"] == "my-deployment"
    assert "llmtrace.cost.usd" in values  # priced by the response model (the deployment name is unknown)


async def test_capture_content_off_records_no_text() -> None:
    import llmtrace.testing

    server = FakeServer()
    server.json(
        "/chat/completions",
        p.chat(content="secret answer", tool_calls=[p.tool_call(arguments='{"ssn": "1"}')]),
    )
    with llmtrace.testing.capture(capture_content=False) as cap:
        client(server, False).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, tools=[{"type": "function", "function": {"name": "f"}}]
        )
        values = attrs(cap.spans()[0])
    assert not {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
    } & set(values)
    assert json.loads(values["llmtrace.tool_calls"]) == [{"id": "call_1", "name": "get_weather"}]
    assert "secret" not in json.dumps(values) and "ssn" not in json.dumps(values)
    assert values["llmtrace.output.chars"] == len("secret answer") + len('{"ssn": "1"}')


async def test_generator_messages_are_not_consumed_by_telemetry(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    client(server, False).chat.completions.create(model="gpt-4o", messages=(m for m in MESSAGES))
    assert server.requests[-1]["messages"] == MESSAGES
    assert attrs(cap.spans()[0])["gen_ai.input.messages"] == CHAT_BASE["gen_ai.input.messages"]
