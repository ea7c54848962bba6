"""LiteLLM over the real openai client against a fake endpoint: one span per call, LiteLLM's provider."""

from __future__ import annotations

from typing import Any

import httpx
import litellm
import openai
import pytest
from genai_prices import Usage, calc_price
from litellm.llms.custom_httpx.http_handler import HTTPHandler

import llmtrace
import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.integrations import litellm as ll
from llmtrace.testing import CapturedSpans

from ..anthropic import anthropic_payloads
from ..anthropic.test_anthropic import COST as ANTHROPIC_COST
from ..conftest import attrs, resolve
from ..fakes import FakeServer, sse
from ..openai import openai_payloads as p
from ..openai.test_openai_calls import GPT4O_COST, MESSAGES


def sdk_client(server: FakeServer, is_async: bool, **kwargs: Any) -> Any:
    if is_async:
        return openai.AsyncOpenAI(api_key="k", http_client=server.async_client(), max_retries=0, **kwargs)
    return openai.OpenAI(api_key="k", http_client=server.sync_client(), max_retries=0, **kwargs)


def complete(is_async: bool, **kwargs: Any) -> Any:
    return litellm.acompletion(**kwargs) if is_async else litellm.completion(**kwargs)


@pytest.mark.parametrize("is_async", [False, True])
async def test_completion_is_one_span_with_the_providers_usage(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    result = await resolve(
        complete(
            is_async,
            model="openai/gpt-4o",
            messages=MESSAGES,
            temperature=0.3,
            client=sdk_client(server, is_async),
        )
    )
    assert result.choices[0].message.content == "Hello there"
    (span,) = cap.spans()  # the openai SDK call underneath adds no second span
    assert span.name == "chat gpt-4o"
    values = attrs(span)
    assert values["gen_ai.provider.name"] == "openai"
    assert values["gen_ai.request.model"] == "gpt-4o"
    assert values["gen_ai.request.temperature"] == 0.3
    assert values["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["gen_ai.usage.cache_read.input_tokens"] == 800
    assert values["gen_ai.usage.reasoning.output_tokens"] == 50
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    assert values["gen_ai.system_instructions"] == '[{"type": "text", "content": "be brief"}]'
    assert (
        values["gen_ai.input.messages"] == '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    )
    assert values["gen_ai.output.messages"] == (
        '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}]'
    )


@pytest.mark.parametrize("is_async", [False, True])
async def test_stream_is_one_span_with_streamed_usage(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    stream = await resolve(
        complete(
            is_async,
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            client=sdk_client(server, is_async),
        )
    )
    chunks = [c async for c in stream] if is_async else list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.request.stream"] is True
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.output.chars"] == 5
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert values["llmtrace.ttft_ms"] > 0


def litellm_http(payload: Any) -> HTTPHandler:
    """LiteLLM's own HTTP client (providers it calls without an SDK) over a fake transport."""
    body = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
    return HTTPHandler(
        client=httpx.Client(transport=httpx.MockTransport(lambda req: httpx.Response(200, json=body)))
    )


def test_provider_prefix_chooses_provider_and_price(cap: CapturedSpans) -> None:
    client = litellm_http(p.chat(model="llama-3.3-70b-versatile"))
    litellm.completion("groq/llama-3.3-70b-versatile", MESSAGES, client=client, api_key="k")
    values = attrs(cap.spans()[0])
    assert values["gen_ai.provider.name"] == "groq"
    assert values["gen_ai.request.model"] == "llama-3.3-70b-versatile"
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=800)
    expected = float(calc_price(usage, "llama-3.3-70b-versatile", provider_id="groq").total_price)
    assert values["llmtrace.cost.usd"] == pytest.approx(expected, rel=1e-12)


def test_anthropic_through_litellm_counts_cache_tokens_once(cap: CapturedSpans) -> None:
    litellm.completion(
        "anthropic/claude-sonnet-4-5",
        MESSAGES,
        client=litellm_http(anthropic_payloads.message()),
        api_key="k",
    )
    values = attrs(cap.spans()[0])
    assert values["gen_ai.provider.name"] == "anthropic"
    # LiteLLM reports Anthropic usage in OpenAI's shape: prompt tokens include the cache reads and writes
    assert values["gen_ai.usage.input_tokens"] == 5100
    assert values["gen_ai.usage.cache_read.input_tokens"] == 4000
    assert values["gen_ai.usage.cache_creation.input_tokens"] == 1000
    assert values["llmtrace.cost.usd"] == pytest.approx(ANTHROPIC_COST)


@pytest.mark.parametrize("is_async", [False, True])
async def test_errors_are_recorded_and_reraised(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.error("/chat/completions", 429, {"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(litellm.RateLimitError) as caught:
        await resolve(
            complete(is_async, model="gpt-4o", messages=MESSAGES, client=sdk_client(server, is_async))
        )
    (span,) = cap.spans()
    assert attrs(span)["error.type"] == type(caught.value).__name__ == "RateLimitError"
    assert attrs(span)["http.response.status_code"] == 429
    assert span.status.status_code.name == "ERROR"


def test_faults_never_reach_the_caller(cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault")

    server = FakeServer()
    server.json("/chat/completions", p.chat())
    monkeypatch.setattr(ll, "start_call", boom)
    with llmtrace.testing.allow_internal_errors():
        result = litellm.completion(model="gpt-4o", messages=MESSAGES, client=sdk_client(server, False))
    assert result.choices[0].message.content == "Hello there"


def test_uninstrument_restores_litellm() -> None:
    original = litellm.__dict__["completion"], litellm.__dict__["acompletion"]
    with llmtrace.testing.capture():
        assert isinstance(litellm.__dict__["completion"], _common.LlmtraceWrapper)
        assert isinstance(litellm.__dict__["acompletion"], _common.LlmtraceWrapper)
    assert (litellm.__dict__["completion"], litellm.__dict__["acompletion"]) == original
