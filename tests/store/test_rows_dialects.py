"""Dialect shapes that the installed instrumentations do not produce, mapped by llmtrace.store.rows.

OpenLLMetry 0.45 cannot be installed beside 0.62 (nor beside OpenTelemetry 1.45, whose API it
predates), so its spans are built here from its own conventions (opentelemetry-semantic-
conventions-ai 0.4.16: ``gen_ai.prompt.N.*``, ``gen_ai.completion.N.finish_reason``,
``llm.request.type``, ``gen_ai.usage.prompt_tokens``, ``gen_ai.system = "Anthropic"``). The
installed instrumentations are tested end to end in tests/server/test_dialects.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from llmtrace._internal import semconv as sc
from llmtrace.store.dialects import event_content
from llmtrace.store.rows import SpanRecord, span_to_row

NOW = time.time_ns()
TEXT = {"type": "text"}


def record(attributes: dict[str, Any], **kw: Any) -> SpanRecord:
    base: dict[str, Any] = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "name": "openai.chat",
        "start_ns": NOW - 1_500_000_000,
        "end_ns": NOW,
        "attributes": attributes,
        "resource": {sc.SERVICE_NAME: "bot"},
    }
    base.update(kw)
    return SpanRecord(**base)


def test_openllmetry_045_chat_with_a_tool_call() -> None:
    row = span_to_row(
        record(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "llm.is_streaming": False,
                "gen_ai.usage.prompt_tokens": 1000,
                "gen_ai.usage.completion_tokens": 200,
                "llm.usage.total_tokens": 1200,
                "gen_ai.usage.cache_read_input_tokens": 800,
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": "Be brief",
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": "Weather in Paris?",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.finish_reason": "tool_calls",
                "gen_ai.completion.0.tool_calls.0.id": "call_1",
                "gen_ai.completion.0.tool_calls.0.name": "get_weather",
                "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
            }
        )
    )
    expected = {
        "kind": "llm",
        "provider": "openai",
        "operation": "chat",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cached_input_tokens": 800,
        "finish_reason": "tool_call",
        "status": "ok",
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["input"]) == [
        {"role": "system", "parts": [{**TEXT, "content": "Be brief"}]},
        {"role": "user", "parts": [{**TEXT, "content": "Weather in Paris?"}]},
    ]
    assert json.loads(row["output"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert row["attributes"] == {"llm.is_streaming": "false", "llm.usage.total_tokens": "1200"}


def test_openllmetry_045_anthropic_and_request_types() -> None:
    anthropic = span_to_row(
        record(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "Anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                "gen_ai.usage.prompt_tokens": 5100,
                "gen_ai.usage.completion_tokens": 20,
                "gen_ai.usage.cache_read_input_tokens": 4000,
                "gen_ai.usage.cache_creation_input_tokens": 1000,
                "gen_ai.completion.0.content": "Hi there",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.finish_reason": "end_turn",
            },
            name="anthropic.chat",
        )
    )
    assert (anthropic["provider"], anthropic["finish_reason"], anthropic["cache_write_tokens"]) == (
        "anthropic",
        "stop",
        1000,
    )
    completion = span_to_row(record({"llm.request.type": "completion", "gen_ai.request.model": "m"}))
    embedding = span_to_row(record({"llm.request.type": "embedding", "gen_ai.request.model": "m"}))
    assert (completion["kind"], completion["operation"]) == ("llm", "text_completion")
    assert (embedding["kind"], embedding["operation"]) == ("embedding", "embeddings")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (["stop"], "stop"),
        ('["stop"]', "stop"),  # Logfire: a JSON string
        ("end_turn", "stop"),
        (("max_tokens",), "length"),
        ("tool_use", "tool_call"),
        (["tool_calls", "length"], "tool_call,length"),
        ("refusal", "content_filter"),
        ("FinishReason.SAFETY", "content_filter"),
        ("pause_turn", "pause_turn"),  # unknown: kept
    ],
)
def test_finish_reasons_share_one_vocabulary(sent: Any, stored: str) -> None:
    row = span_to_row(record({"gen_ai.request.model": "m", "gen_ai.response.finish_reasons": sent}))
    assert row["finish_reason"] == stored


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("<class 'openai.RateLimitError'>", "RateLimitError"),  # the official instrumentation
        ("openai.RateLimitError", "RateLimitError"),
        ("RateLimitError", "RateLimitError"),
        ("429", "429"),
        ("_OTHER", "_OTHER"),
        ("timeout", "timeout"),
    ],
)
def test_error_types_are_class_names(sent: str, stored: str) -> None:
    row = span_to_row(record({"gen_ai.request.model": "m", "error.type": sent}, status_code="error"))
    assert (row["status"], row["error_type"]) == ("error", stored)


def test_exception_event_type_is_a_class_name_too() -> None:
    event = ("exception", {"exception.type": "anthropic.APIStatusError", "exception.message": "boom"})
    row = span_to_row(record({"gen_ai.request.model": "m"}, status_code="error", events=[event]))
    assert (row["error_type"], row["error_message"]) == ("APIStatusError", "boom")


def test_request_model_falls_back_to_invocation_parameters_then_the_response_model() -> None:
    failed = span_to_row(
        record({"openinference.span.kind": "LLM", "llm.invocation_parameters": '{"model": "gpt-4o"}'})
    )
    assert (failed["kind"], failed["operation"], failed["request_model"]) == ("llm", "chat", "gpt-4o")
    assert "llm.invocation_parameters" in failed["attributes"]  # the other parameters stay readable
    only_response = span_to_row(record({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-x"}))
    assert (only_response["request_model"], only_response["response_model"]) == ("gpt-4o-x", "gpt-4o-x")
    broken = span_to_row(record({"openinference.span.kind": "LLM", "llm.invocation_parameters": "{not json"}))
    assert broken["request_model"] == ""


def test_openinference_completions_and_embedding_vectors() -> None:
    row = span_to_row(
        record(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-3.5-turbo-instruct",
                "llm.prompts.0.prompt.text": "Say hi",
                "input.value": '{"prompt": "Say hi"}',
            }
        )
    )
    assert row["operation"] == "text_completion"
    assert json.loads(row["input"]) == [{"role": "user", "parts": [{**TEXT, "content": "Say hi"}]}]
    embedding = span_to_row(
        record(
            {
                "openinference.span.kind": "EMBEDDING",
                "embedding.model_name": "text-embedding-3-small",
                "embedding.embeddings.0.embedding.text": "hello",
                "embedding.embeddings.0.embedding.vector": [0.1, 0.2],
            }
        )
    )
    assert (embedding["kind"], embedding["operation"], embedding["request_model"]) == (
        "embedding",
        "embeddings",
        "text-embedding-3-small",
    )
    assert embedding["attributes"] == {"embedding.embeddings.0.embedding.text": "hello"}  # vector dropped


def test_openinference_first_token_event_gives_ttft() -> None:
    start = NOW - 1_000_000_000
    events = [("First Token Stream Event", {})]
    row = span_to_row(
        record(
            {"openinference.span.kind": "LLM", "llm.model_name": "m"},
            start_ns=start,
            events=events,
            event_times=[start + 250_000_000],
        )
    )
    assert row["ttft_ms"] == 250.0 and row["status"] == "ok"
    assert span_to_row(record({"llm.model_name": "m"}, events=events))["ttft_ms"] is None  # no time sent


def test_system_instructions_lead_the_input() -> None:
    user = [{"role": "user", "parts": [{**TEXT, "content": "hi"}]}]
    system = [{**TEXT, "content": "Be brief"}]
    row = span_to_row(
        record(
            {
                "gen_ai.request.model": "m",
                "gen_ai.system_instructions": json.dumps(system),
                "gen_ai.input.messages": json.dumps(user),
            }
        )
    )
    assert json.loads(row["input"]) == [{"role": "system", "parts": system}, *user]
    assert "gen_ai.system_instructions" not in row["attributes"]
    plain = span_to_row(record({"gen_ai.request.model": "m", "gen_ai.system_instructions": "Be brief"}))
    assert json.loads(plain["input"]) == [{"role": "system", "parts": system}]


def test_logfire_reasoning_tokens_from_raw_usage() -> None:
    raw = {"completion_tokens": 200, "completion_tokens_details": {"reasoning_tokens": 50}}
    row = span_to_row(
        record(
            {
                "gen_ai.request.model": "o3",
                "gen_ai.usage.output_tokens": 200,
                "gen_ai.usage.raw": json.dumps(raw),
            }
        )
    )
    assert row["reasoning_tokens"] == 50
    responses = {"output_tokens_details": {"reasoning_tokens": 7}}
    row = span_to_row(
        record(
            {
                "gen_ai.request.model": "o3",
                "gen_ai.usage.output_tokens": 9,
                "gen_ai.usage.raw": json.dumps(responses),
            }
        )
    )
    assert row["reasoning_tokens"] == 7


@pytest.mark.parametrize(("one_hour", "searches"), [(0, 0), (2000, 0), (0, 3), (2000, 3), (3000, 1)], ids=str)
def test_logfire_anthropic_call_is_priced_with_its_one_hour_cache_writes_and_web_searches(
    one_hour: int, searches: int
) -> None:
    """Anthropic bills cache writes kept an hour at twice the input rate (1.25x for five minutes)
    and web searches at $10 per 1,000; no GenAI attribute carries either, only Logfire's raw
    usage. A Logfire span (its attributes as Logfire 5.4 makes them from a real Anthropic
    ``Message`` and sends them) costs what Logfire's own genai-prices figure says."""
    from anthropic.types import Message, TextBlock, Usage
    from logfire._internal.integrations.llm_providers.anthropic import get_anthropic_usage_attributes
    from logfire._internal.main import prepare_otlp_attributes

    usage = Usage.model_validate(
        {
            "input_tokens": 1000,
            "output_tokens": 200,
            "cache_read_input_tokens": 500,
            "cache_creation_input_tokens": 3000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 3000 - one_hour,
                "ephemeral_1h_input_tokens": one_hour,
            },
            "server_tool_use": {"web_search_requests": searches, "web_fetch_requests": 0},
            "service_tier": "standard",
        }
    )
    message = Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5-20250929",
        content=[TextBlock(type="text", text="Hi")],
        stop_reason="end_turn",
        stop_sequence=None,
        usage=usage,
    )
    logfire = get_anthropic_usage_attributes(message, "https://api.anthropic.com")
    logfire_cost = logfire.pop("operation.cost")  # Logfire's: genai-prices over the whole response
    attributes = prepare_otlp_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": message.model,
            **logfire,
        }
    )
    assert type(attributes["gen_ai.usage.raw"]) is str  # sent as JSON text
    row = span_to_row(record(attributes))
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (4500, 500, 3000)
    assert row["cost_usd"] == pytest.approx(logfire_cost, rel=1e-9)
    without = span_to_row(record({k: v for k, v in attributes.items() if k != "gen_ai.usage.raw"}))
    assert (row["cost_usd"] > without["cost_usd"]) is bool(one_hour or searches)
    if searches:
        assert row["cost_usd"] - span_to_row(record(attributes | {"gen_ai.usage.raw": "{}"}))[
            "cost_usd"
        ] == pytest.approx(searches * 0.01 + one_hour * 3e-6 * (2 - 1.25))


