"""Patching behaviour: uninstrument, instrumenting twice, the official OTel instrumentation, import order."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from openai.resources.chat.completions.completions import AsyncCompletions, Completions
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace
import llmtrace.testing
from llmtrace import integrations
from llmtrace.integrations import _common
from llmtrace.integrations import openai as openai_integration

from ..conftest import attrs
from ..fakes import FakeServer
from . import openai_payloads as p
from .test_openai_calls import MESSAGES, client


@pytest.fixture
def server() -> FakeServer:
    s = FakeServer()
    s.json("/chat/completions", p.chat())
    return s


def test_uninstrument_restores_the_original_functions(server: FakeServer) -> None:
    originals = (Completions.__dict__["create"], AsyncCompletions.__dict__["parse"])
    with llmtrace.testing.capture():
        assert isinstance(Completions.__dict__["create"], _common.LlmtraceWrapper)
        assert isinstance(AsyncCompletions.__dict__["parse"], _common.LlmtraceWrapper)
    assert (Completions.__dict__["create"], AsyncCompletions.__dict__["parse"]) == originals
    assert not isinstance(originals[0], _common.LlmtraceWrapper)


def test_cached_raw_binding_is_inert_after_uninstrument(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = client(server, False)
    with llmtrace.testing.capture() as cap:
        raw = c.chat.completions.with_raw_response  # caches a binding of the wrapped `create`
        raw.create(model="gpt-4o", messages=MESSAGES)
        assert len(cap.spans()) == 1
    started: list[Any] = []
    real_start = openai_integration.start_call
    monkeypatch.setattr(openai_integration, "start_call", lambda **kw: started.append(kw) or real_start(**kw))
    assert raw.create(model="gpt-4o", messages=MESSAGES).parse().id == "chatcmpl-1"
    assert started == []


def test_client_created_before_instrument_is_traced(server: FakeServer) -> None:
    c = client(server, False)
    c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with llmtrace.testing.capture() as cap:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert len(cap.spans()) == 1


def test_instrumenting_twice_gives_one_span_per_call(server: FakeServer) -> None:
    exporter = InMemorySpanExporter()
    llmtrace.instrument(exporter=exporter, service_name="t")
    llmtrace.instrument(exporter=exporter, service_name="t")
    integrations.enable(["openai"])
    try:
        client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        llmtrace.flush()
        assert len(exporter.get_finished_spans()) == 1
    finally:
        llmtrace.shutdown()


@pytest.fixture
def official() -> Iterator[InMemorySpanExporter]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter
    instrumentor.uninstrument()


@pytest.mark.parametrize("is_async", [False, True])
async def test_next_to_the_official_instrumentation_one_llmtrace_span(
    server: FakeServer, official: InMemorySpanExporter, is_async: bool
) -> None:
    with llmtrace.testing.capture() as cap:
        result = client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        if is_async:
            result = await result
        assert result.choices[0].message.content == "Hello there"
        (span,) = cap.spans()
        assert span.instrumentation_scope.name == "llmtrace"
        assert attrs(span)["gen_ai.usage.input_tokens"] == 1000
    assert len(official.get_finished_spans()) == 1


def test_official_instrumentation_on_top_of_ours_then_reinstrument(server: FakeServer) -> None:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    provider = TracerProvider()
    instrumentor = OpenAIInstrumentor()
    with llmtrace.testing.capture():
        instrumentor.instrument(tracer_provider=provider)  # wraps our wrapper
    try:
        with llmtrace.testing.capture() as cap:  # ours is found inside theirs: not wrapped again
            client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert len(cap.spans()) == 1
    finally:
        instrumentor.uninstrument()
    # Their unwrap put (a bound form of) our wrapper back; the next enable/disable removes it, so
    # it cannot come alive when only another integration is enabled.
    integrations.disable_all()
    assert not isinstance(Completions.__dict__["create"], _common.LlmtraceWrapper)
    assert getattr(Completions.__dict__["create"], "_self_parent", None) is None
    with llmtrace.testing.capture(providers=["anthropic"]) as cap:
        client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert cap.spans() == []


def test_unknown_and_missing_providers() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        integrations.enable(["nope"])
    with pytest.raises(ImportError, match=r"pip install 'llmtrace\[ghost\]'"):
        integrations.enable([integrations.Integration("ghost", "ghost_sdk_not_installed", "ghost")])
    integrations.disable_all()


_SCRIPT = """
import sys
{before}
import llmtrace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
{check_lazy}
exporter = InMemorySpanExporter()
llmtrace.instrument(exporter=exporter, service_name="t", providers=["openai"])
import httpx2, json, openai
from openai.types.chat import ChatCompletion
body = {body}
http = httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(200, json=body)))
client = openai.OpenAI(api_key="k", http_client=http, max_retries=0)
client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hi"}}])
llmtrace.flush()
print(len(exporter.get_finished_spans()))
"""


@pytest.mark.parametrize("openai_first", [False, True])
def test_import_order_does_not_matter(openai_first: bool) -> None:
    script = _SCRIPT.format(
        before="import openai" if openai_first else "",
        check_lazy=""
        if openai_first
        else "assert 'openai' not in sys.modules, 'import llmtrace imported openai'",
        body=repr(p.chat().model_dump(mode="json")),
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
