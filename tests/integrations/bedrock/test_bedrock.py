"""boto3 ``bedrock-runtime`` against a local fake Bedrock endpoint (``endpoint_url``), real HTTP.

The fake answers Converse and InvokeModel with JSON and ConverseStream with the AWS event-stream
binary framing botocore decodes.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from genai_prices import Usage, calc_price

import llmtrace.testing
from llmtrace.integrations import _common
from llmtrace.testing import CapturedSpans

from ..conftest import attrs

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message: prelude, headers, JSON payload, CRCs."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        headers += (
            bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        )
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


Route = Callable[[dict[str, Any]], tuple[int, str, bytes]]


class FakeBedrock:
    """Routes ``/model/{id}/{operation}`` to a (status, content type, body) and records request bodies."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.headers: dict[str, dict[str, str]] = {}  # operation -> extra response headers
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                body = json.loads(raw or b"{}")
                fake.requests.append(body)
                operation = self.path.rsplit("/", 1)[-1]
                status, kind, content = fake.routes[operation](body)
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(content)))
                for name, value in fake.headers.get(operation, {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:  # the control plane's ListFoundationModels
                content = json.dumps({"modelSummaries": []}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def json(
        self,
        operation: str,
        payload: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.routes[operation] = lambda body: (status, "application/json", json.dumps(payload).encode())
        self.headers[operation] = headers or {}

    def stream(self, operation: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        content = b"".join(event(t, p) for t, p in events)
        self.routes[operation] = lambda body: (200, "application/vnd.amazon.eventstream", content)

    def client(self) -> Any:
        return boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{self.server.server_port}",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    yield fake
    fake.server.shutdown()


def aws_cost(model: str, input_tokens: int, output_tokens: int, cached: int = 0, written: int = 0) -> float:
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached or None,
        cache_write_tokens=written or None,
    )
    return float(calc_price(usage, model, provider_id="aws").total_price)


def test_converse_records_usage_with_cache_and_cost(cap: CapturedSpans, bedrock: FakeBedrock) -> None:
    bedrock.json(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hello there"}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 100,
                "outputTokens": 20,
                "totalTokens": 120,
                "cacheReadInputTokens": 400,
            },
            "metrics": {"latencyMs": 10},
        },
    )
    result = bedrock.client().converse(
        modelId=HAIKU,
        messages=MESSAGES,
        system=[{"text": "be brief"}],
        inferenceConfig={"maxTokens": 50, "temperature": 0.2},
    )
    assert result["output"]["message"]["content"][0]["text"] == "Hello there"
    (span,) = cap.spans()
    assert span.name == f"chat {HAIKU}"
    assert attrs(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "llmtrace.span.kind": "llm",
        "gen_ai.request.model": HAIKU,
        "server.address": "127.0.0.1",
        "server.port": bedrock.server.server_port,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.system_instructions": '[{"type": "text", "content": "be brief"}]',
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
        "gen_ai.response.finish_reasons": ("end_turn",),
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": 500,  # Converse's inputTokens exclude the cache
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 400,
        "llmtrace.output.chars": 11,
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "end_turn"}]',
        "llmtrace.cost.usd": pytest.approx(aws_cost(HAIKU, 500, 20, cached=400), rel=1e-12),
    }


