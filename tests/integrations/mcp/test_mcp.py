"""MCP: a real ``mcp.Client`` talking to a real MCP server in-process (in-memory transport)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientSession
from mcp.server.mcpserver import MCPServer
from opentelemetry.sdk.trace import ReadableSpan

import llmtrace
import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.testing import CapturedSpans


def server() -> MCPServer:
    app = MCPServer("weather")

    @app.tool()
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @app.tool()
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("no data")

    @app.resource("docs://readme")
    def readme() -> str:
        return "read me"

    @app.prompt()
    def greet(name: str) -> str:
        return f"Say hello to {name}"

    return app


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


@llmtrace.trace
async def ask_weather() -> Any:
    async with Client(server()) as client:
        return await client.call_tool("get_weather", {"city": "Paris"})


async def test_tool_call_span_is_the_parent_of_the_servers_handler_span(cap: CapturedSpans) -> None:
    result = await ask_weather()
    assert result.content[0].text == "sunny in Paris"
    spans = cap.spans()
    root = by_name(spans, "ask_weather")
    tool = by_name(spans, "execute_tool get_weather")
    handler = by_name(spans, "tools/call get_weather")  # the server's own span (mcp's middleware)
    assert {s.context.trace_id for s in (root, tool, handler)} == {root.context.trace_id}
    assert tool.parent.span_id == root.context.span_id
    assert handler.parent.span_id == tool.context.span_id
    assert (tool.kind.name, handler.kind.name) == ("CLIENT", "SERVER")
    assert tool.attributes["llmtrace.span.kind"] == "tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert json.loads(tool.attributes["llmtrace.input"]) == {"city": "Paris"}
    assert json.loads(tool.attributes["llmtrace.output"]) == [{"type": "text", "text": "sunny in Paris"}]


async def test_a_server_in_another_process_continues_the_trace_from_meta(
    cap: CapturedSpans, tmp_path: Path
) -> None:
    """Over stdio: the only way the server learns the trace is ``_meta.traceparent``."""
    out = tmp_path / "server-spans.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(Path(__file__).with_name("stdio_server.py"))],
        env={**os.environ, "SPANS_OUT": str(out)},
    )
    async with Client(params) as client:
        result = await client.call_tool("get_weather", {"city": "Oslo"})
    assert result.content[0].text == "sunny in Oslo"
    tool = by_name(cap.spans(), "execute_tool get_weather")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (out.exists() and "tools/call" in out.read_text()):
        await asyncio.sleep(0.1)  # the server process exports at its exit
    server_spans = [json.loads(line) for line in out.read_text().splitlines()]
    (handler,) = [s for s in server_spans if s["name"] == "tools/call get_weather"]
    assert handler["kind"] == "SERVER"
    assert handler["trace_id"] == format(tool.context.trace_id, "032x")
    client_ids = {
        format(s.context.span_id, "016x") for s in cap.spans() if s.context.trace_id == tool.context.trace_id
    }
    assert (
        handler["parent_id"] in client_ids
    )  # a span of the client's trace (ours, or the SDK's request span)


async def test_tool_error_result_is_an_error(cap: CapturedSpans) -> None:
    async with Client(server()) as client:
        result = await client.call_tool("broken", {"city": "Paris"})
    assert result.is_error
    tool = by_name(cap.spans(), "execute_tool broken")
    assert tool.attributes["error.type"] == "tool_error"
    assert tool.status.status_code.name == "ERROR"


async def test_resource_and_prompt_spans(cap: CapturedSpans) -> None:
    async with Client(server()) as client:
        resource = await client.read_resource("docs://readme")
        prompt = await client.get_prompt("greet", {"name": "Ada"})
    assert resource.contents[0].text == "read me"
    assert "Ada" in prompt.messages[0].content.text
    spans = cap.spans()
    read = by_name(spans, "read_resource docs://readme")
    assert read.attributes["mcp.resource.uri"] == "docs://readme"
    assert json.loads(read.attributes["llmtrace.output"])[0]["text"] == "read me"
    get = by_name(spans, "get_prompt greet")
    assert get.attributes["gen_ai.prompt.name"] == "greet"
    assert json.loads(get.attributes["llmtrace.input"]) == {"name": "Ada"}


async def test_capture_content_off_records_no_arguments_or_results() -> None:
    with llmtrace.testing.capture(capture_content=False) as cap:
        async with Client(server()) as client:
            await client.call_tool("get_weather", {"city": "Paris"})
        tool = by_name(cap.spans(), "execute_tool get_weather")
    assert "llmtrace.input" not in tool.attributes and "llmtrace.output" not in tool.attributes


async def test_faults_never_reach_the_caller(cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmtrace.integrations import mcp as mcp_integration

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(mcp_integration, "capture_json", boom)
    with llmtrace.testing.allow_internal_errors():
        async with Client(server()) as client:
            result = await client.call_tool("get_weather", {"city": "Paris"})
    assert result.content[0].text == "sunny in Paris"


def test_uninstrument_restores_the_client_session() -> None:
    original = ClientSession.__dict__["call_tool"]
    with llmtrace.testing.capture():
        assert isinstance(ClientSession.__dict__["call_tool"], _common.LlmtraceWrapper)
    assert ClientSession.__dict__["call_tool"] is original
