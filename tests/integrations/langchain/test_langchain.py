"""LangChain and LangGraph: real langchain-core, langchain-openai and langgraph over a fake OpenAI.

Nothing in the application code mentions llmtrace: the handler comes from ``instrument()``.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TypedDict

import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.callbacks.base import BaseCallbackManager
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt
from opentelemetry.sdk.trace import ReadableSpan

import llmtrace
import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.integrations import langchain as lc
from llmtrace.testing import CapturedSpans

from ..conftest import attrs
from ..fakes import FakeServer, sse
from ..openai import openai_payloads as p
from ..openai.test_openai_calls import GPT4O_COST, _tier_cost


def chat_model(server: FakeServer, *, is_async: bool = False, **kwargs: Any) -> ChatOpenAI:
    http = {"http_async_client": server.async_client()} if is_async else {"http_client": server.sync_client()}
    return ChatOpenAI(model="gpt-4o", api_key="sk-test", max_retries=0, **http, **kwargs)


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {s.name: s for s in spans}
    assert len(named) == len(spans), [s.name for s in spans]
    return named


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_openai_gives_exactly_one_llm_span_with_the_providers_usage(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    model = chat_model(server, is_async=is_async)
    chain = RunnableLambda(lambda q: [HumanMessage(q)]).with_config(run_name="prompt") | model
    result = (
        await chain.ainvoke("hi", config={"tags": ["beta"]})
        if is_async
        else chain.invoke("hi", config={"tags": ["beta"]})
    )
    assert result.content == "Hello there"
    spans = by_name(cap.spans())
    assert set(spans) == {"RunnableSequence", "prompt", "chat gpt-4o"}
    llm = spans["chat gpt-4o"]
    assert parent_of(llm) == spans["RunnableSequence"].context.span_id
    assert parent_of(spans["RunnableSequence"]) is None  # one run, one trace
    assert {s.context.trace_id for s in spans.values()} == {llm.context.trace_id}
    values = attrs(llm)
    assert values["langchain.run.name"] == "ChatOpenAI"
    assert values["llmtrace.tags"] == ("beta",)
    assert values["gen_ai.provider.name"] == "openai"
    assert values["openai.api.type"] == "chat_completions"  # recorded by the openai integration
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["gen_ai.usage.cache_read.input_tokens"] == 800
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    assert (
        values["gen_ai.input.messages"] == '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'
    )
    assert llm.kind.name == "CLIENT"
    assert spans["RunnableSequence"].attributes["llmtrace.span.kind"] == "chain"
    assert json.loads(spans["RunnableSequence"].attributes["llmtrace.input"]) == "hi"


@pytest.mark.parametrize("stream", [False, True])
def test_the_provider_answer_on_langchains_span_is_recorded_on_the_export_thread(stream: bool) -> None:
    """The openai call records onto LangChain's span; its answer is read when LangChain ends that
    span, on the export thread, and the one span carries both (the framework's run name, the
    provider's usage and answer)."""
    server = FakeServer()
    if stream:
        server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    else:
        server.json("/chat/completions", p.chat())
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(threading.current_thread().name)
        return text

    with llmtrace.testing.capture(redact=redact) as cap:
        model = chat_model(server, stream_usage=True)
        text = "".join(str(c.content) for c in model.stream("hi")) if stream else model.invoke("hi").content
        assert text == ("Hello" if stream else "Hello there")
        (span,) = cap.spans()
    assert seen[-1] == "llmtrace-export"  # the answer; the request's messages before it, during the call
    values = attrs(span)
    assert values["langchain.run.name"] == "ChatOpenAI"
    assert values["openai.api.type"] == "chat_completions"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    answer = json.loads(values["gen_ai.output.messages"])
    assert answer[0]["parts"] == [{"type": "text", "content": "Hello" if stream else "Hello there"}]


@pytest.mark.parametrize("is_async", [False, True])
async def test_streamed_chat_openai_is_one_span_with_streamed_usage(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    model = chat_model(server, is_async=is_async, stream_usage=True)
    if is_async:
        text = "".join([str(c.content) async for c in model.astream("hi")])
    else:
        text = "".join(str(c.content) for c in model.stream("hi"))
    assert text == "Hello"
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.request.stream"] is True
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["llmtrace.output.chars"] == 5
    assert values["llmtrace.ttft_ms"] > 0


async def _stream(model: ChatOpenAI, is_async: bool, question: str = "hi") -> list[Any]:
    if is_async:
        return [chunk async for chunk in model.astream(question)]
    return list(model.stream(question))


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_stream_under_langchain_is_langchains_answer_with_the_providers_facts(
    cap: CapturedSpans, is_async: bool
) -> None:
    """The openai stream under ``ChatOpenAI`` is watched only for what the provider alone knows
    (`ChatStreamWatch`); the answer on the one span is the one LangChain assembled and delivered,
    tool call included, beside the provider's response id, model, usage and cost."""
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True, tools=True)))
    chunks = await _stream(chat_model(server, is_async=is_async, stream_usage=True), is_async)
    answer = chunks[0]
    for chunk in chunks[1:]:
        answer += chunk
    assert answer.content == "Hello"
    assert answer.tool_calls[0]["args"] == {"city": "Paris"}
    (span,) = cap.spans()
    values = attrs(span)
    assert values["langchain.run.name"] == "ChatOpenAI"
    assert values["gen_ai.response.id"] == "chatcmpl-s"  # the provider's, not LangChain's run id
    assert values["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert values["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    assert values["gen_ai.usage.cache_read.input_tokens"] == 800
    assert values["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    assert values["openai.api.type"] == "chat_completions"  # the openai call's request attributes
    tool_call = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
    assert json.loads(values["llmtrace.tool_calls"]) == [tool_call]
    assert json.loads(values["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello"}, {"type": "tool_call", **tool_call}],
            "finish_reason": "tool_calls",
        }
    ]
    assert values["gen_ai.response.time_to_first_chunk"] > 0
    assert values["llmtrace.ttft_ms"] >= values["gen_ai.response.time_to_first_chunk"] * 1000


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_usage_chunk_llmtrace_asked_for_never_reaches_langchain(is_async: bool) -> None:
    server = FakeServer()
    server.stream("/chat/completions", p.chat_stream_usage_if_asked(["Hi"]))
    with llmtrace.testing.capture(openai_stream_usage=True) as cap:
        chunks = await _stream(chat_model(server, is_async=is_async), is_async)
        (span,) = cap.spans()
    assert server.requests[-1]["stream_options"] == {"include_usage": True}  # asked by llmtrace
    assert [c.usage_metadata for c in chunks] == [None] * len(chunks)  # as without llmtrace
    assert "".join(str(c.content) for c in chunks) == "Hi"
    values = attrs(span)
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)