def test_converse_stream_is_wrapped_and_reports_metadata_usage(
    cap: CapturedSpans, bedrock: FakeBedrock
) -> None:
    bedrock.stream(
        "converse-stream",
        [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("messageStop", {"stopReason": "end_turn"}),
            (
                "metadata",
                {
                    "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12},
                    "metrics": {"latencyMs": 5},
                },
            ),
        ],
    )
    response = bedrock.client().converse_stream(modelId=HAIKU, messages=MESSAGES)
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in response["stream"] if "contentBlockDelta" in e
    )
    assert text == "Hello"
    (span,) = cap.spans()
    values = attrs(span)
    assert values["gen_ai.request.stream"] is True
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (10, 2)
    assert values["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert values["llmtrace.output.chars"] == 5
    assert values["llmtrace.ttft_ms"] > 0


INVOKE_BODIES = [
    (
        HAIKU,
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        },
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-haiku-20240307",
            "content": [{"type": "text", "text": "Hi there"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 4},
        },
        (12, 4, "Hi there", "end_turn"),
    ),
    (
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": "hi", "max_gen_len": 50, "temperature": 0.5},
        {"generation": "Hello!", "prompt_token_count": 7, "generation_token_count": 3, "stop_reason": "stop"},
        (7, 3, "Hello!", "stop"),
    ),
    (
        "amazon.titan-text-express-v1",
        {"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 50}},
        {
            "inputTextTokenCount": 3,
            "results": [{"tokenCount": 5, "outputText": "Howdy", "completionReason": "FINISH"}],
        },
        (3, 5, "Howdy", "FINISH"),
    ),
    (
        "us.amazon.nova-lite-v1:0",
        {
            "schemaVersion": "messages-v1",
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"max_new_tokens": 50},
        },
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 9,
                "outputTokens": 3,
                "totalTokens": 12,
                "cacheReadInputTokenCount": 0,
                "cacheWriteInputTokenCount": 0,
            },
        },
        (9, 3, "Hello!", "end_turn"),
    ),
    (
        "openai.gpt-oss-120b-1:0",
        {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 50},
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "openai.gpt-oss-120b-1:0",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hey"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
        },
        (8, 2, "Hey", "stop"),
    ),
    (  # no usage in the body: Bedrock's headers carry it
        "us.deepseek.r1-v1:0",
        {"prompt": "hi", "max_tokens": 50},
        {"choices": [{"text": "Hi!", "stop_reason": "stop"}]},
        (6, 2, "Hi!", "stop"),
    ),
]


@pytest.mark.parametrize(("model", "request_body", "response_body", "expected"), INVOKE_BODIES)
def test_invoke_model_reads_each_family_and_gives_the_body_back(
    cap: CapturedSpans, bedrock: FakeBedrock, model: str, request_body: Any, response_body: Any, expected: Any
) -> None:
    input_tokens, output_tokens, text, reason = expected
    token_headers = {
        "x-amzn-bedrock-input-token-count": str(input_tokens),
        "x-amzn-bedrock-output-token-count": str(output_tokens),
    }
    bedrock.json("invoke", response_body, headers=token_headers)
    result = bedrock.client().invoke_model(modelId=model, body=json.dumps(request_body))
    assert json.loads(result["body"].read()) == response_body  # the caller still reads the whole body
    (span,) = cap.spans()
    values = attrs(span)
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (
        input_tokens,
        output_tokens,
    )
    assert values["gen_ai.request.max_tokens"] == 50
    assert values["gen_ai.response.finish_reasons"] == (reason,)
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": text}]
    assert json.loads(values["gen_ai.input.messages"])[0]["parts"] == [{"type": "text", "content": "hi"}]
    assert values["llmtrace.usage.source"] == "reported"
    assert values["llmtrace.cost.usd"] == pytest.approx(aws_cost(model, input_tokens, output_tokens))
    if "nova" in model:
        assert values["gen_ai.system_instructions"] == '[{"type": "text", "content": "be brief"}]'


