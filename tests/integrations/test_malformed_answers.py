"""Malformed provider answers: what the caller gets is never changed, and llmtrace still records.

Servers that speak a provider's API (compatible servers, proxies, gateways) send ``null`` where
an object or a text is due, or leave keys out. For each call shape, seeded mutations of a real
answer (one to three values set to ``null`` or removed) go through the real SDK twice: without
llmtrace, and instrumented. The caller's result (or exception) must be the same, and the call
must give its one span. Under pytest llmtrace's internal errors re-raise into the caller, so a
recording failure anywhere (a chunk, the outcome) fails the comparison with the seed that made it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from google.genai import types
from mistralai.client import Mistral

import llmtrace.testing

from .anthropic import anthropic_payloads as ap
from .bedrock.test_bedrock import HAIKU, FakeBedrock, chunk_events
from .fakes import FakeServer, sse
from .google_genai import test_google_genai as gemini
from .mistralai import test_mistralai as mistral
from .openai import openai_payloads as op

SEEDS = range(40)
MESSAGES = [{"role": "user", "content": "hi"}]
BEDROCK_MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
NOVA = "us.amazon.nova-lite-v1:0"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


def mutate(answer: Any, seed: int, keep: frozenset[str] = frozenset()) -> Any:
    """``answer`` with one to three values set to ``null`` or (in an object) removed; keys named
    in ``keep`` are left alone (an SSE event's name, without which it is not an event), and a
    stream's (a list's) events stay objects: the values inside them are mutated."""
    rng = random.Random(seed)
    streamed = isinstance(answer, list)
    answer = copy.deepcopy(answer)
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = [path for path in _paths(answer) if path[-1] not in keep and len(path) > streamed]
        if not paths:
            break
        *parents, last = rng.choice(paths)
        parent = answer
        for key in parents:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[last]
        else:
            parent[last] = None
    return answer


def _result(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", warnings=False)
    if isinstance(value, dict):  # boto3: the request's own metadata (ids, dates) differs per call
        return {key: _result(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_result(item) for item in value]
    return value


def outcome(call: Callable[[], Any]) -> Any:
    """What the caller gets: the result as plain data, or the exception's type and message."""
    try:
        return ["returned", _result(call())]
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]


