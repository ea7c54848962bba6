"""Nine real provider calls made under a third-party GenAI instrumentation, captured in memory.

Each ``*_spans`` function installs one instrumentation at its pinned version (see pyproject's
``dev`` extra), drives real ``openai`` / ``anthropic`` clients against fake providers at the HTTP
transport (:mod:`tests.integrations.fakes`), removes the instrumentation and returns what it
produced: the finished spans and, for the official instrumentation's event mode, its log records.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..anthropic import anthropic_payloads as ap
from ..fakes import FakeServer, sse
from ..openai import openai_payloads as op

STREAM_SECONDS = 0.3  # each stream's body takes this long: latency must show it
SYSTEM = "Be brief"


@dataclass
class Produced:
    spans: list[ReadableSpan]
    logs: list[Any] = field(default_factory=list)  # ReadableLogRecord (event mode only)


def _slow(body: bytes) -> Callable[[dict[str, Any]], httpx2.Response]:
    """An SSE response whose chunks arrive over STREAM_SECONDS, as a real provider's do."""
    chunks = body.split(b"\n\n")

    def stream() -> Iterator[bytes]:
        for chunk in chunks:
            time.sleep(STREAM_SECONDS / len(chunks))
            yield chunk + b"\n\n"

    return lambda req: httpx2.Response(200, content=stream(), headers={"content-type": "text/event-stream"})


def _fake() -> FakeServer:
    fake = FakeServer()
    fake.json("/chat/completions", op.chat())
    fake.json("/embeddings", op.embeddings())
    fake.json("/messages", _anthropic_message())
    return fake


def _anthropic_message() -> dict[str, Any]:
    """`ap.message()` with what Anthropic bills beyond tokens, as its API reports it: 600 of its
    1,000 cache-write tokens kept an hour, and two web searches (no semconv attribute says either)."""
    body: dict[str, Any] = ap.message().model_dump(mode="json")
    body["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600}
    body["usage"]["server_tool_use"] = {"web_search_requests": 2, "web_fetch_requests": 0}
    return body


def _clients(fake: FakeServer) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    return (
        openai.OpenAI(
            api_key="sk-test", base_url="http://fake/v1", http_client=fake.sync_client(), max_retries=0
        ),
        anthropic.Anthropic(
            api_key="sk-test", base_url="http://fake", http_client=fake.sync_client(), max_retries=0
        ),
    )


def openai_calls(fake: FakeServer, client: openai.OpenAI) -> None:
    """Six OpenAI calls: 2 chats, 2 streams, 1 embedding, 1 rate-limited chat."""
    for _ in range(2):
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}],
        )
    fake.routes["/chat/completions"] = _slow(sse(op.chat_chunks(["Hel", "lo"], usage=True)))
    for _ in range(2):
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    fake.error("/chat/completions", 429, {"error": {"message": "slow down", "type": "rate_limit"}})
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    except openai.RateLimitError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the fake provider should have answered 429")
    fake.json("/chat/completions", op.chat())


def anthropic_calls(fake: FakeServer, client: anthropic.Anthropic) -> None:
    """Three Anthropic calls: 1 message with a system prompt, 2 streams."""
    client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, system=SYSTEM, messages=[{"role": "user", "content": "hi"}]
    )
    fake.routes["/messages"] = _slow(sse(ap.events(["Hel", "lo"]), done=False, named=True))
    for _ in range(2):
        stream = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        list(stream)


