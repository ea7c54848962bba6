"""google-genai against a fake Gemini / Vertex AI endpoint: the real SDK, payloads from its own types."""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import httpx2
import pytest
from genai_prices import Usage, calc_price
from google import genai
from google.genai import errors, types
from google.genai.models import AsyncModels, Models
from opentelemetry import trace

import llmtrace
import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.integrations import google_genai as gg
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve, timing_free
from ..fakes import FakeServer

MODEL = "gemini-2.5-flash"


def response(
    parts: list[types.Part] | None = None,
    *,
    prompt: int = 1000,
    candidates: int = 200,
    thoughts: int = 0,
    cached: int = 0,
    finish: types.FinishReason | None = types.FinishReason.STOP,
) -> dict[str, Any]:
    """A GenerateContentResponse as the Gemini API sends it (camelCase JSON)."""
    return types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                index=0,
                content=types.Content(
                    role="model", parts=parts if parts is not None else [types.Part(text="Hello there")]
                ),
                finish_reason=finish,
            )
        ],
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=prompt,
            candidates_token_count=candidates,
            thoughts_token_count=thoughts or None,
            cached_content_token_count=cached or None,
            total_token_count=prompt + candidates + thoughts,
        ),
        model_version=MODEL,
        response_id="resp-1",
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


def sse_body(chunks: list[dict[str, Any]]) -> bytes:
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def stream_chunks() -> list[dict[str, Any]]:
    """Three chunks with cumulative usage, as Gemini streams: thought, text, text + finish."""
    first = response([types.Part(text="Let me think", thought=True)], candidates=0, thoughts=30, finish=None)
    second = response([types.Part(text="Hel")], candidates=1, thoughts=30, finish=None)
    last = response([types.Part(text="lo")], candidates=2, thoughts=30, cached=400)
    return [first, second, last]


def client(server: FakeServer, *, vertex: bool = False) -> genai.Client:
    options = types.HttpOptions(httpx_client=server.sync_client(), httpx_async_client=server.async_client())
    if vertex:
        return genai.Client(vertexai=True, api_key="k", http_options=options)
    return genai.Client(api_key="k", http_options=options)


def models(c: genai.Client, is_async: bool) -> Any:
    return c.aio.models if is_async else c.models


def gemini_cost(input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None)
    return float(calc_price(usage, MODEL, provider_id="google").total_price)


@pytest.mark.parametrize("is_async", [False, True])
async def test_generate_content_records_the_whole_call(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json(":generateContent", response(thoughts=50, cached=600))
    result = await resolve(
        models(client(server), is_async).generate_content(
            model=MODEL,
            contents="hi",
            config=types.GenerateContentConfig(
                temperature=0.5, max_output_tokens=300, stop_sequences=["END"], system_instruction="be brief"
            ),
        )
    )
    assert result.text == "Hello there"
    (span,) = cap.spans()
    assert span.name == f"generate_content {MODEL}"
    assert span.kind.name == "CLIENT"
    assert attrs(span) == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "llmtrace.span.kind": "llm",
        "gen_ai.request.model": MODEL,
        "server.address": "generativelanguage.googleapis.com",
        "server.port": 443,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 300,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 250,  # 200 candidates + 50 thinking
        "gen_ai.usage.cache_read.input_tokens": 600,
        "gen_ai.usage.reasoning.output_tokens": 50,
        "llmtrace.output.chars": 11,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}]',
        "llmtrace.cost.usd": pytest.approx(gemini_cost(1000, 250, 600), rel=1e-12),
    }