def test_a_stream_the_caller_stops_reading_is_cancelled_with_the_answer_so_far(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo", " there"], usage=True)))
    model = chat_model(server, stream_usage=True)
    received = []
    for chunk in model.stream("hi"):
        received.append(chunk.content)
        if chunk.content == "lo":
            break
    assert received == ["", "Hel", "lo"]
    (span,) = cap.spans()
    values = attrs(span)
    assert values["llmtrace.status"] == "cancelled"
    assert span.status.status_code.name == "UNSET"  # stopping early is not an error
    assert values["gen_ai.response.id"] == "chatcmpl-s"
    assert values["gen_ai.response.finish_reasons"] == ("error",)  # cut short: no finish reason came
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Hello"}]
    assert values["llmtrace.usage.source"] == "estimated"  # the usage chunk was never read


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_provider_error_mid_stream_keeps_the_answer_so_far(
    cap: CapturedSpans, is_async: bool
) -> None:
    chunks: list[Any] = p.chat_chunks(["Hel", "lo"])[:2]
    chunks.append({"error": {"message": "The server is overloaded", "type": "server_error"}})
    server = FakeServer()
    server.stream("/chat/completions", sse(chunks))
    with pytest.raises(openai.APIError, match="overloaded"):
        await _stream(chat_model(server, is_async=is_async, stream_usage=True), is_async)
    (span,) = cap.spans()
    values = attrs(span)
    assert span.status.status_code.name == "ERROR"
    assert values["error.type"] == "APIError"
    assert values["gen_ai.response.id"] == "chatcmpl-s"
    assert json.loads(values["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hel"}], "finish_reason": "error"}
    ]


