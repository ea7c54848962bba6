"""The OpenAI Agents SDK over the real openai client against a fake endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool, trace
from opentelemetry.sdk.trace import ReadableSpan

import llmtrace
import llmtrace.testing
from llmtrace.testing import CapturedSpans

from ..fakes import FakeServer, sse
from ..openai import openai_payloads as p
from ..openai.test_openai_calls import GPT4O_COST


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _chat_server() -> FakeServer:
    """First request: a tool call; once the tool's result is in the messages: the answer."""
    server = FakeServer()

    def respond(req: dict[str, Any]) -> httpx2.Response:
        if any(m.get("role") == "tool" for m in req["messages"]):
            return httpx2.Response(200, json=p.chat("It is sunny").model_dump(mode="json"))
        return httpx2.Response(200, json=p.chat(None, tool_calls=[p.tool_call()]).model_dump(mode="json"))

    server.routes["/chat/completions"] = respond
    return server


def _agent(server: FakeServer, *, responses: bool = False) -> Agent:
    client = openai.AsyncOpenAI(api_key="sk-test", http_client=server.async_client(), max_retries=0)
    model: Any = (
        OpenAIResponsesModel(model="gpt-4o", openai_client=client)
        if responses
        else OpenAIChatCompletionsModel(model="gpt-4o", openai_client=client)
    )
    return Agent(name="Weather", instructions="be brief", model=model, tools=[get_weather])


def _ids(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans}


def _path(span: ReadableSpan, ids: dict[int, ReadableSpan]) -> list[str]:
    """Names from the root down to ``span``."""
    names = [span.name]
    while span.parent is not None:
        span = ids[span.parent.span_id]
        names.insert(0, span.name)
    return names


async def test_agent_run_is_one_trace_with_one_llm_span_per_model_call(cap: CapturedSpans) -> None:
    result = await Runner.run(_agent(_chat_server()), "weather in Paris?")
    assert result.final_output == "It is sunny"
    spans = cap.spans()
    assert len({s.context.trace_id for s in spans}) == 1
    ids = _ids(spans)
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "Agent workflow"
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    (agent,) = [s for s in spans if s.name == "invoke_agent Weather"]
    assert _path(agent, ids) == ["Agent workflow", "run Agent workflow", "invoke_agent Weather"]
    assert agent.attributes["gen_ai.agent.name"] == "Weather"
    assert agent.attributes["openai_agents.agent.tools"] == ("get_weather",)
    llms = sorted(
        (s for s in spans if s.attributes["llmtrace.span.kind"] == "llm"), key=lambda s: s.start_time
    )
    assert len(llms) == 2  # two model requests, one span each: no second span from the openai patch
    for turn, llm in enumerate(llms, start=1):
        assert _path(llm, ids)[2:] == ["invoke_agent Weather", f"turn {turn}", "chat gpt-4o"]
        assert llm.name == "chat gpt-4o"
        assert llm.attributes["openai.api.type"] == "chat_completions"  # recorded by the openai integration
        assert (
            llm.attributes["gen_ai.usage.input_tokens"],
            llm.attributes["gen_ai.usage.output_tokens"],
        ) == (1000, 200)
        assert llm.attributes["llmtrace.cost.usd"] == pytest.approx(GPT4O_COST)
    (tool,) = [s for s in spans if s.attributes["llmtrace.span.kind"] == "tool"]
    assert tool.name == "execute_tool get_weather"
    assert _path(tool, ids)[2:] == ["invoke_agent Weather", "turn 1", "execute_tool get_weather"]
    assert json.loads(tool.attributes["llmtrace.input"]) == {"city": "Paris"}
    assert json.loads(tool.attributes["llmtrace.output"]) == "sunny in Paris"


