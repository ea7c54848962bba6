"""The demo's fake provider against the real openai and anthropic SDK clients (sync, async, streams)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from llmtrace.demo.behaviour import count_tokens
from llmtrace.demo.fake_provider import FakeProvider

PROMPT = "Summarize this support thread: " + "the customer wants a refund for order 1234. " * 40


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(seed=3, latency_scale=0.0, error_rate=0.0) as provider:
        yield provider


@pytest.fixture
def oai(fake: FakeProvider) -> Any:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="demo", max_retries=0)


@pytest.fixture
def claude(fake: FakeProvider) -> Any:
    return anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="demo", max_retries=0)


def test_chat_completion_usage_follows_prompt_length(oai: Any) -> None:
    result = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    assert result.usage is not None
    assert result.usage.prompt_tokens == count_tokens(PROMPT) == len(PROMPT) // 4 + (len(PROMPT) % 4 > 0)
    text = result.choices[0].message.content or ""
    assert result.usage.completion_tokens == len(text.split(" ")) > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "gpt-4o-mini"


def test_chat_stream_with_usage_matches_the_plain_answer(oai: Any) -> None:
    messages = [{"role": "user", "content": PROMPT}]
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert usage_chunk.usage.completion_tokens == len(text.split(" "))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert usage_chunk.usage.prompt_tokens == count_tokens(PROMPT)

    without_usage = list(oai.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
    assert all(c.usage is None and c.choices for c in without_usage)


def test_chat_stream_helper_and_max_tokens(oai: Any) -> None:
    messages = [{"role": "user", "content": PROMPT}]
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=messages) as stream:
        final = stream.get_final_completion()
    plain = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert final.choices[0].message.content == plain.choices[0].message.content  # same request, same answer
    capped = oai.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=5)
    assert capped.choices[0].finish_reason == "length"
    assert len((capped.choices[0].message.content or "").split(" ")) == 5


def test_embeddings_float_and_base64(oai: Any, fake: FakeProvider) -> None:
    result = oai.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta gamma"], dimensions=64
    )
    assert [len(d.embedding) for d in result.data] == [64, 64]
    assert abs(sum(v * v for v in result.data[0].embedding) - 1.0) < 1e-4
    assert result.usage.prompt_tokens == count_tokens("alpha") + count_tokens("beta gamma")
    as_float = oai.embeddings.create(
        model="text-embedding-3-small", input="alpha", dimensions=64, encoding_format="float"
    )
    assert as_float.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)


def test_responses_plain_and_streamed(oai: Any) -> None:
    plain = oai.responses.create(model="gpt-4o-mini", input=PROMPT, instructions="Be brief.")
    assert plain.usage is not None and plain.usage.input_tokens == count_tokens("Be brief.\n" + PROMPT)
    assert plain.output_text and plain.usage.output_tokens == len(plain.output_text.split(" "))
    with oai.responses.stream(model="gpt-4o-mini", input=PROMPT, instructions="Be brief.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == plain.output_text  # same request, same answer
    assert final.usage is not None and final.usage.output_tokens == plain.usage.output_tokens


def test_anthropic_message_with_prompt_cache(claude: Any) -> None:
    system: list[dict[str, Any]] = [
        {"type": "text", "text": "You are a support agent. " * 200, "cache_control": {"type": "ephemeral"}}
    ]
    message = claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=4000,
        system=system,
        messages=[{"role": "user", "content": PROMPT}],
    )
    usage = message.usage
    cache = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert cache == count_tokens(system[0]["text"])  # either read from or written to the cache
    total = usage.input_tokens + cache
    assert total == count_tokens(system[0]["text"] + "\n" + PROMPT)
    assert message.stop_reason == "end_turn"
    assert usage.output_tokens == len(message.content[0].text.split(" "))


def test_anthropic_stream_usage_is_cumulative_and_complete(claude: Any) -> None:
    kwargs = {
        "model": "claude-haiku-4-5",
        "max_tokens": 30,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    with claude.messages.stream(**kwargs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 30 == len(text.split(" "))
    assert final.usage.input_tokens == count_tokens(PROMPT)
    events = [e.type for e in claude.messages.create(stream=True, **kwargs)]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(
        events
    )


async def test_async_clients(fake: FakeProvider) -> None:
    aoai = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="demo", max_retries=0)
    chunks = [
        c
        async for c in await aoai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    ]
    assert chunks[0].choices[0].delta.role == "assistant"
    aclaude = anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="demo", max_retries=0)
    message = await aclaude.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.usage.input_tokens == count_tokens("hi")


def test_answers_are_deterministic_per_seed() -> None:
    def answer(seed: int) -> str:
        with FakeProvider(seed=seed, latency_scale=0.0, error_rate=0.0) as provider:
            client = openai.OpenAI(base_url=provider.openai_base_url, api_key="demo", max_retries=0)
            result = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
            )
            return result.choices[0].message.content or ""

    assert answer(11) == answer(11)
    assert answer(11) != answer(12)


def test_errors_use_each_providers_error_bodies() -> None:
    with FakeProvider(seed=0, latency_scale=0.0, error_rate=1.0) as provider:
        client = openai.OpenAI(base_url=provider.openai_base_url, api_key="demo", max_retries=0)
        statuses = set()
        for i in range(12):
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                )
            statuses.add(caught.value.status_code)
            assert isinstance(caught.value.body, dict) and caught.value.body["message"]
            if caught.value.status_code == 429:
                assert isinstance(caught.value, openai.RateLimitError)
        assert 429 in statuses and statuses <= {429, 500, 529}

        claude = anthropic.Anthropic(base_url=provider.anthropic_base_url, api_key="demo", max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as failed:
            claude.messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "q"}]
            )
        assert failed.value.body["type"] == "error"  # type: ignore[index]
        assert failed.value.body["error"]["type"] in {"rate_limit_error", "api_error", "overloaded_error"}  # type: ignore[index]
        assert sum(provider.requests.values()) == 13


def test_sdk_retries_honour_retry_after_ms() -> None:
    """A 429 carries retry-after-ms, so the SDK's default retries are quick, not seconds long."""
    with FakeProvider(seed=0, latency_scale=0.0, error_rate=1.0) as provider:
        content = next(
            f"q{i}"
            for i in range(100)
            if provider.answer(
                "/v1/chat/completions",
                json.dumps(
                    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
                ).encode(),
            ).status
            == 429
        )
        client = openai.OpenAI(base_url=provider.openai_base_url, api_key="demo", max_retries=2)
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
            )
        assert provider.requests[("/v1/chat/completions", 429)] == 3  # the same body gets the same answer
        assert time.monotonic() - started < 0.5  # without retry-after-ms the SDK would back off >= 1 s