NULL_BLOCK_BODIES = [
    (  # Converse's shape (Amazon Nova)
        "us.amazon.nova-lite-v1:0",
        {
            "output": {"message": {"role": "assistant", "content": [None, {"text": None}, {"text": "Hi"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 9, "outputTokens": 3, "totalTokens": 12},
        },
    ),
    (  # the Anthropic Messages API's
        HAIKU,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-haiku-20240307",
            "content": [None, {"type": "text", "text": None}, {"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 9, "output_tokens": 3},
        },
    ),
]


@pytest.mark.parametrize(("model", "response_body"), NULL_BLOCK_BODIES)
def test_invoke_model_records_a_body_with_null_blocks(
    cap: CapturedSpans, bedrock: FakeBedrock, model: str, response_body: Any
) -> None:
    """A ``null`` block or text loses that block only: usage, cost and the other text are kept."""
    bedrock.json("invoke", response_body)
    result = bedrock.client().invoke_model(modelId=model, body=json.dumps({"messages": []}))
    assert json.loads(result["body"].read()) == response_body
    values = attrs(cap.spans()[0])
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (9, 3)
    assert values["llmtrace.cost.usd"] == pytest.approx(aws_cost(model, 9, 3))
    assert values["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": ""},
        {"type": "text", "content": "Hi"},
    ]
    assert values["llmtrace.output.chars"] == 2


def test_converse_records_a_null_content_block(cap: CapturedSpans, bedrock: FakeBedrock) -> None:
    bedrock.json(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [None, {"text": "Hi"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 9, "outputTokens": 3, "totalTokens": 12},
            "metrics": {"latencyMs": 10},
        },
    )
    bedrock.client().converse(modelId=HAIKU, messages=MESSAGES)
    values = attrs(cap.spans()[0])
    assert values["gen_ai.usage.output_tokens"] == 3
    assert values["llmtrace.cost.usd"] == pytest.approx(aws_cost(HAIKU, 9, 3))
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Hi"}]


def test_invoke_model_of_a_family_not_read_takes_bedrocks_token_counts(
    cap: CapturedSpans, bedrock: FakeBedrock
) -> None:
    """Cohere's body is not read, but every InvokeModel answer carries Bedrock's token counts."""
    body = {"generation_id": "g-1", "text": "Hi", "finish_reason": "COMPLETE"}
    bedrock.json(
        "invoke",
        body,
        headers={"x-amzn-bedrock-input-token-count": "11", "x-amzn-bedrock-output-token-count": "4"},
    )
    result = bedrock.client().invoke_model(
        modelId="cohere.command-r-v1:0", body=json.dumps({"message": "hi"})
    )
    assert json.loads(result["body"].read()) == body
    values = attrs(cap.spans()[0])
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (11, 4)
    assert values["llmtrace.usage.source"] == "reported"


def test_errors_are_recorded_and_reraised(cap: CapturedSpans, bedrock: FakeBedrock) -> None:
    bedrock.json("converse", {"message": "Rate exceeded"}, status=429)
    client = bedrock.client()
    client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(ClientError):
        client.converse(modelId=HAIKU, messages=MESSAGES)
    spans = cap.spans()
    assert spans and all(attrs(s)["error.type"] == "ClientError" for s in spans)
    assert attrs(spans[-1])["http.response.status_code"] == 429


def test_other_aws_services_are_not_traced(cap: CapturedSpans, bedrock: FakeBedrock) -> None:
    bedrock.json(
        "converse", {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn"}
    )
    client = boto3.client(
        "bedrock",  # the control plane, not the runtime
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{bedrock.server.server_port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert client.list_foundation_models()["modelSummaries"] == []
    assert cap.spans() == []


def test_uninstrument_restores_botocore() -> None:
    original = BaseClient.__dict__["_make_api_call"]
    with llmtrace.testing.capture():
        assert isinstance(BaseClient.__dict__["_make_api_call"], _common.LlmtraceWrapper)
    assert BaseClient.__dict__["_make_api_call"] is original


def chunk_events(chunks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``invoke_model_with_response_stream`` events: each a ``chunk`` whose blob is one JSON event."""
    return [("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()}) for c in chunks]


METRICS = "amazon-bedrock-invocationMetrics"
STREAM_BODIES = [
    (
        HAIKU,
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        },
        [
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-3-haiku-20240307",
                    "content": [],
                    "usage": {"input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 1},
                },
            },
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
            {"type": "message_stop", METRICS: {"inputTokenCount": 12, "outputTokenCount": 4}},
        ],
        (112, 4, 100, "Hi there", "end_turn"),
    ),
    (
        "meta.llama3-8b-instruct-v1:0",
        {"prompt": "hi", "max_gen_len": 50},
        [
            {"generation": "Hel", "prompt_token_count": 7, "generation_token_count": 1, "stop_reason": None},
            {
                "generation": "lo!",
                "prompt_token_count": None,
                "generation_token_count": 3,
                "stop_reason": "stop",
            },
        ],
        (7, 3, 0, "Hello!", "stop"),
    ),
    (
        "amazon.titan-text-express-v1",
        {"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 50}},
        [
            {"outputText": "How", "index": 0, "totalOutputTextTokenCount": 2, "completionReason": None},
            {
                "outputText": "dy",
                "index": 0,
                "totalOutputTextTokenCount": 5,
                "completionReason": "FINISH",
                METRICS: {"inputTokenCount": 3, "outputTokenCount": 5},
            },
        ],
        (3, 5, 0, "Howdy", "FINISH"),
    ),
    (
        "us.amazon.nova-lite-v1:0",
        {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"max_new_tokens": 50},
        },
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"text": " there"}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "end_turn"}},
            {
                "metadata": {
                    "usage": {"inputTokens": 12, "outputTokens": 4, "cacheReadInputTokenCount": 100}
                },
                METRICS: {"inputTokenCount": 12, "outputTokenCount": 4},
            },
        ],
        (112, 4, 100, "Hi there", "end_turn"),
    ),
]


@pytest.mark.parametrize(("model", "request_body", "chunks", "expected"), STREAM_BODIES)
def test_invoke_model_stream_reads_each_family_with_usage_and_cost(
    cap: CapturedSpans,
    bedrock: FakeBedrock,
    model: str,
    request_body: Any,
    chunks: list[dict[str, Any]],
    expected: Any,
) -> None:
    bedrock.stream("invoke-with-response-stream", chunk_events(chunks))
    result = bedrock.client().invoke_model_with_response_stream(modelId=model, body=json.dumps(request_body))
    assert cap.spans() == []  # open until the caller has read the stream
    received = [json.loads(event["chunk"]["bytes"]) for event in result["body"]]
    assert received == chunks  # the caller reads every chunk as it was sent
    (span,) = cap.spans()
    values = attrs(span)
    input_tokens, output_tokens, cached, text, reason = expected
    assert values["gen_ai.request.stream"] is True
    assert values["gen_ai.request.model"] == model
    assert values["gen_ai.request.max_tokens"] == 50
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (
        input_tokens,
        output_tokens,
    )
    assert values.get("gen_ai.usage.cache_read.input_tokens", 0) == cached
    assert values["llmtrace.usage.source"] == "reported"
    assert values["gen_ai.response.finish_reasons"] == (reason,)
    assert values["llmtrace.output.chars"] == len(text)
    assert values["llmtrace.ttft_ms"] > 0
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": text}]
    assert json.loads(values["gen_ai.input.messages"])[0]["parts"] == [{"type": "text", "content": "hi"}]
    if model == HAIKU or "nova" in model:
        assert values["llmtrace.cost.usd"] == pytest.approx(aws_cost(model, 112, 4, cached=100))


def test_a_nova_stream_with_nulls_keeps_its_outcome(cap: CapturedSpans, bedrock: FakeBedrock) -> None:
    """``null`` where an event's object, a text, a block index or a tool's input is due loses that
    value only: the text around it, the tool call, the reason and the usage are recorded."""
    nova = "us.amazon.nova-lite-v1:0"
    chunks = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": None},
        {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": None}},
        {"contentBlockDelta": {"delta": {"text": None}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": " there"}, "contentBlockIndex": 0}},
        {
            "contentBlockStart": {
                "start": {"toolUse": {"toolUseId": "t1", "name": "f"}},
                "contentBlockIndex": 1,
            }
        },
        {"contentBlockDelta": {"delta": {"toolUse": None}, "contentBlockIndex": 1}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"a": 1}'}}, "contentBlockIndex": 1}},
        {"contentBlockStart": None},
        {"messageStop": {"stopReason": "tool_use"}},
        {"metadata": {"usage": {"inputTokens": 12, "outputTokens": 4}}},
    ]
    bedrock.stream("invoke-with-response-stream", chunk_events(chunks))
    result = bedrock.client().invoke_model_with_response_stream(
        modelId=nova, body=json.dumps({"messages": []})
    )
    assert [json.loads(event["chunk"]["bytes"]) for event in result["body"]] == chunks
    values = attrs(cap.spans()[0])
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (12, 4)
    assert values["llmtrace.cost.usd"] == pytest.approx(aws_cost(nova, 12, 4))
    assert values["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "Hi there"},
        {"type": "tool_call", "id": "t1", "name": "f", "arguments": {"a": 1}},
    ]


def test_invoke_model_stream_tool_use_and_an_abandoned_stream(
    cap: CapturedSpans, bedrock: FakeBedrock
) -> None:
    chunks = [
        {
            "type": "message_start",
            "message": {"id": "msg_2", "model": "claude-3-haiku", "usage": {"input_tokens": 9}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "get_weather"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}},
    ]
    bedrock.stream("invoke-with-response-stream", chunk_events(chunks))
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    result = bedrock.client().invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
    assert len(list(result["body"])) == len(chunks)
    (span,) = cap.spans()
    assert json.loads(attrs(span)["llmtrace.tool_calls"]) == [
        {"id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("tool_use",)

    cap.clear()
    result = bedrock.client().invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
    next(iter(result["body"]))
    result["body"].close()  # the caller stops reading
    (span,) = cap.spans()
    assert attrs(span)["llmtrace.status"] == "cancelled"