def test_raw_usage_that_is_not_a_count_prices_nothing_extra() -> None:
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 4000,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_creation.input_tokens": 3000,
    }
    plain = span_to_row(record(base))["cost_usd"]
    for raw in (
        "not json",
        "[1, 2]",
        json.dumps({"server_tool_use": {"web_search_requests": -1}}),
        json.dumps({"server_tool_use": {"web_search_requests": "3"}}),
        json.dumps({"server_tool_use": [3], "cache_creation": {"ephemeral_1h_input_tokens": 2.5}}),
        json.dumps({"server_tool_use": {"web_search_requests": True}}),
    ):
        row = span_to_row(record({**base, "gen_ai.usage.raw": raw}))
        assert row["cost_usd"] == plain, raw
        assert row["attributes"]["gen_ai.usage.raw"] == raw  # kept as sent
    # one-hour writes beyond the cache writes do not add up: genai-prices decides (and refuses)
    over = json.dumps({"cache_creation": {"ephemeral_1h_input_tokens": 3001}})
    assert span_to_row(record({**base, "gen_ai.usage.raw": over}))["cost_usd"] is None


def test_a_gemini_thinking_call_counts_its_thoughts_whoever_traced_it() -> None:
    """Gemini bills a thinking call's thoughts as output. OpenLLMetry sends the answer's tokens
    alone as output (and the total, which counts the thoughts), OpenInference the answer's and the
    thoughts: the same call, traced by the real instrumentations, is the same row, priced with
    its thoughts (at ~3.5 times what the answer's tokens alone cost)."""
    from integrations.dialects import calls

    from llmtrace._internal.backends import span_record
    from llmtrace._internal.pricing import PriceBook

    rows = {name: span_to_row(span_record(s)) for name, s in calls.gemini_thinking_call_spans().items()}
    book = PriceBook()
    priced = book.cost_usd(
        provider="gcp.gemini",
        model="gemini-2.5-flash",
        input_tokens=1000,
        output_tokens=1000,
        reasoning_tokens=800,
    )
    answer_only = book.cost_usd(
        provider="gcp.gemini", model="gemini-2.5-flash", input_tokens=1000, output_tokens=200
    )
    assert priced is not None and answer_only is not None and priced > 3 * answer_only
    for name, row in rows.items():
        got = {
            f: row[f] for f in ("kind", "input_tokens", "output_tokens", "reasoning_tokens", "response_model")
        }
        assert got == {
            "kind": "llm",
            "input_tokens": 1000,
            "output_tokens": 1000,
            "reasoning_tokens": 800,
            "response_model": "gemini-2.5-flash",
        }, name
        assert row["cost_usd"] == pytest.approx(priced, rel=1e-9), name
        [answer] = json.loads(row["output"])  # Gemini's "model" role (OpenInference's) as the assistant
        assert (answer["role"], answer["parts"]) == ("assistant", [{"type": "text", "content": "Hi"}]), name
    # OpenLLMetry's gen_ai.provider.name and OpenInference's llm.provider ("google"): one name
    assert rows["openllmetry"]["provider"] == rows["openinference"]["provider"] == "gcp.gen_ai"