def _openai(server: FakeServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", http_client=server.sync_client(), max_retries=0)


def _anthropic(server: FakeServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", http_client=server.sync_client(), max_retries=0)


def openai_chat(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.json("/chat/completions", answer)
    return lambda: _openai(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)


def openai_chat_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/chat/completions", sse(answer))
    return lambda: list(
        _openai(server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    )


def openai_chat_stream_async(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    """The async client's stream: its chunks take another path than the sync stream's."""
    server = FakeServer()
    server.stream("/chat/completions", sse(answer))

    async def read() -> list[Any]:
        client = openai.AsyncOpenAI(api_key="k", http_client=server.async_client(), max_retries=0)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream]

    return lambda: asyncio.run(read())


def openai_responses_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/responses", sse(answer))
    return lambda: list(_openai(server).responses.create(model="gpt-4o", input="hi", stream=True))


def anthropic_message(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.json("/v1/messages", answer)
    return lambda: _anthropic(server).messages.create(
        model="claude-sonnet-4-5", max_tokens=9, messages=MESSAGES
    )


def anthropic_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/v1/messages", sse(answer, done=False, named=True))
    client = _anthropic(server)
    return lambda: list(
        client.messages.create(model="claude-sonnet-4-5", max_tokens=9, messages=MESSAGES, stream=True)
    )


def gemini_generate(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.json(":generateContent", answer)
    return lambda: gemini.client(server).models.generate_content(model=gemini.MODEL, contents="hi")


def gemini_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream(":streamGenerateContent", gemini.sse_body(answer))
    return lambda: list(
        gemini.client(server).models.generate_content_stream(model=gemini.MODEL, contents="hi")
    )


def gemini_stream_async(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream(":streamGenerateContent", gemini.sse_body(answer))

    async def read() -> list[Any]:
        models = gemini.client(server).aio.models
        return [
            chunk async for chunk in await models.generate_content_stream(model=gemini.MODEL, contents="hi")
        ]

    return lambda: asyncio.run(read())


def mistral_chat(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.json("/v1/chat/completions", answer)
    return lambda: Mistral(api_key="k", client=server.sync_client()).chat.complete(
        model="mistral-large-latest", messages=MESSAGES
    )


def mistral_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/v1/chat/completions", sse(answer))
    return lambda: list(
        Mistral(api_key="k", client=server.sync_client()).chat.stream(
            model="mistral-large-latest", messages=MESSAGES
        )
    )


def mistral_stream_async(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/v1/chat/completions", sse(answer))

    async def read() -> list[Any]:
        client = Mistral(api_key="k", async_client=server.async_client())
        stream = await client.chat.stream_async(model="mistral-large-latest", messages=MESSAGES)
        return [event async for event in stream]

    return lambda: asyncio.run(read())


def _mistral_chunks() -> list[dict[str, Any]]:
    body = mistral.stream_body(["Bon", "jour"]).decode()
    return [json.loads(line[len("data: ") :]) for line in body.split("\n\n") if line.startswith("data: {")]


def anthropic_stream_async(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    server = FakeServer()
    server.stream("/v1/messages", sse(answer, done=False, named=True))

    async def read() -> list[Any]:
        client = anthropic.AsyncAnthropic(api_key="k", http_client=server.async_client(), max_retries=0)
        stream = await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=9, messages=MESSAGES, stream=True
        )
        return [event async for event in stream]

    return lambda: asyncio.run(read())


def bedrock_converse(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    bedrock.json("converse", answer)
    return lambda: bedrock.client().converse(modelId=HAIKU, messages=BEDROCK_MESSAGES)


def bedrock_invoke(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    bedrock.json("invoke", answer)

    def call() -> Any:
        result = bedrock.client().invoke_model(modelId=HAIKU, body=json.dumps({"messages": MESSAGES}))
        return {**result, "body": json.loads(result["body"].read())}

    return call


def nova_stream(answer: Any, bedrock: FakeBedrock) -> Callable[[], Any]:
    bedrock.stream("invoke-with-response-stream", chunk_events(answer))

    def call() -> Any:
        result = bedrock.client().invoke_model_with_response_stream(modelId=NOVA, body=json.dumps({}))
        return [json.loads(event["chunk"]["bytes"]) for event in result["body"]]

    return call


CONVERSE = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [{"text": "Hello"}, {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120, "cacheReadInputTokens": 400},
    "metrics": {"latencyMs": 10},
}
NOVA_CHUNKS = [
    {"messageStart": {"role": "assistant"}},
    {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
    {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
    {"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t1", "name": "f"}}, "contentBlockIndex": 1}},
    {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"a": 1}'}}, "contentBlockIndex": 1}},
    {"messageStop": {"stopReason": "tool_use"}},
    {"metadata": {"usage": {"inputTokens": 12, "outputTokens": 4}}},
]
# Each shape: its answer, the call that receives it (every maker takes the fake Bedrock, which
# only Bedrock's use), and the keys a mutation leaves alone.
SHAPES: dict[
    str, tuple[Callable[[], Any], Callable[[Any, FakeBedrock], Callable[[], Any]], frozenset[str]]
] = {
    "openai chat": (lambda: op.chat().model_dump(mode="json"), openai_chat, frozenset()),
    "openai chat, tool call": (
        lambda: op.chat(content=None, tool_calls=[op.tool_call()]).model_dump(mode="json"),
        openai_chat,
        frozenset(),
    ),
    "openai chat stream": (
        lambda: op.chat_chunks(["Hel", "lo"], usage=True, tools=True),
        openai_chat_stream,
        frozenset(),
    ),
    "openai chat stream, async": (
        lambda: op.chat_chunks(["Hel", "lo"], usage=True, tools=True),
        openai_chat_stream_async,
        frozenset(),
    ),
    "openai responses stream": (
        lambda: op.response_events(["Hel", "lo"]),
        openai_responses_stream,
        frozenset(),
    ),
    "anthropic message": (lambda: ap.tool_message().model_dump(mode="json"), anthropic_message, frozenset()),
    "anthropic stream": (
        lambda: ap.events(["Hel", "lo"], tool=True),
        anthropic_stream,
        frozenset({"type"}),
    ),
    "anthropic stream, async": (
        lambda: ap.events(["Hel", "lo"], tool=True),
        anthropic_stream_async,
        frozenset({"type"}),
    ),
    "google-genai generate_content": (
        lambda: gemini.response([types.Part(text="Hi", thought=True), types.Part(text="Hello")], thoughts=5),
        gemini_generate,
        frozenset(),
    ),
    "google-genai stream": (gemini.stream_chunks, gemini_stream, frozenset()),
    "google-genai stream, async": (gemini.stream_chunks, gemini_stream_async, frozenset()),
    "mistral chat": (lambda: mistral.completion(), mistral_chat, frozenset()),
    "mistral stream": (_mistral_chunks, mistral_stream, frozenset()),
    "mistral stream, async": (_mistral_chunks, mistral_stream_async, frozenset()),
    "bedrock converse": (lambda: CONVERSE, bedrock_converse, frozenset()),
    "bedrock invoke, anthropic body": (
        lambda: ap.tool_message().model_dump(mode="json"),
        bedrock_invoke,
        frozenset(),
    ),
    "bedrock invoke stream, nova": (lambda: NOVA_CHUNKS, nova_stream, frozenset()),
}


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    yield fake
    fake.server.shutdown()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_malformed_answer_reaches_the_caller_unchanged_and_is_recorded(
    shape: str, bedrock: FakeBedrock
) -> None:
    answer, make_call, keep = SHAPES[shape]
    calls = []
    for seed in SEEDS:
        mutated = mutate(answer(), seed, keep)
        calls.append((seed, mutated, make_call(mutated, bedrock)))
    plain = [outcome(call) for _, _, call in calls]
    with llmtrace.testing.capture() as captured:
        traced = [outcome(call) for _, _, call in calls]
        spans = captured.spans()
    for (seed, mutated, _), before, after in zip(calls, plain, traced, strict=True):
        assert after == before, f"seed {seed}: {json.dumps(mutated)[:2000]}"
    # Answers the SDK itself refuses still make spans (errors); these reached the recording of a
    # result (mistralai validates strictly: about one in eight of its mutated answers passes).
    assert sum(result[0] == "returned" for result in plain) >= len(SEEDS) // 10
    assert len(spans) == len(calls)  # one span a call, whatever the answer held
