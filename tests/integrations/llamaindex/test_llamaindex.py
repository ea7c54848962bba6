"""LlamaIndex: real llama-index-core (its dispatcher, query engine, retriever, synthesizer, MockLLM,
MockEmbedding) and an LLM backed by the real openai client over a fake OpenAI endpoint.

llama-index-llms-openai cannot be installed beside our openai pin (it requires openai<3), so the
openai-backed LLM is a ``CustomLLM`` calling ``openai.OpenAI`` as LlamaIndex's own OpenAI LLM does.
Nothing in the application code mentions llmtrace: the handlers come from ``instrument()``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import openai
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CustomLLM,
    LLMMetadata,
    MockLLM,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.tools import BaseTool, FunctionTool, ToolMetadata, ToolOutput
from opentelemetry.sdk.trace import ReadableSpan

import llmtrace
import llmtrace.testing
from llmtrace.integrations import llamaindex as li
from llmtrace.testing import CapturedSpans

from ..conftest import attrs
from ..fakes import FakeServer, sse
from ..openai import openai_payloads as p
from ..openai.test_openai_calls import GPT4O_COST


class OpenAIBackedLLM(CustomLLM):
    """A LlamaIndex LLM over the openai SDK client, as llama-index-llms-openai's ``OpenAI`` is."""

    model: str = "gpt-4o"
    client: Any = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True)

    @staticmethod
    def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [{"role": m.role.value, "content": m.content} for m in messages]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        reply = self.client.chat.completions.create(model=self.model, messages=self._messages(messages))
        return ChatResponse(
            message=ChatMessage(role="assistant", content=reply.choices[0].message.content), raw=reply
        )

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Iterator[ChatResponse]:
        stream = self.client.chat.completions.create(
            model=self.model,
            messages=self._messages(messages),
            stream=True,
            stream_options={"include_usage": True},
        )

        def chunks() -> Iterator[ChatResponse]:
            text = ""
            for chunk in stream:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    text += delta
                    yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=delta)

        return chunks()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self.chat([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=str(response.message.content), raw=response.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


def openai_llm(server: FakeServer) -> OpenAIBackedLLM:
    client = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=server.sync_client())
    return OpenAIBackedLLM(client=client)


def index() -> VectorStoreIndex:
    documents = [
        Document(text="Paris is the capital of France.", id_="paris"),
        Document(text="Berlin is the capital of Germany.", id_="berlin"),
    ]
    return VectorStoreIndex.from_documents(documents, embed_model=MockEmbedding(embed_dim=8))


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = parent_of(span)
    while parent is not None:
        names.append(by_id[parent].name)
        parent = parent_of(by_id[parent])
    return names


def test_query_is_one_trace_of_query_retrieve_synthesize_and_llm_spans(cap: CapturedSpans) -> None:
    engine = index().as_query_engine(llm=MockLLM(max_tokens=4), similarity_top_k=2)
    cap.clear()
    retrieved = engine.retrieve(engine_query := "capital of France?")
    cap.clear()
    response = engine.query(engine_query)
    spans = cap.spans()
    named = by_name(spans)
    assert {s.context.trace_id for s in spans} == {named["RetrieverQueryEngine.query"].context.trace_id}
    query = named["RetrieverQueryEngine.query"]
    assert parent_of(query) is None
    # _query and _retrieve (same object, same kind) are folded into their public span.
    assert not [s for s in spans if "._query" in s.name or "._retrieve" in s.name]

    retrieve = named["retrieve VectorIndexRetriever"]
    assert parent_of(retrieve) == query.context.span_id
    values = attrs(retrieve)
    assert values["llmtrace.span.kind"] == "retriever"
    assert values["gen_ai.operation.name"] == "retrieval"
    assert values["llmtrace.retrieval.count"] == 2
    assert values["llmtrace.retrieval.document_ids"] == tuple(n.node.node_id for n in retrieved)
    assert values["llmtrace.retrieval.scores"] == pytest.approx([n.score for n in retrieved])
    assert json.loads(values["llmtrace.input"]) == engine_query
    assert [n["id"] for n in json.loads(values["llmtrace.output"])] == [n.node.node_id for n in retrieved]
    assert by_name(spans)["embeddings unknown"].parent.span_id == retrieve.context.span_id  # type: ignore[union-attr]

    synthesize = named["CompactAndRefine.synthesize"]
    assert parent_of(synthesize) == query.context.span_id
    assert attrs(synthesize)["llmtrace.span.kind"] == "chain"

    (llm,) = [s for s in spans if attrs(s)["llmtrace.span.kind"] == "llm"]
    assert llm.name == "text_completion unknown"
    assert "CompactAndRefine.synthesize" in ancestors(llm, spans)
    values = attrs(llm)
    assert values["llama_index.component"] == "MockLLM"
    assert values["gen_ai.provider.name"] == "mockllm"
    assert values["llmtrace.usage.source"] == "estimated"  # MockLLM reports no usage
    output = json.loads(values["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == llm_text(response)
    assert "capital of France?" in json.loads(values["gen_ai.input.messages"])[0]["parts"][0]["content"]

    values = attrs(query)
    assert values["llmtrace.span.kind"] == "chain"
    assert json.loads(values["llmtrace.input"]) == engine_query
    assert json.loads(values["llmtrace.output"]) == str(response)


def llm_text(response: Any) -> str:
    return str(response.response)


def test_openai_backed_llm_is_exactly_one_llm_span_with_the_providers_usage(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    llm = openai_llm(server)
    reply = llm.chat([ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")])
    assert reply.message.content == "Hello there"
    (span,) = cap.spans()
    values = attrs(span)
    assert span.name == "chat gpt-4o"
    assert span.kind.name == "CLIENT"
    assert values["llama_index.component"] == "OpenAIBackedLLM"
    assert values["openai.api.type"] == "chat_completions"  # recorded by the openai integration
    assert values["gen_ai.provider.name"] == "openai"
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    assert json.loads(values["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]


def test_completion_through_chat_on_the_same_llm_is_one_span(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    response = openai_llm(server).complete("hi")
    assert response.text == "Hello there"
    (span,) = cap.spans()  # complete -> chat on the same LLM: folded
    assert span.name == "chat gpt-4o"
    assert attrs(span)["gen_ai.usage.input_tokens"] == 1000


def test_streamed_chat_is_one_span_ended_after_the_stream_with_its_usage(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    stream = openai_llm(server).stream_chat([ChatMessage(role="user", content="hi")])
    assert cap.spans() == []  # still open while the caller reads
    text = [chunk.delta for chunk in stream]
    assert text == ["Hel", "lo"]
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.request.stream"] is True
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.output.chars"] == 5


def test_llm_error_is_recorded_and_reraised_unchanged(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.error("/chat/completions", 429, {"error": {"message": "slow down", "type": "rate_limit"}})
    llm = openai_llm(server)
    with pytest.raises(openai.RateLimitError) as raised:
        llm.chat([ChatMessage(role="user", content="hi")])
    (span,) = cap.spans()
    values = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert values["error.type"] == type(raised.value).__name__
    assert values["http.response.status_code"] == 429


def test_failing_step_is_an_error_span_and_the_exception_is_the_callers(cap: CapturedSpans) -> None:
    class Offline(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            raise ValueError("index offline")

    engine = RetrieverQueryEngine.from_args(Offline(), llm=MockLLM(max_tokens=2))
    with pytest.raises(ValueError, match="index offline"):
        engine.query("anything")
    named = by_name(cap.spans())
    assert set(named) == {"RetrieverQueryEngine.query", "retrieve Offline"}
    for span in named.values():
        assert span.status.status_code.name == "ERROR"
        assert span.status.description == "index offline"
        assert attrs(span)["error.type"] == "ValueError"


def test_uninstrument_removes_the_handlers_and_stops_spans() -> None:
    root = get_dispatcher()
    span_handler, event_handler = li.handlers()
    with llmtrace.testing.capture() as cap:
        assert any(h is span_handler for h in root.span_handlers)
        assert any(h is event_handler for h in root.event_handlers)
        MockLLM(max_tokens=2).complete("hi")
        assert len(cap.spans()) == 1
    assert not any(h is span_handler for h in root.span_handlers)
    assert not any(h is event_handler for h in root.event_handlers)
    with llmtrace.testing.capture(providers=["openai"]) as cap:
        MockLLM(max_tokens=2).complete("hi")
        assert cap.spans() == []


def test_instrument_twice_keeps_one_handler(cap: CapturedSpans) -> None:
    li.instrument()
    root = get_dispatcher()
    span_handler, _ = li.handlers()
    assert sum(h is span_handler for h in root.span_handlers) == 1
    MockLLM(max_tokens=2).complete("hi")
    assert len(cap.spans()) == 1


async def test_async_query_gives_the_same_tree(cap: CapturedSpans) -> None:
    engine = index().as_query_engine(llm=MockLLM(max_tokens=4), similarity_top_k=2)
    cap.clear()
    await engine.aquery("capital of France?")
    spans = cap.spans()
    named = by_name(spans)
    query = named["RetrieverQueryEngine.aquery"]
    assert parent_of(query) is None
    assert parent_of(named["retrieve VectorIndexRetriever"]) == query.context.span_id
    assert parent_of(named["CompactAndRefine.asynthesize"]) == query.context.span_id
    (llm,) = [s for s in spans if attrs(s)["llmtrace.span.kind"] == "llm"]
    assert "CompactAndRefine.asynthesize" in ancestors(llm, spans)
    assert {s.context.trace_id for s in spans} == {query.context.trace_id}


def test_a_provider_call_inside_a_step_is_a_child_of_its_span(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/embeddings", p.embeddings())
    client = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=server.sync_client())

    class Embedded(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            client.embeddings.create(model="text-embedding-3-small", input=query_bundle.query_str)
            return []

    assert Embedded().retrieve("where?") == []
    named = by_name(cap.spans())
    retrieve = named["retrieve Embedded"]
    (embedding,) = [s for s in named.values() if s is not retrieve]
    assert attrs(embedding)["gen_ai.operation.name"] == "embeddings"
    assert parent_of(embedding) == retrieve.context.span_id
    assert attrs(retrieve)["llmtrace.retrieval.count"] == 0


def get_weather(city: str) -> str:
    """The weather in a city."""
    if city == "Atlantis":
        raise ValueError("no such city")
    return f"sunny in {city}"


def test_tool_call_is_a_tool_span_with_its_arguments_and_output(cap: CapturedSpans) -> None:
    tool = FunctionTool.from_defaults(get_weather)
    assert tool.call(city="Paris").content == "sunny in Paris"
    (span,) = cap.spans()  # __call__ -> call on the same tool: one span
    values = attrs(span)
    assert span.name == "execute_tool get_weather"
    assert values["llmtrace.span.kind"] == "tool"
    assert values["gen_ai.operation.name"] == "execute_tool"
    assert values["gen_ai.tool.name"] == "get_weather"
    assert "The weather in a city." in values["gen_ai.tool.description"]
    assert json.loads(values["llmtrace.input"]) == {"city": "Paris"}
    assert json.loads(values["llmtrace.output"]) == "sunny in Paris"

    cap.clear()
    with pytest.raises(ValueError, match="no such city"):
        tool.call(city="Atlantis")
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"] == "ValueError"


def test_a_tool_output_marked_as_an_error_is_an_error_span(cap: CapturedSpans) -> None:
    class Lookup(BaseTool):
        @property
        def metadata(self) -> ToolMetadata:
            return ToolMetadata(name="lookup", description="Looks things up.")

        def __call__(self, input: Any) -> ToolOutput:
            return ToolOutput(
                content="not found",
                tool_name="lookup",
                raw_input={"input": input},
                raw_output=None,
                is_error=True,
            )

    assert Lookup()("x").is_error
    (span,) = cap.spans()
    assert span.name == "execute_tool lookup"
    assert span.status.status_code.name == "ERROR"
    assert span.status.description == "not found"
    assert attrs(span)["error.type"] == "ToolError"


def test_instrument_before_llama_index_is_imported_traces_it() -> None:
    script = """
import sys
import llmtrace
from llmtrace.testing import InMemorySpanExporter
exporter = InMemorySpanExporter()
llmtrace.instrument(exporter=exporter, service_name="t", providers=["llamaindex"])
assert "llama_index.core" not in sys.modules, "instrument() imported LlamaIndex"
from llama_index.core.llms import MockLLM
MockLLM(max_tokens=2).complete("hi")
llmtrace.flush()
print([s.name for s in exporter.get_finished_spans()])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['text_completion unknown']"
