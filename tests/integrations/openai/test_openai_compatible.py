"""OpenAI-compatible servers reached with the openai client's ``base_url``: provider, usage, cost.

Each server is the real openai client against a fake at the HTTP seam, with the usage shape that
server sends (Together and DeepSeek on the last chunk, Groq as ``x_groq.usage``, vLLM and Ollama
only when asked). Expected costs come from genai-prices itself.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from genai_prices import Usage, calc_price

import llmtrace.testing
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve
from ..fakes import FakeServer, sse
from . import openai_payloads as p
from .test_openai_calls import MESSAGES

# (base URL, model, gen_ai.provider.name, genai-prices provider id or None when no price applies)
SERVERS = [
    ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq", "groq"),
    ("https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", "together"),
    ("https://api.deepseek.com", "deepseek-chat", "deepseek", "deepseek"),
    ("https://openrouter.ai/api/v1", "openai/gpt-4o", "openrouter", "openrouter"),
    ("https://api.mistral.ai/v1", "mistral-large-latest", "mistral_ai", "mistral"),
    ("http://localhost:11434/v1", "llama3.2", "ollama", None),
    ("http://vllm.internal:8000/v1", "meta-llama/Llama-3.3-70B-Instruct", "vllm", None),
    ("http://127.0.0.1:8000/v1", "gpt-4o", "openai", "openai"),  # an unknown host keeps the SDK's name
]


def _client(server: FakeServer, base_url: str, is_async: bool) -> Any:
    if is_async:
        return openai.AsyncOpenAI(
            api_key="k", base_url=base_url, http_client=server.async_client(), max_retries=0
        )
    return openai.OpenAI(api_key="k", base_url=base_url, http_client=server.sync_client(), max_retries=0)


def _expected_cost(provider_id: str | None, model: str) -> float | None:
    if provider_id is None:
        return None
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=800)
    return float(calc_price(usage, model, provider_id=provider_id).total_price)


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(("base_url", "model", "provider", "price_id"), SERVERS)
async def test_compatible_server_is_recorded_and_priced_as_itself(
    cap: CapturedSpans, is_async: bool, base_url: str, model: str, provider: str, price_id: str | None
) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat(model=model))
    await resolve(_client(server, base_url, is_async).chat.completions.create(model=model, messages=MESSAGES))
    values = attrs(cap.spans()[0])
    assert values["gen_ai.provider.name"] == provider
    assert values["gen_ai.request.model"] == model
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    expected = _expected_cost(price_id, model)
    if expected is None:  # self-hosted: no per-token price, even for a model a cloud also serves
        assert "llmtrace.cost.usd" not in values
    else:
        assert values["llmtrace.cost.usd"] == pytest.approx(expected, rel=1e-12)


def _usage_on_last_chunk(words: list[str]) -> list[dict[str, Any]]:
    """Together / DeepSeek: usage rides on the finish chunk, which still has its choice."""
    chunks = p.chat_chunks(words)
    chunks[-1]["usage"] = p.USAGE.model_dump(mode="json")
    return chunks


def _groq_usage(words: list[str]) -> list[dict[str, Any]]:
    chunks = p.chat_chunks(words)
    chunks[-1]["x_groq"] = {"id": "req_1", "usage": {"prompt_tokens": 1000, "completion_tokens": 200}}
    return chunks


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("base_url", "model", "chunks", "cached"),
    [
        ("https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", _usage_on_last_chunk, 800),
        ("https://api.deepseek.com", "deepseek-chat", _usage_on_last_chunk, 800),
        ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", _groq_usage, 0),
    ],
)
async def test_stream_usage_the_server_sends_is_reported(
    cap: CapturedSpans, is_async: bool, base_url: str, model: str, chunks: Any, cached: int
) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(chunks(["Hel", "lo"])))
    stream = await resolve(
        _client(server, base_url, is_async).chat.completions.create(
            model=model, messages=MESSAGES, stream=True
        )
    )
    received = await drain(stream)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Hello"
    assert "stream_options" not in server.requests[-1]  # nothing asked: injection is off by default
    values = attrs(cap.spans()[0])
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values.get("gen_ai.usage.cache_read.input_tokens", 0) == cached
    assert values["llmtrace.cost.usd"] > 0
    assert values["llmtrace.output.chars"] == 5


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("base_url", "asked"),
    [
        ("http://localhost:11434/v1", True),  # Ollama
        ("http://vllm.internal:8000/v1", True),
        ("https://my.openai.azure.com/openai/v1", False),  # older Azure API versions reject the option
    ],
)
async def test_stream_usage_is_asked_only_of_servers_that_accept_it(
    is_async: bool, base_url: str, asked: bool
) -> None:
    server = FakeServer()
    server.stream("/chat/completions", p.chat_stream_usage_if_asked(["Hi"]))
    with llmtrace.testing.capture(openai_stream_usage=True) as cap:
        received = await drain(
            await resolve(
                _client(server, base_url, is_async).chat.completions.create(
                    model="llama3.2", messages=MESSAGES, stream=True
                )
            )
        )
        assert ("stream_options" in server.requests[-1]) is asked
        assert all(c.choices for c in received)  # a usage-only chunk we asked for is never seen
        values = attrs(cap.spans()[0])
        assert values["llmtrace.usage.source"] == ("reported" if asked else "estimated")
        if asked:
            assert values["gen_ai.usage.output_tokens"] == 200


GEMINI_OPENAI = "https://generativelanguage.googleapis.com/v1beta/openai/"


def _gemini_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chunk as Gemini's OpenAI-compatible endpoint sends it: tool calls carry no ``index``."""
    choice: dict[str, Any] = {"delta": delta, "index": 0}
    if finish is not None:
        choice["finish_reason"] = finish
    return {
        "choices": [choice],
        "created": 1,
        "id": "gem-1",
        "model": "gemini-2.5-flash",
        "object": "chat.completion.chunk",
        **extra,
    }