@pytest.mark.parametrize("is_async", [False, True])
async def test_stream_records_last_cumulative_usage_thinking_and_timings(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.stream(":streamGenerateContent", sse_body(stream_chunks()))
    stream = await resolve(
        models(client(server), is_async).generate_content_stream(model=MODEL, contents="hi")
    )
    chunks = await drain(stream)
    assert "".join(c.text or "" for c in chunks) == "Hello"
    (span,) = cap.spans()
    values = timing_free(span)
    assert values["gen_ai.request.stream"] is True
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 32)
    assert values["gen_ai.usage.reasoning.output_tokens"] == 30
    assert values["gen_ai.usage.cache_read.input_tokens"] == 400
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert values["llmtrace.output.chars"] == 5
    assert json.loads(values["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Let me think"}, {"type": "text", "content": "Hello"}],
            "finish_reason": "stop",
        }
    ]
    assert values["llmtrace.cost.usd"] == pytest.approx(gemini_cost(1000, 32, 400), rel=1e-12)
    assert span.attributes["llmtrace.ttft_ms"] > 0


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_turns_are_one_span_each_with_the_history(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.json(":generateContent", response())
    c = client(server)
    chat = c.aio.chats.create(model=MODEL) if is_async else c.chats.create(model=MODEL)
    await resolve(chat.send_message("first"))
    await resolve(chat.send_message("second"))
    first, second = cap.spans()
    assert json.loads(first.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "first"}]}
    ]
    assert json.loads(second.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "first"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}]},
        {"role": "user", "parts": [{"type": "text", "content": "second"}]},
    ]
    assert second.attributes["gen_ai.usage.input_tokens"] == 1000