async def test_responses_model_and_a_named_trace_with_group_id_as_session(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/responses", p.response("Hi"))
    with trace("Support flow", group_id="conversation-9"):
        result = await Runner.run(_agent(server, responses=True), "hello")
    assert result.final_output == "Hi"
    spans = cap.spans()
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "Support flow"
    assert {s.attributes.get("session.id") for s in spans} == {"conversation-9"}
    (llm,) = [s for s in spans if s.attributes["llmtrace.span.kind"] == "llm"]
    assert llm.attributes["openai.api.type"] == "responses"
    assert llm.attributes["llmtrace.usage.source"] == "reported"


async def test_model_error_is_recorded_once_and_reraised(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.error("/chat/completions", 429, {"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(openai.RateLimitError):
        await Runner.run(_agent(server), "hi")
    spans = cap.spans()
    (llm,) = [s for s in spans if s.attributes["llmtrace.span.kind"] == "llm"]
    assert llm.attributes["error.type"] == "RateLimitError"
    assert llm.status.status_code.name == "ERROR"


async def test_without_the_openai_integration_the_sdks_usage_is_recorded() -> None:
    with llmtrace.testing.capture(providers=["openai_agents"]) as cap:
        await Runner.run(_agent(_chat_server()), "weather in Paris?")
        llms = [s for s in cap.spans() if s.attributes["llmtrace.span.kind"] == "llm"]
    assert len(llms) == 2
    assert all(s.attributes["gen_ai.usage.input_tokens"] == 1000 for s in llms)
    assert all("openai.api.type" not in s.attributes for s in llms)


async def test_uninstrument_makes_the_processor_inert() -> None:
    exporter = llmtrace.testing.InMemorySpanExporter()
    llmtrace.instrument(exporter=exporter, service_name="t")
    llmtrace.uninstrument()
    await Runner.run(_agent(_chat_server()), "weather in Paris?")
    llmtrace.flush()
    assert exporter.get_finished_spans() == ()


async def test_handoff_and_guardrail_spans(cap: CapturedSpans) -> None:
    from agents import GuardrailFunctionOutput, InputGuardrail

    server = FakeServer()

    def respond(req: dict[str, Any]) -> httpx2.Response:
        if any(m.get("role") == "tool" for m in req["messages"]):
            return httpx2.Response(200, json=p.chat("Hola").model_dump(mode="json"))
        transfer = p.tool_call(name="transfer_to_spanish", arguments="{}")
        return httpx2.Response(200, json=p.chat(None, tool_calls=[transfer]).model_dump(mode="json"))

    server.routes["/chat/completions"] = respond
    client = openai.AsyncOpenAI(api_key="sk-test", http_client=server.async_client(), max_retries=0)
    model = OpenAIChatCompletionsModel(model="gpt-4o", openai_client=client)
    spanish = Agent(name="Spanish", instructions="answer in Spanish", model=model)

    async def polite(ctx: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    triage = Agent(
        name="Triage",
        model=model,
        handoffs=[spanish],
        input_guardrails=[InputGuardrail(guardrail_function=polite, name="polite")],
    )
    result = await Runner.run(triage, "hola")
    assert result.final_output == "Hola"
    spans = cap.spans()
    (handoff,) = [s for s in spans if s.name.startswith("handoff")]
    assert handoff.attributes["openai_agents.handoff.from_agent"] == "Triage"
    assert handoff.attributes["openai_agents.handoff.to_agent"] == "Spanish"
    (guardrail,) = [s for s in spans if s.name == "guardrail polite"]
    assert guardrail.attributes["openai_agents.guardrail.triggered"] is False
    assert {
        s.name for s in spans if s.attributes.get("gen_ai.agent.name") and s.name.startswith("invoke")
    } == {
        "invoke_agent Triage",
        "invoke_agent Spanish",
    }
    triage_span = next(s for s in spans if s.name == "invoke_agent Triage")
    assert triage_span.attributes["openai_agents.agent.handoffs"] == ("Spanish",)
    assert len({s.context.trace_id for s in spans}) == 1


async def test_streamed_run_is_one_trace_with_streamed_usage(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"], usage=True)))
    result = Runner.run_streamed(_agent(server), "hi")
    async for _ in result.stream_events():
        pass
    assert result.final_output == "Hello"
    spans = cap.spans()
    assert len({s.context.trace_id for s in spans}) == 1
    (llm,) = [s for s in spans if s.attributes["llmtrace.span.kind"] == "llm"]
    assert llm.attributes["gen_ai.request.stream"] is True
    assert (llm.attributes["gen_ai.usage.input_tokens"], llm.attributes["gen_ai.usage.output_tokens"]) == (
        1000,
        200,
    )