@pytest.mark.parametrize(
    ("usage", "provider", "output", "reasoning"),
    [
        ({"gen_ai.usage.total_tokens": 2000}, "gcp.gen_ai", 1000, 800),
        ({"llm.usage.total_tokens": 2000}, "gcp.vertex_ai", 1000, 800),
        ({"gen_ai.usage.total_tokens": 1200}, "gcp.gen_ai", 200, 0),  # no thoughts
        ({"gen_ai.usage.total_tokens": 1100}, "gcp.gen_ai", 200, 0),  # less than input + output: as sent
        ({"gen_ai.usage.total_tokens": 2000.0}, "gcp.gen_ai", 200, 0),  # not a count
        ({"gen_ai.usage.total_tokens": 2000}, "openai", 200, 0),  # only Gemini's total counts thoughts
        ({"gen_ai.usage.total_tokens": 2000, "gen_ai.usage.reasoning_tokens": 800}, "gcp.gen_ai", 1000, 800),
        ({}, "gcp.gen_ai", 200, 0),
        ({"gen_ai.usage.total_tokens": 2000, "gen_ai.usage.input_tokens": None}, "gcp.gen_ai", 200, 0),
    ],
)
def test_gemini_thoughts_left_out_of_output_are_the_total_beyond_input_and_output(
    usage: dict[str, Any], provider: str, output: int, reasoning: int
) -> None:
    row = span_to_row(
        record(
            {
                "gen_ai.operation.name": "generate_content",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": "gemini-2.5-flash",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 200,
                **usage,
            }
        )
    )
    input_tokens = 0 if "gen_ai.usage.input_tokens" in usage else 1000  # (no input: not a difference)
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (
        input_tokens,
        output,
        reasoning,
    )
    assert {k: v for k, v in row["attributes"].items() if "total" in k} == {
        k: str(v) for k, v in usage.items() if "total" in k
    }


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ({"llm.provider": "google"}, "gcp.gen_ai"),  # OpenInference
        ({"llm.provider": "aws"}, "aws.bedrock"),
        ({"llm.provider": "azure"}, "azure.ai.openai"),
        ({"llm.provider": "xai"}, "x_ai"),
        ({"gen_ai.system": "MistralAI"}, "mistral_ai"),  # OpenLLMetry 0.45, lowercased first
        ({"gen_ai.system": "VertexAI"}, "gcp.vertex_ai"),
        ({"gen_ai.system": "gemini"}, "gcp.gemini"),  # Google's own instrumentation
        ({"gen_ai.provider.name": "aws.bedrock"}, "aws.bedrock"),
        ({"llm.provider": "openai"}, "openai"),
        ({"gen_ai.system": "Anthropic"}, "anthropic"),
        ({"llm.provider": "groq"}, "groq"),  # not an alias: its own name
    ],
)
def test_provider_names_are_the_well_known_ones_whoever_sent_them(sent: dict[str, str], stored: str) -> None:
    """One provider is one name in every group-by and price lookup, whichever instrumentation
    named it: OpenInference's ``llm.provider`` and older ``gen_ai.system`` values become the
    OTel well-known ``gen_ai.provider.name`` (the aliases llmtrace's framework integrations use)."""
    row = span_to_row(record({"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1, **sent}))
    assert row["provider"] == stored


def test_logfire_stream_log_is_the_call_and_its_request_half_is_not() -> None:
    common = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
    }
    request_half = span_to_row(
        record({**common, "logfire.span_type": "span", "gen_ai.response.model": "gpt-4o"})
    )
    assert request_half["kind"] == "span"
    log = span_to_row(
        record(
            {**common, "logfire.span_type": "log", "duration": 0.38, "gen_ai.usage.input_tokens": 10},
            start_ns=NOW,
            end_ns=NOW,
        )
    )
    assert log["kind"] == "llm" and log["duration_ms"] == pytest.approx(380.0, abs=0.01)
    assert log["start_time"] < log["end_time"]
    failed = span_to_row(record({**common, "logfire.span_type": "span"}, status_code="error"))
    assert failed["kind"] == "llm"  # a call that failed before any stream is still a call


def test_event_content_of_current_and_older_genai_events() -> None:
    details = event_content(
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief"}],
            "gen_ai.input.messages": ({"role": "user", "parts": ({"type": "text", "content": "hi"},)},),
            "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}],
        },
        None,
    )
    assert details is not None
    assert [m["role"] for m in json.loads(details[0])] == ["system", "user"]
    assert json.loads(details[1])[0]["parts"][0]["content"] == "yo"
    user = event_content("gen_ai.user.message", {}, {"content": "hi"})
    assert user == (json.dumps([{"role": "user", "parts": [{**TEXT, "content": "hi"}]}]), "")
    choice = event_content(
        "gen_ai.choice", {}, {"index": 0, "finish_reason": "end_turn", "message": {"content": "yo"}}
    )
    assert choice is not None and json.loads(choice[1]) == [
        {"role": "assistant", "parts": [{**TEXT, "content": "yo"}], "finish_reason": "stop"}
    ]
    assert event_content("app.log", {}, "hello") is None