def test_a_flex_stream_under_langchain_is_priced_from_the_providers_usage(cap: CapturedSpans) -> None:
    """LangChain files a flex call's tokens under ``flex_``-prefixed names (its cache reads as
    ``flex_cache_read``); the span's usage is the provider's own, so the cache reads still count."""
    server = FakeServer()
    chunks = [c | {"service_tier": "flex", "model": "gpt-5"} for c in p.chat_chunks(["Hi"], usage=True)]
    server.stream("/chat/completions", sse(chunks))
    model = chat_model(server, stream_usage=True, service_tier="flex")
    chunks_received = list(model.stream("hi"))
    total = chunks_received[0]
    for chunk in chunks_received[1:]:
        total += chunk
    assert total.usage_metadata is not None
    assert "cache_read" not in (total.usage_metadata.get("input_token_details") or {})  # LangChain's names
    values = attrs(cap.spans()[0])
    assert values["openai.response.service_tier"] == "flex"
    assert values["gen_ai.usage.cache_read.input_tokens"] == 800
    assert values["llmtrace.cost.usd"] == pytest.approx(_tier_cost("flex"))


@pytest.mark.parametrize(
    ("base_url", "model", "provider", "usage_on"),
    [
        ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq", "x_groq"),
        ("https://api.deepseek.com", "deepseek-chat", "deepseek", "finish chunk"),
    ],
)
def test_a_compatible_server_under_langchain_is_named_and_priced_as_itself(
    cap: CapturedSpans, base_url: str, model: str, provider: str, usage_on: str
) -> None:
    """``ChatOpenAI`` pointed at another server says "openai" to LangChain; the span names and
    prices the server the openai client reached, with the usage where that server sends it."""
    chunks = [{**chunk, "model": model} for chunk in p.chat_chunks(["Hel", "lo"])]
    if usage_on == "x_groq":
        chunks[-1]["x_groq"] = {"id": "req_1", "usage": {"prompt_tokens": 1000, "completion_tokens": 200}}
    else:
        chunks[-1]["usage"] = p.USAGE.model_dump(mode="json")
    server = FakeServer()
    server.stream("/chat/completions", sse(chunks))
    llm = ChatOpenAI(
        model=model, base_url=base_url, api_key="k", max_retries=0, http_client=server.sync_client()
    )
    assert "".join(str(c.content) for c in llm.stream("hi")) == "Hello"
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.provider.name"] == provider
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, 200)
    cached = 800 if usage_on == "finish chunk" else 0
    expected = calc_price(
        Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=cached), model, provider_id=provider
    ).total_price
    assert values["llmtrace.cost.usd"] == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("is_async", [False, True])
async def test_invoke_streams_under_the_hood_exactly_when_langchain_would(
    cap: CapturedSpans, is_async: bool
) -> None:
    # llmtrace answers LangChain's "does a handler want a stream?" for its own handler; what
    # decides is still the model's settings and the other handlers.
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    streaming = chat_model(server, is_async=is_async, streaming=True, stream_usage=True)
    result = await streaming.ainvoke("hi") if is_async else streaming.invoke("hi")
    assert result.content == "Hello"
    (span,) = cap.spans()
    assert attrs(span)["gen_ai.request.stream"] is True

    class Streams(BaseCallbackHandler):  # a v1 streaming handler beside ours (what astream_events adds)
        def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
            return output

        def tap_output_iter(self, run_id: Any, output: Any) -> Any:
            return output

    cap.clear()
    model = chat_model(server, is_async=is_async, stream_usage=True)
    config: Any = {"callbacks": [Streams()]}
    result = await model.ainvoke("hi", config=config) if is_async else model.invoke("hi", config=config)
    assert result.content == "Hello"
    (span,) = cap.spans()
    assert attrs(span)["gen_ai.request.stream"] is True