def _provider(service: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


@contextmanager
def _sdk_classes_restored() -> Iterator[None]:
    """Every class of the loaded ``openai``, ``anthropic`` and ``google.genai`` modules that make
    requests as it was: some instrumentations' ``uninstrument()`` leaves their wrappers in place
    (OpenLLMetry 0.62's), and later tests in the process would run under them."""
    saved = [
        (cls, dict(vars(cls)))
        for name, module in list(sys.modules.items())
        if name.startswith(("openai.resources", "anthropic.resources", "google.genai."))
        and name != "google.genai.types"  # (data models: nothing patches them)
        and module is not None
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == name
    ]
    try:
        yield
    finally:
        for cls, attributes in saved:
            for attribute in set(vars(cls)) - set(attributes):
                delattr(cls, attribute)
            for attribute, value in attributes.items():
                if vars(cls).get(attribute) is not value:
                    setattr(cls, attribute, value)


@_sdk_classes_restored()
def openinference_spans() -> Produced:
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider, memory = _provider("openinference")
    fake = _fake()
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        oai, anth = _clients(fake)
        openai_calls(fake, oai)
        anthropic_calls(fake, anth)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
    return Produced(list(memory.get_finished_spans()))


@_sdk_classes_restored()
def openllmetry_spans() -> Produced:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    provider, memory = _provider("openllmetry")
    fake = _fake()
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        oai, anth = _clients(fake)
        openai_calls(fake, oai)
        anthropic_calls(fake, anth)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
    return Produced(list(memory.get_finished_spans()))


@contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@_sdk_classes_restored()
def official_event_mode_spans() -> Produced:
    """opentelemetry-instrumentation-openai-v2 with content as log events only (nine OpenAI calls)."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    provider, memory = _provider("official-events")
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "official-events"}))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    fake = _fake()
    instrumentor = OpenAIInstrumentor()
    with _env(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY"):
        instrumentor.instrument(tracer_provider=provider, logger_provider=logger_provider)
        try:
            oai, _ = _clients(fake)
            openai_calls(fake, oai)
            for _ in range(2):
                oai.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}],
                )
            oai.embeddings.create(model="text-embedding-3-small", input="hello")
        finally:
            instrumentor.uninstrument()
    return Produced(list(memory.get_finished_spans()), list(logs.get_finished_logs()))


@contextmanager
def _otel_globals_restored() -> Iterator[None]:
    """The process's OpenTelemetry globals as they were: ``logfire.configure()`` sets the global
    tracer, meter and logger providers (which the OTel API lets a process set only once) and the
    propagator, and patches the executors' ``submit``, so later tests would run under them (the
    Anthropic SDK's native tracing reporting to Logfire's provider, llmtrace wrapping Logfire's
    ``submit``). What OTel's own test utilities reset, and the executors, restored here."""
    from opentelemetry import propagate, trace
    from opentelemetry._logs import _internal as logs
    from opentelemetry.metrics import _internal as metrics

    slots = [(trace, "_TRACER_PROVIDER"), (metrics, "_METER_PROVIDER"), (logs, "_LOGGER_PROVIDER")]
    saved = [
        (module, name, getattr(module, name), getattr(module, name + "_SET_ONCE")._done)
        for module, name in slots
    ]
    textmap = propagate.get_global_textmap()
    submits = [(pool, vars(pool)["submit"]) for pool in (ThreadPoolExecutor, ProcessPoolExecutor)]
    try:
        yield
    finally:
        for pool, submit in submits:
            pool.submit = submit
        for module, name, provider, done in saved:
            setattr(module, name, provider)
            getattr(module, name + "_SET_ONCE")._done = done
        propagate.set_global_textmap(textmap)


@_otel_globals_restored()
def logfire_spans() -> Produced:
    """Logfire 5.4 configured to export nowhere but memory (no network, no token)."""
    import logfire

    memory = InMemorySpanExporter()
    logfire.configure(
        send_to_logfire=False,
        console=False,
        service_name="logfire",
        additional_span_processors=[SimpleSpanProcessor(memory)],
    )
    fake = _fake()
    oai, anth = _clients(fake)
    with logfire.instrument_openai(oai), logfire.instrument_anthropic(anth):
        openai_calls(fake, oai)
        anthropic_calls(fake, anth)
    return Produced(list(memory.get_finished_spans()))


# A Gemini thinking call (2.5's default): 800 tokens of thoughts besides the answer's 200.
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "candidatesTokenCount": 200,
    "thoughtsTokenCount": 800,
    "totalTokenCount": 2000,
}


def gemini_thinking_call_spans() -> dict[str, ReadableSpan]:
    """One ``generate_content`` call of a thinking model under OpenLLMetry's and under
    OpenInference's google-genai instrumentation: each one's span of it."""
    from google import genai
    from google.genai import types
    from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor
    from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor

    answer = {
        "candidates": [
            {"index": 0, "content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": GEMINI_USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    }
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=answer))
    spans = {}
    instrumentors = {"openllmetry": GoogleGenerativeAiInstrumentor, "openinference": GoogleGenAIInstrumentor}
    with _sdk_classes_restored():  # (entered once the modules they patch are loaded)
        for name, instrumentor_type in instrumentors.items():
            provider, memory = _provider(name)
            instrumentor = instrumentor_type()
            instrumentor.instrument(tracer_provider=provider)
            try:
                client = genai.Client(
                    api_key="test",
                    http_options=types.HttpOptions(httpx_client=httpx2.Client(transport=transport)),
                )
                client.models.generate_content(model="gemini-2.5-flash", contents="hello")
            finally:
                instrumentor.uninstrument()
            (spans[name],) = memory.get_finished_spans()
    return spans