def _indexless_call(call_id: str, name: str | None, arguments: str) -> dict[str, Any]:
    function = {"arguments": arguments} | ({"name": name} if name else {})
    return {"role": "assistant", "tool_calls": [{"function": function, "id": call_id, "type": "function"}]}


@pytest.mark.parametrize("is_async", [False, True])
async def test_gemini_stream_tool_calls_without_index_stay_apart(cap: CapturedSpans, is_async: bool) -> None:
    """Gemini's OpenAI-compatible stream numbers no tool calls: a new id is a new call, a delta
    with an empty id continues the last one, and the stream ends with "stop" and its usage."""
    server = FakeServer()
    server.stream(
        "/chat/completions",
        sse(
            [
                _gemini_chunk(_indexless_call("function-call-1", "get_weather", '{"city": "Sydney"}')),
                _gemini_chunk(_indexless_call("function-call-2", "get_time", '{"city": ')),
                _gemini_chunk(_indexless_call("", None, '"Paris"}')),
                _gemini_chunk(
                    {"role": "assistant"},
                    "stop",
                    usage={"completion_tokens": 20, "prompt_tokens": 50, "total_tokens": 70},
                ),
            ]
        ),
    )
    client = _client(server, GEMINI_OPENAI, is_async)
    await drain(
        await resolve(
            client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True)
        )
    )
    values = attrs(cap.spans()[0])
    calls = [
        {"id": "function-call-1", "name": "get_weather", "arguments": '{"city": "Sydney"}'},
        {"id": "function-call-2", "name": "get_time", "arguments": '{"city": "Paris"}'},
    ]
    assert json.loads(values["llmtrace.tool_calls"]) == calls
    (message,) = json.loads(values["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "tool_call", **call} for call in calls]
    assert values["gen_ai.provider.name"] == "gcp.gemini"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (50, 20)
    price = calc_price(Usage(input_tokens=50, output_tokens=20), "gemini-2.5-flash", provider_id="google")
    assert values["llmtrace.cost.usd"] == pytest.approx(float(price.total_price))


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("choices", "finish_reasons"),
    [(None, None), ([{"finish_reason": "content_filter", "index": 0, "message": None}], ("content_filter",))],
)
async def test_response_without_choices_or_message_keeps_its_usage(
    cap: CapturedSpans, is_async: bool, choices: Any, finish_reasons: Any
) -> None:
    """A compatible server's answer with ``choices: null``, or a choice whose message is
    ``null``, is still a call with its id and usage."""
    server = FakeServer()
    server.json("/chat/completions", p.chat(model="llama3.2").model_dump(mode="json") | {"choices": choices})
    client = _client(server, "http://localhost:11434/v1", is_async)
    await resolve(client.chat.completions.create(model="llama3.2", messages=MESSAGES))
    values = attrs(cap.spans()[0])
    assert values["gen_ai.response.id"] == "chatcmpl-1"
    assert values.get("gen_ai.response.finish_reasons") == finish_reasons
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.usage.source"] == "reported"


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_null_choice_or_tool_call_loses_only_itself(cap: CapturedSpans, is_async: bool) -> None:
    """A malformed answer with a ``null`` among its choices or tool calls: the call keeps its
    usage, cost and the tool call that was there (the whole outcome was lost)."""
    body = p.chat(content=None, tool_calls=[p.tool_call()]).model_dump(mode="json")
    body["choices"] = [None, *body["choices"]]
    body["choices"][1]["message"]["tool_calls"].insert(0, None)
    server = FakeServer()
    server.json("/chat/completions", body)
    client = _client(server, "http://127.0.0.1:8000/v1", is_async)
    await resolve(client.chat.completions.create(model="gpt-4o", messages=MESSAGES))
    values = attrs(cap.spans()[0])
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.cost.usd"] > 0
    assert [call["name"] for call in json.loads(values["llmtrace.tool_calls"])] == ["get_weather"]


async def _streamed(cap: CapturedSpans, chunks: list[dict[str, Any]], is_async: bool) -> dict[str, Any]:
    """The span's attributes after a gpt-4o stream of ``chunks`` from an OpenAI-compatible server."""
    server = FakeServer()
    server.stream("/chat/completions", sse(chunks))
    client = _client(server, "http://127.0.0.1:8000/v1", is_async)
    await drain(
        await resolve(
            client.chat.completions.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
    )
    return attrs(cap.spans()[0])


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_stream_choice_with_a_null_index_keeps_the_streams_outcome(
    cap: CapturedSpans, is_async: bool
) -> None:
    """One chunk's choice ``index: null`` (a malformed stream): the text, finish reason and usage
    are still recorded (the stream's whole outcome was lost)."""
    chunks = p.chat_chunks(["Hel", "lo"], usage=True)
    chunks[1]["choices"][0]["index"] = None
    values = await _streamed(cap, chunks, is_async)
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.output.chars"] == 5
    assert "stop" in values["gen_ai.response.finish_reasons"]


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_null_among_a_chunks_choices_or_tool_calls_loses_only_itself(
    cap: CapturedSpans, is_async: bool
) -> None:
    """A malformed chunk with a ``null`` before a choice or a tool-call delta: what follows the
    ``null`` in that chunk is still recorded (it was lost with the chunk)."""
    chunks = p.chat_chunks([], usage=True, tools=True)
    for chunk in chunks:
        delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
        if delta.get("tool_calls"):
            delta["tool_calls"].insert(0, None)
            chunk["choices"].insert(0, None)
    values = await _streamed(cap, chunks, is_async)
    (call,) = json.loads(values["llmtrace.tool_calls"])
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city": "Paris"}')
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