def test_model_without_an_instrumented_client_is_recorded_from_langchains_result(cap: CapturedSpans) -> None:
    usage = {
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
        "input_token_details": {"cache_read": 100},
    }
    reply = AIMessage("fake answer", usage_metadata=usage, response_metadata={"model_name": "gpt-4o-mini"})
    model = GenericFakeChatModel(messages=iter([reply]))
    assert model.invoke("question").content == "fake answer"
    (span,) = cap.spans()
    values = attrs(span)
    assert span.name == "chat"
    assert values["gen_ai.provider.name"] == "genericfakechatmodel"
    assert values["langchain.run.name"] == "GenericFakeChatModel"
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (120, 30)
    assert values["gen_ai.usage.cache_read.input_tokens"] == 100
    assert values["gen_ai.response.model"] == "gpt-4o-mini"
    assert json.loads(values["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "fake answer"}], "finish_reason": "stop"}
    ]


@pytest.mark.parametrize("is_async", [False, True])
async def test_streamed_model_without_an_instrumented_client_times_its_first_token(
    cap: CapturedSpans, is_async: bool
) -> None:
    """Its first token is the TTFT; another handler still gets every token (llmtrace skips the
    per-token dispatch only when its own handler is a run's only one and waits for no token)."""
    tokens: list[str] = []

    class Collect(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    def model() -> GenericFakeChatModel:
        return GenericFakeChatModel(messages=iter([AIMessage("one two three")]))

    for config in ({}, {"callbacks": [Collect()]}):
        if is_async:
            text = "".join([str(c.content) async for c in model().astream("q", config=config)])
        else:
            text = "".join(str(c.content) for c in model().stream("q", config=config))
        assert text == "one two three"
    assert "".join(tokens) == "one two three" and len(tokens) == 5
    alone, with_collector = cap.spans()
    for span in (alone, with_collector):
        values = attrs(span)
        assert values["llmtrace.ttft_ms"] > 0
        assert values["gen_ai.response.time_to_first_chunk"] > 0
        assert values["llmtrace.output.chars"] == len("one two three")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _agent_server() -> FakeServer:
    """First request: a tool call; once the tool result is in the messages: the answer."""
    server = FakeServer()

    def respond(req: dict[str, Any]) -> httpx2.Response:
        if any(m.get("role") == "tool" for m in req["messages"]):
            return httpx2.Response(200, json=p.chat("It is sunny").model_dump(mode="json"))
        return httpx2.Response(200, json=p.chat(None, tool_calls=[p.tool_call()]).model_dump(mode="json"))

    server.routes["/chat/completions"] = respond
    return server


def _agent(server: FakeServer, is_async: bool = False) -> Any:
    model = chat_model(server, is_async=is_async).bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    async def agent_async(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_async if is_async else agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize("is_async", [False, True])
async def test_langgraph_agent_is_one_trace_nested_as_the_run_tree(
    cap: CapturedSpans, is_async: bool
) -> None:
    app = _agent(_agent_server(), is_async)
    config = {"configurable": {"thread_id": "thread-7"}}
    inputs = {"messages": [HumanMessage("weather in Paris?")]}
    result = await app.ainvoke(inputs, config=config) if is_async else app.invoke(inputs, config=config)
    assert result["messages"][-1].content == "It is sunny"
    spans = cap.spans()
    assert len({s.context.trace_id for s in spans}) == 1
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "LangGraph"
    ids = {s.context.span_id: s for s in spans}
    nodes = [s for s in spans if s.name == s.attributes.get("langgraph.node")]
    assert [n.name for n in sorted(nodes, key=lambda s: s.start_time)] == ["agent", "tools", "agent"]
    assert all(parent_of(n) == root.context.span_id for n in nodes)
    routers = [s for s in spans if s.name == "tools_condition"]  # the conditional edge, inside its node
    assert len(routers) == 2 and all(ids[parent_of(r)].name == "agent" for r in routers)
    llms = sorted(
        (s for s in spans if s.attributes["llmtrace.span.kind"] == "llm"), key=lambda s: s.start_time
    )
    assert len(llms) == 2  # two model calls, one span each (no second span from the openai patch)
    for llm in llms:
        parent = ids[parent_of(llm)]
        assert parent.name == "agent" and llm.attributes["langgraph.node"] == "agent"
        assert llm.attributes["gen_ai.usage.input_tokens"] == 1000
        assert llm.attributes["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    assert json.loads(llms[0].attributes["llmtrace.tool_calls"])[0]["name"] == "get_weather"
    (tool_span,) = [s for s in spans if s.attributes["llmtrace.span.kind"] == "tool"]
    assert tool_span.name == "execute_tool get_weather"
    assert ids[parent_of(tool_span)].name == "tools"
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(tool_span.attributes["llmtrace.input"]) == {"city": "Paris"}
    assert {s.attributes.get("session.id") for s in spans} == {"thread-7"}
    # LangGraph's hidden bookkeeping runs (writes, branches) are not spans
    assert not [s for s in spans if s.name.startswith(("ChannelWrite", "Branch", "__start__"))]


def test_interrupt_and_resume_are_two_traces_of_one_session(cap: CapturedSpans) -> None:
    class State(TypedDict):
        draft: str
        approved: str

    def ask(state: State) -> dict[str, str]:
        return {"approved": interrupt({"draft": state["draft"]})}

    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "review-1"}}
    first = app.invoke({"draft": "v1"}, config=config)
    assert "__interrupt__" in first
    interrupted = cap.spans()
    cap.clear()
    assert app.invoke(Command(resume="yes"), config=config)["approved"] == "yes"
    resumed = cap.spans()
    assert len({s.context.trace_id for s in interrupted}) == len({s.context.trace_id for s in resumed}) == 1
    assert interrupted[0].context.trace_id != resumed[0].context.trace_id
    assert {s.attributes["session.id"] for s in interrupted + resumed} == {"review-1"}
    (node,) = [s for s in interrupted if s.name == "ask"]
    assert node.attributes["langgraph.interrupted"] is True
    assert node.status.status_code.name == "UNSET"  # an interrupt is not an error


class Shelf(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [
            Document("Paris is in France", id="doc-1", metadata={"score": 0.9}),
            Document("Lyon too", id="doc-2", metadata={"score": 0.5}),
        ]


def test_retriever_records_document_ids_and_scores(cap: CapturedSpans) -> None:
    assert len(Shelf().invoke("where is Paris")) == 2
    (span,) = cap.spans()
    values = attrs(span)
    assert span.name == "retrieve Shelf"
    assert values["llmtrace.span.kind"] == "retriever"
    assert values["gen_ai.operation.name"] == "retrieval"
    assert values["llmtrace.retrieval.count"] == 2
    assert values["llmtrace.retrieval.document_ids"] == ("doc-1", "doc-2")
    assert values["llmtrace.retrieval.scores"] == (0.9, 0.5)
    assert json.loads(values["llmtrace.input"]) == "where is Paris"
    assert json.loads(values["llmtrace.output"])[0] == {
        "id": "doc-1",
        "content": "Paris is in France",
        "metadata": {"score": 0.9},
    }


def test_errors_are_recorded_and_the_same_exception_reaches_the_caller(cap: CapturedSpans) -> None:
    boom = ValueError("bad input")

    def fail(_: Any) -> None:
        raise boom

    with pytest.raises(ValueError) as caught:
        RunnableLambda(fail).with_config(run_name="step").invoke("x")
    assert caught.value is boom
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"] == "ValueError"


def test_provider_error_is_recorded_once_on_the_llm_span(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.error("/chat/completions", 429, {"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(Exception) as caught:
        chat_model(server).invoke("hi")
    (span,) = cap.spans()
    # the provider's error, recorded by the openai integration (langchain-openai re-raises a subclass)
    assert attrs(span)["error.type"] == "RateLimitError"
    assert isinstance(caught.value, openai.RateLimitError)
    assert attrs(span)["http.response.status_code"] == 429
    assert span.status.status_code.name == "ERROR"


def test_a_traced_function_around_the_run_is_its_parent(cap: CapturedSpans) -> None:
    @llmtrace.trace
    def handle_request(q: str) -> Any:
        return RunnableLambda(lambda x: x.upper()).with_config(run_name="shout").invoke(q)

    assert handle_request("hi") == "HI"
    spans = by_name(cap.spans())
    assert parent_of(spans["shout"]) == spans["handle_request"].context.span_id


def test_capture_content_off_records_no_text() -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat("secret answer"))
    with llmtrace.testing.capture(capture_content=False) as cap:
        (RunnableLambda(lambda q: q) | chat_model(server)).invoke("my secret")
        spans = cap.spans()
    assert len(spans) == 3
    assert all("secret" not in json.dumps(dict(s.attributes)) for s in spans)


def test_handler_faults_never_reach_the_caller(cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(lc, "start_call", boom)
    monkeypatch.setattr(lc, "as_json", boom)
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    with llmtrace.testing.allow_internal_errors():
        assert (RunnableLambda(lambda q: q) | chat_model(server)).invoke("hi").content == "Hello there"


def test_uninstrument_removes_the_handler() -> None:
    original = BaseCallbackManager.__dict__["__init__"]
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    with llmtrace.testing.capture() as cap:
        assert isinstance(BaseCallbackManager.__dict__["__init__"], _common.LlmtraceWrapper)
        chain = RunnableLambda(lambda q: q) | chat_model(server)
        chain.invoke("hi")
        assert len(cap.spans()) == 3
    assert BaseCallbackManager.__dict__["__init__"] is original
    exporter = llmtrace.testing.InMemorySpanExporter()
    llmtrace.instrument(exporter=exporter, service_name="t", providers=["openai"])
    try:
        chain.invoke("hi")  # the openai span alone: no LangChain spans once langchain is not enabled
        llmtrace.flush()
        assert [s.name for s in exporter.get_finished_spans()] == ["chat gpt-4o"]
    finally:
        llmtrace.uninstrument()


@pytest.mark.parametrize("is_async", [False, True])
async def test_batch_gives_each_model_call_its_own_provider_usage(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()

    def respond(req: dict[str, Any]) -> httpx2.Response:
        question = req["messages"][-1]["content"]
        return httpx2.Response(200, json=p.chat(f"answer to {question}").model_dump(mode="json"))

    server.routes["/chat/completions"] = respond
    model = chat_model(server, is_async=is_async)
    questions = [f"q{i}" for i in range(4)]
    answers = await model.abatch(questions) if is_async else model.batch(questions)
    assert [a.content for a in answers] == [f"answer to q{i}" for i in range(4)]
    spans = cap.spans()
    assert len(spans) == 4  # one span per model call
    for span in spans:
        question = json.loads(span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"]
        output = json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"]
        assert output == f"answer to {question}"  # the provider's response on its own call's span
        assert span.attributes["openai.api.type"] == "chat_completions"


@pytest.mark.parametrize("is_async", [False, True])
async def test_chat_anthropic_gives_exactly_one_llm_span_with_the_providers_usage(
    cap: CapturedSpans, is_async: bool
) -> None:
    import anthropic
    from langchain_anthropic import ChatAnthropic

    from ..anthropic import anthropic_payloads as ap
    from ..anthropic.test_anthropic import COST

    server = FakeServer()
    server.json("/v1/messages", ap.message())
    model = ChatAnthropic(model="claude-sonnet-4-5", api_key="k", max_tokens=256, max_retries=0)
    # The SDK client over the fake endpoint, where ChatAnthropic caches the one it builds.
    if is_async:
        model.__dict__["_async_client"] = anthropic.AsyncAnthropic(
            api_key="k", http_client=server.async_client(), max_retries=0
        )
    else:
        model.__dict__["_client"] = anthropic.Anthropic(
            api_key="k", http_client=server.sync_client(), max_retries=0
        )
    chain = RunnableLambda(lambda q: [HumanMessage(q)]).with_config(run_name="prompt") | model
    result = await chain.ainvoke("hi") if is_async else chain.invoke("hi")
    assert result.content == "Hi there"
    assert len(server.requests) == 1
    spans = by_name(cap.spans())
    assert set(spans) == {"RunnableSequence", "prompt", "chat claude-sonnet-4-5"}
    llm = spans["chat claude-sonnet-4-5"]
    assert parent_of(llm) == spans["RunnableSequence"].context.span_id
    values = attrs(llm)
    assert values["langchain.run.name"] == "ChatAnthropic"
    assert values["gen_ai.provider.name"] == "anthropic"
    assert values["server.address"] == "api.anthropic.com"  # recorded by the anthropic integration
    assert values["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert values["llmtrace.usage.source"] == "reported"
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (5100, 20)
    assert values["gen_ai.usage.cache_read.input_tokens"] == 4000
    assert values["gen_ai.usage.cache_creation.input_tokens"] == 1000
    assert values["llmtrace.cost.usd"] == pytest.approx(COST)


def test_request_parameters_are_the_numbers_given_and_the_last_max_tokens_name_wins(
    cap: CapturedSpans,
) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("fake answer")]))
    given = {"max_output_tokens": 20, "top_p": "high", "seed": None, "max_tokens": 10, "temperature": 0.3}
    assert model.invoke("question", **given).content == "fake answer"  # type: ignore[arg-type]
    values = attrs(cap.spans()[0])
    requested = {k: v for k, v in values.items() if k.startswith("gen_ai.request.")}
    # In the integration's order (temperature, top_p, ..., max_tokens, max_output_tokens, seed, ...),
    # not the caller's; a non-number and a None are not recorded; max_output_tokens is listed last.
    assert list(requested.items()) == [
        ("gen_ai.request.temperature", 0.3),
        ("gen_ai.request.max_tokens", 20),
    ]