async def test_vertex_ai_client_is_provider_gcp_vertex_ai(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json(":generateContent", response())
    client(server, vertex=True).models.generate_content(model=MODEL, contents="hi")
    values = attrs(cap.spans()[0])
    assert values["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert values["server.address"] == "aiplatform.googleapis.com"
    assert values["llmtrace.cost.usd"] == pytest.approx(gemini_cost(1000, 200), rel=1e-12)


async def test_function_calls_are_tool_calls(cap: CapturedSpans) -> None:
    server = FakeServer()
    call = types.Part(function_call=types.FunctionCall(id="fc1", name="get_weather", args={"city": "Paris"}))
    server.json(":generateContent", response([call]))
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="get_weather", description="weather")]
    )
    client(server).models.generate_content(
        model=MODEL,
        contents="weather?",
        config=types.GenerateContentConfig(
            tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    values = attrs(cap.spans()[0])
    assert json.loads(values["llmtrace.tool_calls"]) == [
        {"id": "fc1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert json.loads(values["gen_ai.tool.definitions"]) == [
        {"function_declarations": [{"description": "weather", "name": "get_weather"}]}
    ]
    assert values["llmtrace.output.chars"] == len('{"city": "Paris"}')


async def test_automatic_function_calling_gives_a_span_per_model_request(cap: CapturedSpans) -> None:
    server = FakeServer()
    replies = iter(
        [
            response(
                [types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}))]
            ),
            response([types.Part(text="Sunny")], prompt=1500, candidates=3),
        ]
    )
    server.routes[":generateContent"] = lambda req: __import__("httpx2").Response(200, json=next(replies))

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    result = client(server).models.generate_content(
        model=MODEL, contents="weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert result.text == "Sunny"
    first, second = cap.spans()
    assert first.attributes["gen_ai.usage.input_tokens"] == 1000
    assert second.attributes["gen_ai.usage.input_tokens"] == 1500


@pytest.mark.parametrize("is_async", [False, True])
async def test_errors_are_recorded_and_reraised(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.error(
        ":generateContent", 429, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    )
    with pytest.raises(errors.ClientError) as caught:
        await resolve(models(client(server), is_async).generate_content(model=MODEL, contents="hi"))
    (span,) = cap.spans()
    assert attrs(span)["error.type"] == "ClientError"
    assert attrs(span)["http.response.status_code"] == 429
    assert span.status.status_code.name == "ERROR"
    assert caught.value.code == 429


def test_abandoned_stream_is_cancelled_with_partial_output(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream(":streamGenerateContent", sse_body(stream_chunks()))
    stream = client(server).models.generate_content_stream(model=MODEL, contents="hi")
    next(stream)
    next(stream)
    stream.close()
    del stream
    gc.collect()
    (span,) = cap.spans()
    values = attrs(span)
    assert values["llmtrace.status"] == "cancelled"
    assert values["gen_ai.response.finish_reasons"] == ("error",)  # cut short before its finish reason
    assert values["gen_ai.usage.reasoning.output_tokens"] == 30


@pytest.mark.parametrize("is_async", [False, True])
async def test_call_nests_under_the_current_span_and_is_the_parent_of_spans_made_during_it(
    cap: CapturedSpans, is_async: bool
) -> None:
    """The model span is current while the request runs: a span started there (an HTTP client
    instrumentation's) is its child, in the caller's trace."""
    server = FakeServer()
    body = response()

    def respond(request: dict[str, Any]) -> httpx2.Response:
        trace.get_tracer("http-client").start_span("POST").end()
        return httpx2.Response(200, json=body)

    server.routes[":generateContent"] = respond
    with llmtrace.span("handler"):
        await resolve(models(client(server), is_async).generate_content(model=MODEL, contents="hi"))
    spans = {s.name: s for s in cap.spans()}
    handler, model, http = spans["handler"], spans[f"generate_content {MODEL}"], spans["POST"]
    assert model.parent == handler.context
    assert http.parent == model.context
    assert {s.context.trace_id for s in spans.values()} == {handler.context.trace_id}


async def test_capture_content_off_records_no_text() -> None:
    server = FakeServer()
    call = types.Part(function_call=types.FunctionCall(name="f", args={"ssn": "1"}))
    server.json(":generateContent", response([types.Part(text="secret"), call]))
    with llmtrace.testing.capture(capture_content=False) as cap:
        client(server).models.generate_content(
            model=MODEL, contents="my secret", config={"system_instruction": "x"}
        )
        values = attrs(cap.spans()[0])
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} & set(values)
    assert json.loads(values["llmtrace.tool_calls"]) == [{"id": None, "name": "f"}]
    assert "secret" not in json.dumps(values) and "ssn" not in json.dumps(values)


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


@pytest.mark.parametrize(
    ("owner", "name"),
    [(gg, "start_call"), (gg._Accumulator, "add"), (gg._Accumulator, "outcome"), (gg, "_provider")],
)
async def test_faults_never_reach_the_caller(
    cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str
) -> None:
    server = FakeServer()
    server.json(":generateContent", response())
    server.stream(":streamGenerateContent", sse_body(stream_chunks()))
    monkeypatch.setattr(owner, name, _boom)
    c = client(server)
    with llmtrace.testing.allow_internal_errors():
        assert c.models.generate_content(model=MODEL, contents="hi").text == "Hello there"
        assert (
            "".join(ch.text or "" for ch in c.models.generate_content_stream(model=MODEL, contents="hi"))
            == "Hello"
        )
        chunks = await drain(await c.aio.models.generate_content_stream(model=MODEL, contents="hi"))
    assert "".join(ch.text or "" for ch in chunks) == "Hello"


@pytest.mark.parametrize("stream", [False, True])
def test_the_record_is_built_on_the_export_thread_not_the_callers(stream: bool) -> None:
    """With llmtrace's processor alone on its provider (what ``instrument()`` sets up), the
    caller's thread only starts, times and ends the span (and folds a stream's chunks): the
    answer is read and the message texts are written (and redacted) on the export thread, into
    the same record."""
    server = FakeServer()
    server.json(":generateContent", response())
    server.stream(":streamGenerateContent", sse_body(stream_chunks()))
    seen: list[tuple[str, str]] = []

    def redact(text: str) -> str:
        seen.append((threading.current_thread().name, text))
        return text.replace("Hel", "[greeting]").replace("secret", "[redacted]")

    with llmtrace.testing.capture(redact=redact) as cap:
        request = {"model": MODEL, "contents": "my secret", "config": {"system_instruction": "be brief"}}
        models = client(server).models
        if stream:
            text = "".join(chunk.text or "" for chunk in models.generate_content_stream(**request))
            assert text == "Hello"  # the caller's chunks are the SDK's, unchanged
        else:
            assert models.generate_content(**request).text == "Hello there"
        (span,) = cap.spans()
    assert [thread for thread, _ in seen] == ["llmtrace-export"] * 3
    values = attrs(span)
    assert values["gen_ai.system_instructions"] == '[{"type": "text", "content": "be brief"}]'
    assert values["gen_ai.input.messages"] == (
        '[{"role": "user", "parts": [{"type": "text", "content": "my [redacted]"}]}]'
    )
    answer = json.loads(values["gen_ai.output.messages"])
    assert answer[0]["parts"][-1] == {
        "type": "text",
        "content": "[greeting]lo" if stream else "[greeting]lo there",
    }
    assert values["gen_ai.usage.input_tokens"] == 1000
    assert values["gen_ai.response.id"] == "resp-1"


def test_a_fault_reading_the_answer_on_the_export_thread_keeps_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeServer()
    server.json(":generateContent", response())
    monkeypatch.setattr(gg, "_plain_outcome", _boom)
    with llmtrace.testing.capture() as cap, llmtrace.testing.allow_internal_errors():
        before = llmtrace.stats().internal_errors
        assert client(server).models.generate_content(model=MODEL, contents="hi").text == "Hello there"
        (span,) = cap.spans()
        assert llmtrace.stats().internal_errors == before + 1
    values = attrs(span)
    assert values["gen_ai.request.model"] == MODEL
    assert (
        values["gen_ai.input.messages"] == '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    )
    assert "gen_ai.usage.input_tokens" not in values and "gen_ai.output.messages" not in values
    assert span.end_time is not None and span.end_time >= span.start_time


def test_a_redactor_that_raises_costs_the_texts_and_nothing_else() -> None:
    def bad_redact(text: str) -> str:
        raise RuntimeError("redactor bug")

    server = FakeServer()
    server.json(":generateContent", response())
    request = {"model": MODEL, "contents": "my secret", "config": {"system_instruction": "be brief"}}
    with llmtrace.testing.capture(redact=bad_redact) as cap, llmtrace.testing.allow_internal_errors():
        assert client(server).models.generate_content(**request).text == "Hello there"
        (span,) = cap.spans()
    values = attrs(span)
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} & set(values)
    assert "secret" not in json.dumps(values)
    assert values["gen_ai.usage.input_tokens"] == 1000
    assert values["llmtrace.cost.usd"] == pytest.approx(gemini_cost(1000, 200), rel=1e-12)
    assert values["gen_ai.response.finish_reasons"] == ("stop",)


def test_an_input_estimate_counts_the_request_as_it_was_sent(cap: CapturedSpans) -> None:
    """An app keeps its chat history in one list and appends each answer to it; an input estimate
    (usage missing) made after the call counts what the request sent, not the list as it is now."""
    server = FakeServer()
    server.json(":generateContent", response([types.Part(text="Paris is sunny.")], prompt=0, candidates=0))
    question = "weather in Paris?"
    history = [types.Content(role="user", parts=[types.Part(text=question)])]
    answer = client(server).models.generate_content(model=MODEL, contents=history)
    history.append(answer.candidates[0].content)
    history.append(types.Content(role="user", parts=[types.Part(text="and tomorrow, and the day after?")]))
    (span,) = cap.spans()
    assert span.attributes["llmtrace.usage.source"] == "estimated"
    assert span.attributes["gen_ai.usage.input_tokens"] == -(-len(question) // 4)


def test_uninstrument_restores_the_sdk_methods() -> None:
    originals = (Models.__dict__["_generate_content"], AsyncModels.__dict__["_generate_content_stream"])
    embeds = (Models.__dict__["_embed_content"], AsyncModels.__dict__["_embed_content"])
    with llmtrace.testing.capture():
        assert isinstance(Models.__dict__["_generate_content"], _common.LlmtraceWrapper)
        assert isinstance(AsyncModels.__dict__["_generate_content_stream"], _common.LlmtraceWrapper)
        assert isinstance(AsyncModels.__dict__["_embed_content"], _common.LlmtraceWrapper)
    assert (Models.__dict__["_embed_content"], AsyncModels.__dict__["_embed_content"]) == embeds
    assert (
        Models.__dict__["_generate_content"],
        AsyncModels.__dict__["_generate_content_stream"],
    ) == originals
    server = FakeServer()
    server.json(":generateContent", response())
    exporter = llmtrace.testing.InMemorySpanExporter()
    llmtrace.instrument(exporter=exporter, service_name="t", providers=["google_genai"])
    llmtrace.uninstrument()
    client(server).models.generate_content(model=MODEL, contents="hi")
    llmtrace.flush()
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("is_async", [False, True])
async def test_embed_content_is_an_embedding_span_with_estimated_usage_on_the_gemini_api(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.json(":batchEmbedContents", {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]})
    config = types.EmbedContentConfig(output_dimensionality=2)
    result = await resolve(
        models(client(server), is_async).embed_content(
            model="gemini-embedding-001", contents=["first text", "second"], config=config
        )
    )
    assert [e.values for e in result.embeddings] == [[0.1, 0.2], [0.3, 0.4]]
    (span,) = cap.spans()
    values = attrs(span)
    assert span.name == "embeddings gemini-embedding-001"
    assert values["llmtrace.span.kind"] == "embedding"
    assert values["gen_ai.operation.name"] == "embeddings"
    assert values["gen_ai.provider.name"] == "gcp.gemini"
    assert values["gen_ai.request.model"] == "gemini-embedding-001"
    assert values["gen_ai.embeddings.dimension.count"] == 2
    assert values["llmtrace.usage.source"] == "estimated"  # the Gemini API reports no token counts
    assert values["gen_ai.usage.input_tokens"] == 4  # ceil(16 characters / 4)
    assert json.loads(values["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "first text"}]},
        {"role": "user", "parts": [{"type": "text", "content": "second"}]},
    ]


async def test_embed_content_on_vertex_ai_reports_the_token_counts(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json(
        ":predict",
        {
            "predictions": [
                {"embeddings": {"values": [0.1], "statistics": {"token_count": 5, "truncated": False}}},
                {"embeddings": {"values": [0.2], "statistics": {"token_count": 3, "truncated": False}}},
            ]
        },
    )
    client(server, vertex=True).models.embed_content(model="text-embedding-004", contents=["a", "b"])
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert values["llmtrace.usage.source"] == "reported"
    assert values["gen_ai.usage.input_tokens"] == 8


def test_embed_content_error_is_recorded_and_reraised(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.error(
        ":batchEmbedContents", 400, {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
    )
    with pytest.raises(errors.ClientError):
        client(server).models.embed_content(model="gemini-embedding-001", contents="x")
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["http.response.status_code"] == 400


@pytest.mark.parametrize("is_async", [False, True])
async def test_long_stream_of_text_chunks_mixed_with_other_parts(cap: CapturedSpans, is_async: bool) -> None:
    """Text chunks after the first content take the chunk fast path; a thought, a function call,
    a chunk of two parts and the last one (with its finish reason) the general one. What is
    recorded is the same as for the parts gathered one by one."""
    text = types.Part
    chunks = [
        response([text(text="A")], candidates=1, finish=None),
        response([text(text="B")], candidates=2, finish=None),
        response([text(text="C")], candidates=3, finish=None),
        response([text(text="mull", thought=True)], candidates=3, thoughts=4, finish=None),
        response([text(text="D")], candidates=4, thoughts=4, finish=None),
        response(
            [text(function_call=types.FunctionCall(id="fc1", name="lookup", args={"q": "x"}))],
            candidates=5,
            thoughts=4,
            finish=None,
        ),
        response([text(text="E"), text(text="F")], candidates=7, thoughts=4, finish=None),
        response([text(text="")], candidates=7, thoughts=4, finish=None),
        response([text(text="G")], candidates=8, thoughts=4),
    ]
    server = FakeServer()
    server.stream(":streamGenerateContent", sse_body(chunks))
    stream = await resolve(
        models(client(server), is_async).generate_content_stream(model=MODEL, contents="hi")
    )
    received = await drain(stream)
    assert len(received) == len(chunks)
    (span,) = cap.spans()
    values = timing_free(span)
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert (values["gen_ai.usage.output_tokens"], values["gen_ai.usage.reasoning.output_tokens"]) == (12, 4)
    assert values["llmtrace.output.chars"] == len("ABCDEFG") + len(json.dumps({"q": "x"}))
    assert json.loads(values["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "mull"},
                {"type": "text", "content": "ABCDEFG"},
                {"type": "tool_call", "id": "fc1", "name": "lookup", "arguments": {"q": "x"}},
            ],
            "finish_reason": "stop",
        }
    ]
    assert span.attributes["llmtrace.ttft_ms"] > 0