def test_latency_is_scaled_and_streams_are_paced() -> None:
    with FakeProvider(seed=5, latency_scale=0.2, error_rate=0.0) as provider:
        client = openai.OpenAI(base_url=provider.openai_base_url, api_key="demo", max_retries=0)
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        first_content = None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content and first_content is None:
                first_content = time.monotonic() - started
        total = time.monotonic() - started
    assert first_content is not None
    assert 0.005 < first_content < total < 2.0  # ~70 ms TTFT, generation after it


def test_bad_requests_get_4xx(fake: FakeProvider) -> None:
    response = httpx2.post(fake.openai_base_url + "/chat/completions", content=b"{not json")
    assert response.status_code == 400 and "error" in response.json()
    response = httpx2.post(fake.url + "/v1/nowhere", json={"model": "m"})
    assert response.status_code == 404
    response = httpx2.post(fake.url + "/v1/messages", json={"messages": []})
    assert response.status_code == 400 and response.json()["type"] == "error"


def test_outcome_without_http_matches_the_http_answer(fake: FakeProvider, claude: Any) -> None:
    """The backfilled history uses ``outcome()``; it must be what the SDK clients get over HTTP."""
    request = {
        "model": "claude-haiku-4-5",
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    planned = fake.outcome("/v1/messages", request)
    message = claude.messages.create(**request)  # type: ignore[call-overload]
    assert planned.input_tokens == message.usage.input_tokens
    assert planned.output_tokens == message.usage.output_tokens
    assert planned.text == message.content[0].text  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="does not serve"):
        fake.outcome("/v1/nowhere", request)
